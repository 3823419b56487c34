/**
 * One optimizer over several compiled step shapes. Training graphs are compiled per shape, and
 * dialogue batches vary in length: padding every batch to the longest costs several times the work
 * on short ones. A BucketedTrainer compiles one Trainer per bucket (e.g. sequence length rounded up)
 * over the same ParamStore and moves the optimizer state (moments, step count, RNG) to whichever
 * bucket steps next, so the buckets behave as one optimizer: the same steps all padded to one bucket
 * give the same weights up to float rounding.
 */
import type { ParamStore } from './params.js';
import type { HostTensor } from './runtime.js';
import {
  type Batch,
  type BatchSpec,
  type ModelFn,
  type StepResult,
  Trainer,
  type TrainerConfigInput,
  type TrainerSnapshot,
} from './trainer.js';

export class BucketedTrainer {
  private readonly trainers = new Map<number, Promise<Trainer>>();
  private current: Trainer | undefined;

  constructor(
    /** The step graph and batch spec of a bucket. */
    private readonly build: (bucket: number) => { model: ModelFn; spec: BatchSpec },
    private readonly config: TrainerConfigInput,
    readonly store: ParamStore,
    /** The bucket used for state export before any step (checkpoints of a fresh run). */
    private readonly defaultBucket: number,
  ) {}

  private trainer(bucket: number): Promise<Trainer> {
    let t = this.trainers.get(bucket);
    if (!t) {
      const { model, spec } = this.build(bucket);
      t = Trainer.create(model, spec, this.config, this.store);
      this.trainers.set(bucket, t);
    }
    return t;
  }

  /** Optimizer steps taken so far (over every bucket). */
  get steps(): number {
    return this.current?.step ?? 0;
  }

  private async active(): Promise<Trainer> {
    return this.current ?? (await this.trainer(this.defaultBucket));
  }

  /** Weights, optimizer state, step count and RNG of the optimizer. */
  async exportState(): Promise<TrainerSnapshot> {
    return (await this.active()).exportState();
  }

  async importState(snapshot: TrainerSnapshot): Promise<void> {
    const t = await this.active();
    await t.importState(snapshot);
    this.current = t;
  }

  /**
   * One step on `batch` in `bucket`. With `guard`, a step whose loss or gradient norm is not finite is
   * undone (weights and optimizer state restored) and reported as rolled back.
   */
  async step(bucket: number, batch: Batch, guard = true): Promise<StepResult & { rolledBack: boolean }> {
    // A copy: exportState hands out the trainer's own buffers, and a bucket's trainer writes its step
    // into spares that can be the very buffers another bucket's trainer exported.
    const before = guard ? copySnapshot(await this.exportState()) : undefined;
    const t = await this.trainer(bucket);
    if (this.current && this.current !== t) await t.importState(await this.current.exportState());
    this.current = t;
    const r = await t.trainStep(batch);
    if (before && (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm))) {
      await t.importState(before);
      return { ...r, rolledBack: true };
    }
    return { ...r, rolledBack: false };
  }
}

/** A snapshot that owns its tensors. */
function copySnapshot(s: TrainerSnapshot): TrainerSnapshot {
  const copy = (m: ReadonlyMap<string, HostTensor>) =>
    new Map(
      [...m].map(([k, v]) => [k, { ...v, dims: [...v.dims], data: v.data.slice() as HostTensor['data'] }]),
    );
  return { ...s, params: copy(s.params), optimizerState: copy(s.optimizerState) };
}
