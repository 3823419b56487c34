/**
 * Child process of the kill/resume test (resume.test.ts): trains a tiny transformer with dropout,
 * AdamW and a warmup-cosine schedule, saving a checkpoint every `--every` steps. On start it resumes
 * from the newest complete checkpoint in `--dir` (if any), so a run that is SIGKILLed and started
 * again must end in exactly the state of a run that was never interrupted.
 *
 *   node --conditions=@gopo/source --import tsx test/resume-child.ts \
 *     --dir <checkpoints> --steps 24 --every 4 [--delay-ms 40]
 *
 * `--delay-ms` sleeps between steps (it changes no numbers) so the parent can kill mid-run.
 * Prints one line per completed step: `step <n> loss <x>`; the final step is always checkpointed.
 */
import { parseArgs } from 'node:util';
import { findLatestCheckpoint, loadCheckpoint, saveCheckpoint } from '../src/checkpoint.js';
import type { Graph, Tensor } from '../src/graph.js';
import { crossEntropy } from '../src/losses.js';
import { dropout, transformerLM } from '../src/modules.js';
import type { HostTensor } from '../src/runtime.js';
import type { SafetensorsTensor } from '../src/safetensors.js';
import { type Batch, randomInput, Trainer, type TrainerSnapshot } from '../src/trainer.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    steps: { type: 'string', default: '24' },
    every: { type: 'string', default: '4' },
    'delay-ms': { type: 'string', default: '0' },
  },
});
if (!values.dir) throw new Error('--dir is required');
const dir = values.dir;
const totalSteps = Number(values.steps);
const every = Number(values.every);
const delayMs = Number(values['delay-ms']);

const tiny = { vocabSize: 13, dModel: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, hidden: 32 };
const model = (g: Graph, b: Readonly<Record<string, Tensor>>) => {
  const logits = transformerLM(g, b.ids as Tensor, tiny);
  return crossEntropy(g, dropout(g, logits, 0.1, randomInput(g, logits.shape)), b.targets as Tensor);
};
const spec = {
  ids: { dtype: 'int64', shape: [2, 8] },
  targets: { dtype: 'int64', shape: [2, 8] },
} as const;
/** A different batch each step, derived from the step number, as a data loader would replay it. */
const batchFor = (step: number): Batch => {
  const ids = (salt: number) =>
    BigInt64Array.from({ length: 16 }, (_, i) => BigInt((i * 7 + step * 3 + salt) % tiny.vocabSize));
  return {
    ids: { dtype: 'int64', dims: [2, 8], data: ids(1) },
    targets: { dtype: 'int64', dims: [2, 8], data: ids(5) },
  };
};

const toSafetensors = (m: ReadonlyMap<string, HostTensor>): Map<string, SafetensorsTensor> =>
  new Map(
    [...m].map(([k, t]) => {
      if (t.dtype !== 'float32') throw new Error(`${k}: expected float32, got ${t.dtype}`);
      return [k, { dtype: 'F32', shape: [...t.dims], data: t.data as Float32Array }];
    }),
  );
const fromSafetensors = (m: ReadonlyMap<string, SafetensorsTensor>): Map<string, HostTensor> =>
  new Map(
    [...m].map(([k, t]) => {
      if (t.dtype !== 'F32') throw new Error(`${k}: expected F32, got ${t.dtype}`);
      return [k, { dtype: 'float32', dims: t.shape, data: t.data }];
    }),
  );

const trainer = await Trainer.create(model, spec, {
  optimizer: { kind: 'adamw', weightDecay: 0.1 },
  schedule: { peakLr: 0.01, warmupSteps: 3, totalSteps },
  clipNorm: 1,
  intraOpThreads: 1,
  seed: 11,
});

const latest = await findLatestCheckpoint(dir);
if (latest) {
  const ckpt = await loadCheckpoint(latest);
  const snapshot: TrainerSnapshot = {
    params: fromSafetensors(ckpt.params),
    optimizerState: fromSafetensors(ckpt.optimizerState),
    step: ckpt.state.step,
    rng: ckpt.state.rng,
    lastLr: ckpt.state.lrSchedule.lastLr,
  };
  await trainer.importState(snapshot);
  console.log(`resumed ${ckpt.state.step}`);
}

while (trainer.step < totalSteps) {
  const { loss, step } = await trainer.trainStep(batchFor(trainer.step + 1));
  console.log(`step ${step} loss ${loss}`);
  if (step % every === 0 || step === totalSteps) {
    const s = await trainer.exportState();
    await saveCheckpoint(dir, {
      params: toSafetensors(s.params),
      optimizerState: toSafetensors(s.optimizerState),
      state: { step: s.step, rng: s.rng, lrSchedule: { step: s.step, lastLr: s.lastLr } },
    });
  }
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
}
