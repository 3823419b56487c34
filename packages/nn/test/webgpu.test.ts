/**
 * The webgpu path against the CPU one. Runs where ORT finds a WebGPU adapter (a GPU, or Mesa's
 * lavapipe, which emulates one on the CPU) and is skipped elsewhere, CI included.
 */
import { describe, expect, it } from 'vitest';
import type { Graph, Tensor } from '../src/graph.js';
import { crossEntropy } from '../src/losses.js';
import { dropout, transformerLM } from '../src/modules.js';
import { DeviceTensor, detectProviders, type HostTensor, type ProviderName } from '../src/runtime.js';
import { assertAllClose } from '../src/testing.js';
import { type Batch, Forward, randomInput, Trainer, type TrainerSnapshot } from '../src/trainer.js';

const webgpu = (await detectProviders(undefined, ['webgpu']))[0]?.available ?? false;

const i64 = (dims: number[], fn: (i: number) => number): HostTensor => ({
  dtype: 'int64',
  dims,
  data: BigInt64Array.from({ length: dims.reduce((p, d) => p * d, 1) }, (_, i) => BigInt(fn(i))),
});

// LayerNorm weights and biases are 10 small parameters: the grouped optimizer update has more
// members than one webgpu Split may write.
const tiny = {
  vocabSize: 11,
  dModel: 16,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 32,
  norm: 'layernorm',
  mlp: 'gelu',
  activation: 'gelu_tanh',
} as const;
const lmModel =
  (p = 0) =>
  (g: Graph, b: Readonly<Record<string, Tensor>>) => {
    const logits = transformerLM(g, b.ids as Tensor, tiny);
    const out = p > 0 ? dropout(g, logits, p, randomInput(g, logits.shape)) : logits;
    return crossEntropy(g, out, b.targets as Tensor);
  };
const lmSpec = {
  ids: { dtype: 'int64', shape: [2, 6] },
  targets: { dtype: 'int64', shape: [2, 6] },
} as const;
const batch = (k: number): Batch => ({
  ids: i64([2, 6], (i) => (i * 7 + 3 + k) % 11),
  targets: i64([2, 6], (i) => (i * 5 + 1 + k) % 11),
});

const config = (provider: ProviderName, extra: Record<string, unknown> = {}) => ({
  optimizer: { kind: 'adamw' as const, weightDecay: 0.1 },
  lr: 0.01,
  clipNorm: 0.5,
  seed: 3,
  provider,
  schedule: { peakLr: 0.01, warmupSteps: 2, totalSteps: 8 },
  ...extra,
});

/**
 * float32 kernels differ between providers: same values to rounding, not the same bits. AdamW
 * divides by the gradient's running RMS, so where a gradient is near zero a rounding difference
 * moves a weight by a visible fraction of one step (lr 0.01): parameters agree to 2e-4.
 */
function expectCloseState(got: TrainerSnapshot, want: TrainerSnapshot): void {
  for (const [name, v] of want.params)
    assertAllClose(got.params.get(name)?.data as Float32Array, v.data as Float32Array, {
      rtol: 1e-4,
      atol: 2e-4,
      what: name,
    });
  for (const [name, v] of want.optimizerState)
    assertAllClose(got.optimizerState.get(name)?.data as Float32Array, v.data as Float32Array, {
      rtol: 1e-3,
      atol: 1e-6,
      what: name,
    });
  expect(got.rng).toEqual(want.rng);
  expect(got.lastLr).toBe(want.lastLr);
}

async function losses(trainer: Trainer, from: number, to: number): Promise<number[]> {
  const out: number[] = [];
  for (let k = from; k < to; k++) out.push((await trainer.trainStep(batch(k))).loss);
  return out;
}

