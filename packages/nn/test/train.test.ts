import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../src/export.js';
import type { Graph, ParamSpec, Tensor } from '../src/graph.js';
import { crossEntropy, mse } from '../src/losses.js';
import { dropout, linear, transformerLM } from '../src/modules.js';
import { warmupCosine } from '../src/optim.js';
import { ParamStore } from '../src/params.js';
import { type HostTensor, runOnnxFile, sessionCacheSize } from '../src/runtime.js';
import { assertAllClose } from '../src/testing.js';
import {
  type Batch,
  Forward,
  randomInput,
  type StepResult,
  Trainer,
  type TrainerSnapshot,
  updateGroups,
} from '../src/trainer.js';

const f32 = (dims: number[], fn: (i: number) => number): HostTensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((p, d) => p * d, 1) }, (_, i) => fn(i)),
});
const i64 = (dims: number[], fn: (i: number) => number): HostTensor => ({
  dtype: 'int64',
  dims,
  data: BigInt64Array.from({ length: dims.reduce((p, d) => p * d, 1) }, (_, i) => BigInt(fn(i))),
});

const mlpModel = (g: Graph, b: Readonly<Record<string, Tensor>>) => {
  const h = g.tanh(linear(g, 'fc1', b.x as Tensor, 16, { bias: true, initScale: 0.5 }));
  return mse(g, linear(g, 'fc2', h, 2, { bias: true, initScale: 0.5 }), b.y as Tensor);
};
const mlpSpec = { x: { dtype: 'float32', shape: [8, 3] }, y: { dtype: 'float32', shape: [8, 2] } } as const;
const mlpBatch: Batch = {
  x: f32([8, 3], (i) => Math.sin(i * 1.3)),
  y: f32([8, 2], (i) => Math.cos(i * 0.7) * 0.8),
};

const tiny = { vocabSize: 11, dModel: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, hidden: 32 };
const lmModel =
  (p = 0) =>
  (g: Graph, b: Readonly<Record<string, Tensor>>) => {
    const logits = transformerLM(g, b.ids as Tensor, tiny);
    const out = p > 0 ? dropout(g, logits, p, randomInput(g, logits.shape)) : logits;
    return { loss: crossEntropy(g, out, b.targets as Tensor), metrics: { logit_mean: g.reduceMean(logits) } };
  };
const lmSpec = {
  ids: { dtype: 'int64', shape: [2, 6] },
  targets: { dtype: 'int64', shape: [2, 6] },
} as const;
const lmBatch: Batch = {
  ids: i64([2, 6], (i) => (i * 7 + 3) % 11),
  targets: i64([2, 6], (i) => (i * 5 + 1) % 11),
};

/** AdamW on a warmup + cosine schedule: the config of the bit-identity tests. */
const scheduledCfg = (seed: number, totalSteps: number) => ({
  lr: 0.01,
  intraOpThreads: 2,
  seed,
  schedule: { peakLr: 0.01, warmupSteps: 2, totalSteps },
});

/** Two trainer snapshots hold the same bits: parameters, optimizer state, RNG and last lr. */
function expectSameState(got: TrainerSnapshot, want: TrainerSnapshot): void {
  const same = (x: HostTensor, y: HostTensor) =>
    Buffer.from(x.data.buffer).equals(Buffer.from(y.data.buffer));
  for (const [name, v] of want.params) expect(same(got.params.get(name) as HostTensor, v), name).toBe(true);
  for (const [name, v] of want.optimizerState)
    expect(same(got.optimizerState.get(name) as HostTensor, v), name).toBe(true);
  expect(got.rng).toEqual(want.rng);
  expect(got.lastLr).toBe(want.lastLr);
}

