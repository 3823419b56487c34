import { describe, expect, it } from 'vitest';
import type { SftExample } from './data.js';
import { DataPlan, SftConfigSchema } from './sft.js';

const examples: SftExample[] = Array.from({ length: 40 }, (_, i) => ({
  ids: Array.from({ length: 5 + (i % 7) }, (_, k) => 10 + ((i + k) % 50)),
  mask: Array.from({ length: 5 + (i % 7) }, (_, k) => (k > 1 ? 1 : 0)),
  source: `ex-${i}`,
}));

describe('DataPlan', () => {
  it('packs each epoch once however many epochs a run walks through', () => {
    const c = SftConfigSchema.parse({
      data: { train: ['x.jsonl'] },
      model: { dir: 'model' },
      seqLen: 16,
      microBatchSize: 2,
      maxSteps: 200,
    });
    const plan = new DataPlan(examples, c, 0);
    const perEpoch = [0, 1, 2, 3].map((e) => plan.stepsIn(e));
    const total = perEpoch.reduce((a, b) => a + b, 0);
    const packs = plan.packs;
    expect(packs).toBe(4);
    const epochs: number[] = [];
    for (let s = 0; s < total; s++) epochs.push(plan.batches(s).epoch);
    // Walking every step of four epochs (two epochs' rows kept at a time) repacks nothing it has
    // already counted: each epoch is packed again at most once, when its rows were evicted.
    expect(plan.packs - packs).toBeLessThanOrEqual(4);
    expect(epochs.filter((e) => e === 3)).toHaveLength(perEpoch[3]!);
    // The same step gives the same rows whether or not its epoch was evicted in between.
    const again = new DataPlan(examples, c, 0);
    const s = perEpoch[0]! + 1;
    expect(again.batches(s).batches[0]!.ids).toEqual(plan.batches(s).batches[0]!.ids);
  });
});
