/**
 * compareScored's clusters: a scenario evaluated under several seeds is one unit of the bootstrap.
 * Invariant: tripling every session (three identical "seeds") and clustering the copies gives exactly
 * the comparison of the original sessions, while counting the copies as independent narrows the
 * interval for no new information.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MetricsConfigSchema } from '../config.js';
import { compareScored, type ScoredFile, scoreFile, scoringContext, selectMetrics } from './evaluate.js';
import { ScoreTable } from './score-table.js';

const fixtures = path.join(import.meta.dirname, '..', '..', 'test', 'fixtures');

/** Every session three times, as `<id>/r0..r2`. */
function tripled(f: ScoredFile): ScoredFile {
  const W = f.table.width;
  const table = new ScoreTable(W);
  const ids = new Map<string, number>();
  for (const [id, row] of f.ids!)
    for (let k = 0; k < 3; k++) {
      const o = table.addRow(f.table.group[row]!);
      table.num.set(f.table.num.subarray(row * W, row * W + W), o);
      table.den.set(f.table.den.subarray(row * W, row * W + W), o);
      ids.set(`${id}/r${k}`, table.rows - 1);
    }
  return { ...f, table, ids };
}

describe('compareScored clusters', () => {
  it('merges the sessions of a cluster into one bootstrap unit', async () => {
    const config = MetricsConfigSchema.parse({ bootstrap: { resamples: 400 } });
    const metrics = selectMetrics(config);
    const ctx = scoringContext(config);
    const a = await scoreFile(path.join(fixtures, 'logs.jsonl'), metrics, ctx, { keepIds: true });
    const b = await scoreFile(path.join(fixtures, 'logs-b.jsonl'), metrics, ctx, { keepIds: true });
    const plain = compareScored(a, b, metrics, config, 7);
    const clusterOf = (id: string) => id.replace(/\/r\d$/, '');
    const clustered = compareScored(tripled(a), tripled(b), metrics, config, 7, { clusterOf });
    const naive = compareScored(tripled(a), tripled(b), metrics, config, 7);
    expect([plain.paired, plain.units]).toEqual([4, 4]);
    expect([clustered.paired, clustered.units]).toEqual([12, 4]);
    expect([naive.paired, naive.units]).toEqual([12, 12]);
    // Equal up to rounding: a unit's sums are three times the session's.
    for (const [j, m] of plain.metrics.entries()) {
      const c = clustered.metrics[j]!;
      expect(c.name).toBe(m.name);
      for (const k of ['a', 'b', 'delta', 'low', 'high', 'pValue'] as const)
        expect(c[k], `${m.name}.${k}`).toBeCloseTo(m[k], 9);
    }
    const tse = (c: typeof plain) => c.metrics.find((m) => m.name === 'tse')!;
    expect(tse(naive).delta).toBeCloseTo(tse(plain).delta, 9);
    expect(tse(naive).high - tse(naive).low).toBeLessThan(tse(plain).high - tse(plain).low);
  });
});
