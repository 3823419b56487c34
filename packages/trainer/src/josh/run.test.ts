import { createRegistry, silentLogger } from '@gopo/core';
import type { ToolAgent } from '@gopo/dialogue';
import { trialSeed } from '@gopo/envs';
import { describe, expect, it } from 'vitest';
import { JoshConfigSchema } from './config.js';
import { evaluate, seedStat } from './evaluate.js';
import { joshReport } from './run.js';
import type { JoshTask } from './tasks.js';

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
      [{ agent: 'josh-sft', averageReward: stat, fullSuccessRate: stat, passHatK: [1], malformedRate: 0.25 }],
    );
    expect(md).toContain('| agent | average reward | 100% success rate | pass^1 | malformed steps |');
    expect(md).toContain('| josh-sft | 1.000 [1.000, 1.000] | 100.0% [100.0%, 100.0%] | 1.000 | 25.0% |');
  });

  it('refuses unknown keys and a model.dir beside an lm agent', () => {
    expect(() => JoshConfigSchema.parse({ search: { width: 3 } })).toThrow();
    expect(() => JoshConfigSchema.parse({ agent: { kind: 'lm', model: 'a' }, model: { dir: 'b' } })).toThrow(
      /model.dir|leave/,
    );
  });
});

describe('josh evaluation pass^k', () => {
  it('counts each seed as one trial per held-out goal (hand-computed)', async () => {
    // Goal a succeeds under both seeds, goal b only under seed 1: per seed the 100% success rates are
    // 1 and 0.5; pass^1 = (1 + 1/2) / 2 = 0.75, pass^2 = (1 + 0) / 2 = 0.5.
    const succeeds = new Set([trialSeed(1, 0, 0), trialSeed(2, 0, 0), trialSeed(1, 0, 1)]);
    let reward = 0;
    const env = {
      name: 'fake',
      done: true,
      reset: (_item: string, seed: number) => {
        reward = succeeds.has(seed) ? 1 : 0;
        return { role: 'user', content: 'hi' };
      },
      view: () => ({ system: '', tools: [], messages: [] }),
      step: () => {
        throw new Error('the episode is over at once');
      },
      privileged: () => undefined,
      episode: () => ({ reward }),
    } as unknown as JoshTask<undefined, string>['env'];
    const task: JoshTask<undefined, string> = {
      env,
      train: [],
      heldOut: [
        { id: 'a', item: 'a' },
        { id: 'b', item: 'b' },
      ],
      policies: createRegistry('policy', {}),
    };
    const agent = {
      name: 'x',
      act: async () => ({ action: { kind: 'reply', text: '' } }),
    } as unknown as ToolAgent;
    const [r] = await evaluate(
      task,
      [1, 2],
      [{ name: 'x', lm: false, policy: { name: 'x', create: () => agent } }],
      silentLogger(),
    );
    expect(r!.fullSuccessRate.perSeed).toEqual([1, 0.5]);
    expect(r!.passHatK).toEqual([0.75, 0.5]);
  });
});
