import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '@gopo/trainer';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));

async function gopo(...argv: string[]): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...argv, '--quiet'], { out: (t) => out.push(t), err: (t) => err.push(t) });
  expect(code, `gopo ${argv.join(' ')}: ${err.join('\n')}`).toBe(0);
  return out.join('\n');
}

describe('example: shop-sop-ablation', () => {
  it('runs the documented commands and reproduces expected.md', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gopo-example-'));
    const oracle = path.join(dir, 'oracle.jsonl');
    const greedy = path.join(dir, 'greedy.jsonl');
    await gopo('simulate', '--scenarios', '200', '--policy', 'oracle', '--seed', '1', '--out', oracle);
    await gopo('simulate', '--scenarios', '200', '--policy', 'greedy', '--seed', '1', '--out', greedy);
    const report = await gopo(
      'eval',
      oracle,
      '--against',
      greedy,
      '--config',
      path.join(here, 'metrics.yaml'),
      '--format',
      'md',
    );
    // Paths differ per run; the golden file names the logs by their base names.
    const normalised = `${report.split(dir + path.sep).join('')}\n`;
    const expectedFile = path.join(here, 'expected.md');
    if (process.env.UPDATE_EXPECTED) writeFileSync(expectedFile, normalised);
    expect(normalised).toBe(readFileSync(expectedFile, 'utf8'));
    expect(normalised).toMatch(/\| tse \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \[[\d.]+, [\d.]+\] \| <0\.001 \|/);
  });
});
