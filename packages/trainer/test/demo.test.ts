import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SessionSchema } from '@gopo/dialogue';
import { describe, expect, it } from 'vitest';
import { DemoOptionsSchema, formatDemoTable, runDemo } from '../src/commands/demo.js';

describe('gopo demo', () => {
  it('simulates, scores and ranks the oracle above random on every headline metric', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gopo-demo-'));
    const opts = DemoOptionsSchema.parse({
      scenarios: 60,
      runDir: dir,
      resamples: 200,
      policies: ['oracle', 'random'],
    });
    const rows = await runDemo(opts, 3, () => {});
    const value = (policy: string, name: string) =>
      rows.find((r) => r.policy === policy)!.metrics.find((m) => m.name === name)!.value;
    for (const m of ['tse', 'gre', 'success_rate', 'sop_compliance']) {
      expect(value('oracle', m), m).toBeGreaterThan(value('random', m));
    }
    for (const r of rows) {
      for (const m of r.metrics)
        if (!Number.isNaN(m.value)) expect(m.low).toBeLessThanOrEqual(m.value + 1e-9);
    }
    // The logs it wrote are valid Mgshop-style sessions, and the results file matches what it returned.
    const line = readFileSync(path.join(dir, 'demo', 'oracle.jsonl'), 'utf8').split('\n')[0]!;
    expect(SessionSchema.safeParse(JSON.parse(line)).success).toBe(true);
    expect(JSON.parse(readFileSync(path.join(dir, 'demo', 'results.json'), 'utf8'))).toHaveLength(2);
    const table = formatDemoTable(rows);
    expect(table.split('\n')[0]).toMatch(/^policy\s+sessions\s+tse\s+esndcg\s+gre/);
    expect(table).toMatch(/\noracle\s+60\s+/);
  });
});
