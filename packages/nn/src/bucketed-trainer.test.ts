import { describe, expect, it } from 'vitest';
import { BucketedTrainer } from './bucketed-trainer.js';
import type { Graph, Tensor } from './graph.js';
import { linear } from './modules.js';
import { ParamStore } from './params.js';
import type { HostTensor } from './runtime.js';
import type { Batch } from './trainer.js';

/** Rows of `x` [bucket, 4] through a linear layer, mean squared distance to `y`; `w` weighs each row. */
const build = (bucket: number) => ({
  model: (g: Graph, x: Readonly<Record<string, Tensor>>) => {
    const d = g.sub(linear(g, 'fc', x.x!, 3), x.y!);
    return g.div(g.reduceSum(g.mul(g.reduceSum(g.mul(d, d), [1]), x.w!)), g.max(g.reduceSum(x.w!), 1));
  },
  spec: {
    x: { dtype: 'float32' as const, shape: [bucket, 4] },
    y: { dtype: 'float32' as const, shape: [bucket, 3] },
    w: { dtype: 'float32' as const, shape: [bucket] },
  },
});

const f32 = (dims: number[], f: (i: number) => number): HostTensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => f(i)),
});

/** `rows` real rows (seeded by `seed`) padded with weight-0 rows to `bucket`. */
function batch(seed: number, rows: number, bucket: number, nan = false): Batch {
  return {
    x: f32([bucket, 4], (i) => (i < rows * 4 ? Math.sin(seed * 7 + i) : 0)),
    y: f32([bucket, 3], (i) => (i < rows * 3 ? Math.cos(seed * 3 + i) : 0)),
    w: f32([bucket], (i) => (nan ? Number.NaN : i < rows ? 1 : 0)),
  };
}

const config = {
  lr: 0.05,
  clipNorm: null,
  optimizer: { kind: 'adamw' as const, weightDecay: 0 },
  intraOpThreads: 1,
};
const weights = (s: ParamStore) =>
  new Map([...s.entries()].map(([k, v]) => [k, Float32Array.from(v.data as Float32Array)]));
describe('BucketedTrainer', () => {
  it('is one optimizer over its buckets, and undoes a non-finite step bit for bit after they alternate', async () => {
    const mixed = new BucketedTrainer(build, config, new ParamStore(), 8);
    const padded = new BucketedTrainer(build, config, new ParamStore(), 8);
    const plan = [4, 8, 4, 8, 4];
    for (const [k, bucket] of plan.entries()) {
      const a = await mixed.step(bucket, batch(k, 3, bucket));
      const b = await padded.step(8, batch(k, 3, 8));
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
    }
    expect(mixed.steps).toBe(5);
    for (const bucket of [8, 8, 4]) {
      const before = weights(mixed.store);
      const r = await mixed.step(bucket, batch(9, 3, bucket, true));
      expect(r.rolledBack).toBe(true);
      expect(weights(mixed.store)).toEqual(before);
      expect(mixed.steps).toBe(5);
    }
    await mixed.step(8, batch(6, 3, 8));
    await padded.step(8, batch(6, 3, 8));
    const other = weights(padded.store);
    for (const [name, w] of weights(mixed.store))
      for (let j = 0; j < w.length; j++)
        expect(Math.abs(w[j]! - other.get(name)![j]!), name).toBeLessThan(1e-5);
  });
});
