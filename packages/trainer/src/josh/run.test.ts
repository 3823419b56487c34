import { describe, expect, it } from 'vitest';
import { JoshConfigSchema } from './config.js';
import { seedStat } from './evaluate.js';
import { joshReport } from './run.js';

describe('josh evaluation summary', () => {
  it('gives the mean and a 95% t-interval over seeds (hand-computed)', () => {
    // mean 0.5, sd 0.1, n 3: half width 4.303 * 0.1 / sqrt(3) = 0.24843
    const s = seedStat([0.4, 0.5, 0.6]);
    expect(s.mean).toBeCloseTo(0.5, 12);
    expect(s.high - s.mean).toBeCloseTo(0.248434, 5);
    expect(s.mean - s.low).toBeCloseTo(0.248434, 5);
    expect(seedStat([0.7])).toEqual({ mean: 0.7, low: 0.7, high: 0.7, perSeed: [0.7] });
  });

  it('writes one table row per agent', () => {
    const c = JoshConfigSchema.parse({ goals: { train: 2, eval: 1 }, eval: { seeds: [1] } });
    const stat = seedStat([1]);
    const md = joshReport(
      'toolwoz',
      c,
      {
        goals: 2,
        successes: 1,
        outcomes: { success: 1, exhausted: 1 },
        expansions: 9,
        sftRecords: 4,
        ktoDesirable: 4,
        ktoUndesirable: 2,
      },
      [{ agent: 'josh-sft', averageReward: stat, fullSuccessRate: stat, malformedRate: 0.25 }],
    );
    expect(md).toContain('| josh-sft | 1.000 [1.000, 1.000] | 100.0% [100.0%, 100.0%] | 25.0% |');
  });

  it('refuses unknown keys and a model.dir beside an lm agent', () => {
    expect(() => JoshConfigSchema.parse({ search: { width: 3 } })).toThrow();
    expect(() => JoshConfigSchema.parse({ agent: { kind: 'lm', model: 'a' }, model: { dir: 'b' } })).toThrow(
      /model.dir|leave/,
    );
  });
});