describe.skipIf(!webgpu)('webgpu', () => {
  it('trains a tiny transformer like the cpu, with parameters kept on the device until synced', async () => {
    const cpu = await Trainer.create(lmModel(), lmSpec, config('cpu'));
    const gpu = await Trainer.create(lmModel(), lmSpec, config('webgpu'));
    const name = 'model.layers.0.mlp.up_proj.weight';
    const initial = Float32Array.from(gpu.params.get(name).data as Float32Array);
    assertAllClose(await losses(gpu, 0, 4), await losses(cpu, 0, 4), { rtol: 1e-5 });
    // The store still holds the initial weights: the steps read and wrote device buffers only.
    expect(
      Buffer.from((gpu.params.get(name).data as Float32Array).buffer).equals(Buffer.from(initial.buffer)),
    ).toBe(true);
    const state = await gpu.exportState();
    expectCloseState(state, await cpu.exportState());
    await gpu.syncToHost();
    expect(gpu.params.get(name).data).toEqual(state.params.get(name)?.data);
  });

  it('resumes from exported state like an uninterrupted run (dropout draws included)', async () => {
    const whole = await Trainer.create(lmModel(0.2), lmSpec, config('webgpu'));
    const want = await losses(whole, 0, 5);
    const first = await Trainer.create(lmModel(0.2), lmSpec, config('webgpu'));
    await losses(first, 0, 2);
    const second = await Trainer.create(lmModel(0.2), lmSpec, config('webgpu', { seed: 99 }));
    await second.importState(await first.exportState());
    assertAllClose(await losses(second, 2, 5), want.slice(2), { rtol: 1e-6 });
    expectCloseState(await second.exportState(), await whole.exportState());
  });

  it('accumulates micro-batches on the device like the cpu', async () => {
    const cfg = { accumulationSteps: 2 };
    const cpu = await Trainer.create(lmModel(), lmSpec, config('cpu', cfg));
    const gpu = await Trainer.create(lmModel(), lmSpec, config('webgpu', cfg));
    for (let k = 0; k < 3; k++) {
      const micro = [batch(2 * k), batch(2 * k + 1)];
      const [a, b] = [await gpu.trainStep(micro), await cpu.trainStep(micro)];
      assertAllClose([a.loss, a.gradNorm], [b.loss, b.gradNorm], { rtol: 1e-5 });
    }
    expectCloseState(await gpu.exportState(), await cpu.exportState());
  });

  it('runs trainSteps as single steps and a Forward from the synced store like the cpu', async () => {
    const cpu = await Trainer.create(lmModel(), lmSpec, config('cpu'));
    const gpu = await Trainer.create(lmModel(), lmSpec, config('webgpu'));
    const batches = [0, 1, 2].map(batch);
    const [a, b] = [await gpu.trainSteps(batches), await cpu.trainSteps(batches)];
    assertAllClose(
      a.map((r) => r.loss),
      b.map((r) => r.loss),
      { rtol: 1e-5 },
    );
    expect(a.map((r) => r.step)).toEqual([1, 2, 3]);
    await gpu.syncToHost();
    const outputs = (g: Graph, i: Readonly<Record<string, Tensor>>) => ({ loss: lmModel()(g, i) });
    const fg = await Forward.create(outputs, lmSpec, gpu.params, { provider: 'webgpu' });
    const fc = await Forward.create(outputs, lmSpec, cpu.params, { provider: 'cpu' });
    const [lg, lc] = [(await fg.run(batch(5))).loss, (await fc.run(batch(5))).loss];
    assertAllClose(lg?.data as Float32Array, lc?.data as Float32Array, { rtol: 1e-4 });
  });

  it('downloads device tensors of any rank', async () => {
    const gpu = await Trainer.create(lmModel(), lmSpec, config('webgpu'));
    await gpu.trainStep(batch(0));
    const values = (gpu as unknown as { values: Map<string, unknown> }).values;
    const onDevice = [...values.values()].filter((v): v is DeviceTensor => v instanceof DeviceTensor);
    expect(onDevice.length).toBe(values.size);
    const ranks = new Set<number>();
    for (const v of onDevice) {
      const h = await v.download();
      expect(h.dims).toEqual(v.dims);
      expect(h.data.length).toBe(v.dims.reduce((p, d) => p * d, 1));
      ranks.add(v.dims.length);
    }
    expect([...ranks].sort()).toEqual([1, 2]);
  });
});
