import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runExperiment } from './experiment.js';

describe('example: mgshop-gopo', () => {
  it('runs the experiment end to end on a tiny budget and writes its table', async () => {
    const runsDir = mkdtempSync(path.join(tmpdir(), 'gopo-mgshop-'));
    const r = await runExperiment({ seeds: [1, 2], evalScenarios: 6, runsDir, smoke: true, quiet: true });
    for (const method of [
      'uniform (admissible)',
      'history agents (the logs)',
      'SFT warm start',
      'GOPO',
      'oracle (reference)',
    ])
      expect(r.table).toContain(`| ${method} |`);
    expect(existsSync(path.join(runsDir, 'seed-1', 'agent', 'expert.json'))).toBe(true);
    const results = JSON.parse(readFileSync(path.join(runsDir, 'results.json'), 'utf8'));
    expect(results.results).toHaveLength(5);
    for (const m of results.results) expect(m.perSeed).toHaveLength(2);
    // The oracle is the reference the other rows are read against: it leads on ESNDCG by construction.
    const es = (name: string) =>
      results.results.find((m: { name: string }) => m.name === name).metrics.esndcg.mean;
    expect(es('oracle (reference)')).toBe(100);
    // A second run reuses the finished training runs (resumable) and reproduces the table.
    const again = await runExperiment({ seeds: [1, 2], evalScenarios: 6, runsDir, smoke: true, quiet: true });
    expect(again.table).toBe(r.table);
  }, 600_000);
});