describe('training', () => {
  it('a tiny MLP trains to near-zero loss on a fixed batch (AdamW), reusing two buffers per parameter', async () => {
    const t = await Trainer.create(mlpModel, mlpSpec, {
      optimizer: { kind: 'adamw', weightDecay: 0 },
      lr: 0.02,
      clipNorm: null,
      intraOpThreads: 1,
    });
    const seen = new Set<unknown>();
    const first = await t.trainStep(mlpBatch);
    let last = first;
    for (let i = 0; i < 300; i++) {
      last = await t.trainStep(mlpBatch);
      seen.add(t.params.get('fc1.weight').data);
    }
    expect(first.loss).toBeGreaterThan(0.1);
    expect(last.loss).toBeLessThan(1e-3);
    expect(seen.size).toBe(2);
  });

  it('SGD with momentum also fits the MLP', async () => {
    const t = await Trainer.create(mlpModel, mlpSpec, {
      optimizer: { kind: 'sgd', momentum: 0.9 },
      lr: 0.05,
      clipNorm: 5,
      intraOpThreads: 1,
    });
    let r = await t.trainStep(mlpBatch);
    const start = r.loss;
    for (let i = 0; i < 400; i++) r = await t.trainStep(mlpBatch);
    expect(r.loss).toBeLessThan(start * 0.02);
  });

  it('a tiny transformer trains to near-zero loss on a fixed batch, and every parameter moves', async () => {
    const t = await Trainer.create(lmModel(), lmSpec, {
      lr: 0.01,
      intraOpThreads: 2,
      schedule: { peakLr: 0.01, warmupSteps: 10, totalSteps: 200, minLr: 0.001 },
    });
    const before = new Map(
      t.params.entries().map(([n, v]) => [n, Float32Array.from(v.data as Float32Array)]),
    );
    let r = await t.trainStep(lmBatch);
    expect(r.loss).toBeGreaterThan(2);
    for (let i = 0; i < 150; i++) r = await t.trainStep(lmBatch);
    expect(r.loss).toBeLessThan(0.05);
    expect(Number.isFinite(r.metrics.logit_mean)).toBe(true);
    for (const [n, v] of t.params.entries()) {
      const b = before.get(n) as Float32Array;
      expect(
        (v.data as Float32Array).some((x, i) => x !== b[i]),
        n,
      ).toBe(true);
    }
  });

  it('resumes bit-identically from exported state (AdamW, schedule, dropout RNG)', async () => {
    const cfg = scheduledCfg(3, 10);
    const a = await Trainer.create(lmModel(0.1), lmSpec, cfg);
    const lossesA: number[] = [];
    for (let i = 0; i < 5; i++) lossesA.push((await a.trainStep(lmBatch)).loss);

    const b = await Trainer.create(lmModel(0.1), lmSpec, cfg);
    for (let i = 0; i < 3; i++) await b.trainStep(lmBatch);
    const saved = await b.exportState();
    expect(saved.optimizerState.has('exp_avg.model.layers.0.self_attn.q_proj.weight')).toBe(true);
    expect(saved.step).toBe(3);
    const c = await Trainer.create(lmModel(0.1), lmSpec, { ...cfg, seed: 99 });
    await c.importState(saved);
    expect(c.step).toBe(3);
    const lossesC = [(await c.trainStep(lmBatch)).loss, (await c.trainStep(lmBatch)).loss];
    expect(lossesC).toEqual(lossesA.slice(3));
    const sa = await a.exportState();
    const sc = await c.exportState();
    expectSameState(sc, sa);
  });

  it('trainSteps runs K steps in one call with the same bits as K trainStep calls (dropout, schedule, metrics)', async () => {
    const cfg = scheduledCfg(5, 12);
    const batches = [0, 1, 2, 3, 4].map((k) => ({
      ids: i64([2, 6], (i) => (i * 7 + 3 + k) % 11),
      targets: i64([2, 6], (i) => (i * 5 + 1 + 2 * k) % 11),
    }));
    const one = await Trainer.create(lmModel(0.1), lmSpec, cfg);
    const many = await Trainer.create(lmModel(0.1), lmSpec, cfg);
    const expected = [];
    for (const b of batches) expected.push(await one.trainStep(b));
    await one.trainStep(lmBatch, { lr: 0.003 });
    // Three steps fused, then two more (a second loop size), then one with an lr override.
    const got = [
      ...(await many.trainSteps(batches.slice(0, 3))),
      ...(await many.trainSteps(batches.slice(3))),
    ];
    expect(got).toEqual(expected);
    expect(await many.trainSteps([lmBatch], { lr: 0.003 })).toHaveLength(1);
    expect(many.step).toBe(6);
    const sa = await one.exportState();
    const sb = await many.exportState();
    expectSameState(sb, sa);
    await expect(many.trainSteps([lmBatch, { ids: lmBatch.ids as HostTensor }])).rejects.toThrow(
      /steps\[1\]: batch is missing "targets"/,
    );
    expect(many.step).toBe(6);
  });

  it('trainSteps with gradient accumulation takes one trainStep per entry', async () => {
    const spec = { x: { dtype: 'float32', shape: [4, 3] }, y: { dtype: 'float32', shape: [4, 2] } } as const;
    const half = (k: number): Batch => ({
      x: f32([4, 3], (i) => Math.sin((i + 12 * k) * 1.3)),
      y: f32([4, 2], (i) => Math.cos((i + 8 * k) * 0.7) * 0.8),
    });
    const cfg = { lr: 0.01, intraOpThreads: 1, accumulationSteps: 2 };
    const a = await Trainer.create(mlpModel, spec, cfg);
    const b = await Trainer.create(mlpModel, spec, cfg);
    const expected = [await a.trainStep([half(0), half(1)])];
    expect(await b.trainSteps([[half(0), half(1)]])).toEqual(expected);
  });

  it('small parameters updated as one concatenated vector give the same bits as one update each', async () => {
    for (const optimizer of [
      { kind: 'adamw', weightDecay: 0.1 },
      { kind: 'sgd', momentum: 0.9, weightDecay: 0.01 },
    ] as const) {
      const cfg = { ...scheduledCfg(7, 10), optimizer, clipNorm: 0.5 };
      const alone = await Trainer.create(lmModel(0.1), lmSpec, { ...cfg, groupedUpdateMaxElements: 0 });
      const grouped = await Trainer.create(lmModel(0.1), lmSpec, { ...cfg, groupedUpdateMaxElements: 1024 });
      const results = [[], []] as StepResult[][];
      for (let i = 0; i < 4; i++) {
        results[0]?.push(await alone.trainStep(lmBatch));
        results[1]?.push(await grouped.trainStep(lmBatch));
      }
      expect(results[1]).toEqual(results[0]);
      expectSameState(await grouped.exportState(), await alone.exportState());
    }
  });

  it('update groups: small parameters by dtype and decay flag up to a member cap, large ones and non-elementwise optimizers alone', () => {
    const spec = (name: string, n: number, decay: boolean, dtype: 'float32' | 'float64' = 'float32') =>
      ({ name, shape: [n], dtype, init: { kind: 'zeros' }, decay }) as ParamSpec;
    const specs = [
      spec('w1', 5000, true),
      spec('b1', 10, false),
      spec('w2', 64, true),
      spec('b2', 10, false),
      spec('d', 10, false, 'float64'),
      spec('w3', 100, true),
    ];
    expect(updateGroups(specs, true, 4096)).toEqual([[0], [1, 3], [2, 5], [4]]);
    expect(updateGroups(specs, true, 0)).toEqual([[0], [1], [2], [3], [4], [5]]);
    expect(updateGroups(specs, false, 4096)).toEqual([[0], [1], [2], [3], [4], [5]]);
    // A member cap (webgpu binds each Split output as a storage buffer) opens a new group when full.
    expect(updateGroups([...specs, spec('b3', 10, false)], true, 4096, 2)).toEqual([
      [0],
      [1, 3],
      [2, 5],
      [4],
      [6],
    ]);
  });

  it('gradient accumulation over two half batches matches one full batch', async () => {
    const half = (lo: number): Batch => ({
      x: f32([4, 3], (i) => (mlpBatch.x as HostTensor).data[lo * 3 + i] as number),
      y: f32([4, 2], (i) => (mlpBatch.y as HostTensor).data[lo * 2 + i] as number),
    });
    const halfSpec = {
      x: { dtype: 'float32', shape: [4, 3] },
      y: { dtype: 'float32', shape: [4, 2] },
    } as const;
    const full = await Trainer.create(mlpModel, mlpSpec, { lr: 0.01, intraOpThreads: 1, clipNorm: 0.5 });
    const acc = await Trainer.create(mlpModel, halfSpec, {
      lr: 0.01,
      intraOpThreads: 2,
      clipNorm: 0.5,
      accumulationSteps: 2,
    });
    for (let i = 0; i < 3; i++) {
      const rf = await full.trainStep(mlpBatch);
      const ra = await acc.trainStep([half(0), half(4)]);
      expect(ra.loss).toBeCloseTo(rf.loss, 5);
      expect(ra.gradNorm).toBeCloseTo(rf.gradNorm, 5);
    }
    for (const [n, v] of full.params.entries())
      assertAllClose(acc.params.get(n).data as Float32Array, v.data as Float32Array, {
        rtol: 1e-5,
        atol: 1e-6,
        what: n,
      });
  });

  it('keeps frozen parameters fixed (as initializers) and applies no decay to no-decay groups', async () => {
    const t = await Trainer.create(mlpModel, mlpSpec, {
      lr: 0.05,
      intraOpThreads: 1,
      frozen: ['fc1.'],
      optimizer: { kind: 'adamw', weightDecay: 0.5 },
    });
    expect(t.trainableNames).toEqual(['fc2.weight', 'fc2.bias']);
    const w1 = Float32Array.from(t.params.get('fc1.weight').data as Float32Array);
    const r0 = await t.trainStep(mlpBatch);
    for (let i = 0; i < 20; i++) await t.trainStep(mlpBatch);
    expect(t.params.get('fc1.weight').data).toEqual(w1);
    expect((await t.trainStep(mlpBatch)).loss).toBeLessThan(r0.loss);
  });

  it('AdamW (with global-norm clipping) matches an independent host implementation', async () => {
    const model = (g: Graph, b: Readonly<Record<string, Tensor>>) => {
      const w = g.param('w', [3], { init: { kind: 'ones' }, decay: true });
      const bias = g.param('b', [3], { init: { kind: 'zeros' }, decay: false });
      return g.reduceSum(g.mul(g.sub(g.add(w, bias), b.t as Tensor), g.sub(g.add(w, bias), b.t as Tensor)));
    };
    const cfg = { beta1: 0.8, beta2: 0.9, eps: 1e-6, weightDecay: 0.1 };
    const t = await Trainer.create(
      model,
      { t: { dtype: 'float32', shape: [3] } },
      { optimizer: { kind: 'adamw', ...cfg }, lr: 0.1, clipNorm: 1.5, intraOpThreads: 1 },
    );
    const target = [0.5, -1, 2];
    const w = [1, 1, 1];
    const bias = [0, 0, 0];
    const m = { w: [0, 0, 0], b: [0, 0, 0] };
    const v = { w: [0, 0, 0], b: [0, 0, 0] };
    for (let step = 1; step <= 3; step++) {
      await t.trainStep({ t: f32([3], (i) => target[i] as number) });
      const raw = [0, 1, 2].map((i) => 2 * ((w[i] as number) + (bias[i] as number) - (target[i] as number)));
      // The loss reaches w and b alike, so the global norm counts each gradient twice.
      const norm = Math.sqrt(2 * raw.reduce((a, x) => a + x * x, 0));
      const clip = Math.min(1, 1.5 / (norm + 1e-6));
      for (const key of ['w', 'b'] as const) {
        for (let i = 0; i < 3; i++) {
          const grad = (raw[i] as number) * clip;
          m[key][i] = cfg.beta1 * (m[key][i] as number) + (1 - cfg.beta1) * grad;
          v[key][i] = cfg.beta2 * (v[key][i] as number) + (1 - cfg.beta2) * grad * grad;
        }
      }
      for (const [key, p, decay] of [
        ['w', w, true],
        ['b', bias, false],
      ] as const) {
        for (let i = 0; i < 3; i++) {
          const mh = (m[key][i] as number) / (1 - cfg.beta1 ** step);
          const vh = (v[key][i] as number) / (1 - cfg.beta2 ** step);
          if (decay) p[i] = (p[i] as number) * (1 - 0.1 * cfg.weightDecay);
          p[i] = (p[i] as number) - (0.1 * mh) / (Math.sqrt(vh) + cfg.eps);
        }
      }
      assertAllClose(t.params.get('w').data as Float32Array, w, {
        rtol: 1e-5,
        atol: 1e-6,
        what: `w at step ${step}`,
      });
      assertAllClose(t.params.get('b').data as Float32Array, bias, {
        rtol: 1e-5,
        atol: 1e-6,
        what: `b at step ${step}`,
      });
    }
  });

  it('clips by the global norm (SGD step equals -lr * g * maxNorm / ||g||)', async () => {
    const model = (g: Graph, b: Readonly<Record<string, Tensor>>) => {
      const w = g.param('w', [2], { init: { kind: 'zeros' } });
      const u = g.param('u', [1], { init: { kind: 'zeros' } });
      return g.add(g.reduceSum(g.mul(w, b.t as Tensor)), g.reduceSum(g.mul(u, 12)));
    };
    const t = await Trainer.create(
      model,
      { t: { dtype: 'float32', shape: [2] } },
      { optimizer: { kind: 'sgd' }, lr: 0.5, clipNorm: 2.6, intraOpThreads: 1 },
    );
    const r = await t.trainStep({ t: f32([2], (i) => [3, 4][i] as number) });
    expect(r.gradNorm).toBeCloseTo(13, 4); // sqrt(3^2 + 4^2 + 12^2)
    assertAllClose(t.params.get('w').data as Float32Array, [-0.5 * 3 * 0.2, -0.5 * 4 * 0.2], { rtol: 1e-5 });
    assertAllClose(t.params.get('u').data as Float32Array, [-0.5 * 12 * 0.2], { rtol: 1e-5 });
  });

  it('warmup + cosine schedule', () => {
    const s = warmupCosine({ peakLr: 1, warmupSteps: 4, totalSteps: 14, minLr: 0.1 });
    expect(s(1)).toBeCloseTo(0.25);
    expect(s(4)).toBeCloseTo(1);
    expect(s(9)).toBeCloseTo(0.55);
    expect(s(14)).toBeCloseTo(0.1);
    expect(s(100)).toBeCloseTo(0.1);
    expect(() => warmupCosine({ peakLr: 1, warmupSteps: 5, totalSteps: 2 })).toThrow(/warmupSteps/);
  });

  it('caches sessions: a second trainer for the same graph and shapes compiles nothing new', async () => {
    await Trainer.create(mlpModel, mlpSpec, { intraOpThreads: 1, seed: 5 });
    const n = sessionCacheSize();
    await Trainer.create(mlpModel, mlpSpec, { intraOpThreads: 1, seed: 6 });
    expect(sessionCacheSize()).toBe(n);
  });
});

describe('export', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes a standalone .onnx that plain onnxruntime runs with the same outputs', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gopo-nn-export-'));
    const store = new ParamStore();
    const fwd = (g: Graph, i: Readonly<Record<string, Tensor>>) => ({
      logits: transformerLM(g, i.ids as Tensor, tiny),
    });
    const spec = { ids: lmSpec.ids };
    const forward = await Forward.create(fwd, spec, store, { intraOpThreads: 1, seed: 1 });
    const ours = await forward.run({ ids: lmBatch.ids as HostTensor });
    const file = join(dir, 'tiny.onnx');
    const emitted = await exportOnnx(file, fwd, spec, store);
    expect(emitted.inputs.map((i) => i.name)).toEqual(['ids']);
    const plain = await runOnnxFile(file, { ids: lmBatch.ids as HostTensor });
    expect((plain.logits as HostTensor).dims).toEqual([2, 6, 11]);
    assertAllClose(
      (plain.logits as HostTensor).data as Float32Array,
      (ours.logits as HostTensor).data as Float32Array,
      { rtol: 1e-5, atol: 1e-6 },
    );
  });
});
