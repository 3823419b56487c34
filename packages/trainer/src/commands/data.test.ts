import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DATA_FILES, resolveDataDir } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import { describe, expect, it } from 'vitest';
import { dataCommand } from './data.js';

describe('gopo data check <dir>', () => {
  it('lists every file with its sha256 status, what is missing and where to get it; exit 2', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-data-'));
    await fs.mkdir(path.join(dir, 'taubench_retail'), { recursive: true });
    await fs.writeFile(path.join(dir, 'taubench_retail', 'products.json'), '[]');
    const { ctx, output } = testCliContext();
    const code = await dataCommand.run(
      { action: 'check', dir, dataset: ['taubench_retail'], format: 'text' },
      ctx,
    );
    expect(code).toBe(2);
    const text = output.join('\n');
    expect(text).toContain(`data directory: ${dir}`);
    expect(text).toMatch(/taubench_retail +0\/6 ok/);
    expect(text).toMatch(
      /mismatch taubench_retail\/products\.json {2}sha256 [0-9a-f]{64}, expected a9eabcc1/,
    );
    expect(text).toContain('missing  taubench_retail/tasks/tasks_dev.json');
    expect(text).toContain('get taubench_retail from github.com/sierra-research/tau-bench');
    expect(output.at(-1)).toBe('6 of 6 files missing or different');
    await fs.rm(dir, { recursive: true });
  });

  it.skipIf(!resolveDataDir())('passes on the shared data directory, every file listed as ok', async () => {
    const { ctx, output } = testCliContext();
    const code = await dataCommand.run({ action: 'check', dir: resolveDataDir()!, format: 'text' }, ctx);
    expect(code).toBe(0);
    expect(output.filter((l) => /^ {4}ok +/.test(l))).toHaveLength(DATA_FILES.length);
  });
});
