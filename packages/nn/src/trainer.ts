/**
 * The compiled training step. Forward, loss, backward, gradient clipping and the optimizer update
 * are one ONNX graph run by one cached InferenceSession:
 *
 *   inputs:  batch, trainable parameters, optimizer state, lr, step
 *   outputs: loss, grad_norm, metrics, new parameters, new optimizer state
 *
 * With gradient accumulation the step is split into an accumulate graph (run once per micro-batch,
 * adding its gradient into a running sum) and an apply graph (clip + update). Frozen parameters are
 * baked in as initializers. On CPU every output lands in a preallocated spare buffer which is then
 * swapped with the current one, so no tensor is copied between steps; on webgpu parameters and
 * optimizer state stay on the device as gpu-buffer tensors. `trainSteps` runs several steps in one
 * session call (the step wrapped in an ONNX Loop, see step-loop.ts) with identical results.
 */
import { Rng, type RngState } from '@gopo/core';
import { z } from 'zod';
import { gradients } from './autodiff.js';
import { type EmittedModel, emitModel } from './emit.js';
import { FeedError } from './errors.js';
import { type ConstData, type DType, Graph, numel, type ParamSpec, type Shape, Tensor } from './graph.js';
import {
  globalNormScale,
  makeOptimizer,
  type Optimizer,
  optimizerConfigSchema,
  scheduleConfigSchema,
  warmupCosine,
} from './optim.js';
import { ParamStore } from './params.js';
import {
  allocHost,
  DeviceTensor,
  type GraphSession,
  getSession,
  type HostTensor,
  isHostTensor,
  PROVIDERS,
  type ProviderName,
  type RunValue,
  resolveProvider,
} from './runtime.js';
import { CARRY_PREFIX, STACKED_PREFIX, stepLoopModel } from './step-loop.js';

/** Graph inputs with this prefix are fed fresh U[0,1) values from the trainer's RNG each micro-batch. */
export const RANDOM_INPUT_PREFIX = 'random.';

export interface TensorSpec {
  dtype: DType;
  shape: Shape;
}
export type BatchSpec = Readonly<Record<string, TensorSpec>>;
export type Batch = Readonly<Record<string, HostTensor>>;

export type ModelOutput = Tensor | { loss: Tensor; metrics?: Record<string, Tensor> };
export type ModelFn = (g: Graph, batch: Readonly<Record<string, Tensor>>) => ModelOutput;

/** A U[0,1) float32 input filled by the trainer each micro-batch (drives dropout). */
export function randomInput(g: Graph, shape: Shape): Tensor {
  return g.input(`${RANDOM_INPUT_PREFIX}${g.modulePath || 'root'}.${g.inputs.length}`, 'float32', shape);
}

export const trainerConfigSchema = z
  .object({
    optimizer: optimizerConfigSchema
      .default({ kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 })
      .describe('optimizer and its hyper-parameters'),
    lr: z
      .number()
      .positive()
      .default(1e-3)
      .describe('constant learning rate, used when no schedule is given'),
    schedule: scheduleConfigSchema
      .optional()
      .describe('warmup + cosine learning-rate schedule computed on the host each step'),
    clipNorm: z
      .number()
      .positive()
      .nullable()
      .default(1)
      .describe('clip gradients to this global L2 norm (null: no clipping)'),
    accumulationSteps: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe('micro-batches whose gradients are averaged per optimizer step'),
    provider: z
      .enum([...PROVIDERS, 'auto'])
      .default('cpu')
      .describe('execution provider: cpu, webgpu, cuda or auto'),
    intraOpThreads: z.number().int().min(0).default(0).describe('ORT intra-op threads (0: ORT default)'),
    memoryArena: z
      .boolean()
      .default(true)
      .describe(
        "keep ORT's memory arena per step session (fastest); false returns each step's memory, for many step shapes held at once",
      ),
    seed: z.number().int().default(0).describe('seed for parameter init and dropout masks'),
    frozen: z
      .array(z.string())
      .default([])
      .describe('parameter names (or prefixes ending in ".") kept fixed as graph initializers'),
    groupedUpdateMaxElements: z
      .number()
      .int()
      .min(0)
      .default(4096)
      .describe(
        'parameters with at most this many elements (norm scales, biases, small adapters) are updated as one concatenated vector per dtype and decay flag, one node per op instead of one per parameter; same results (0: every parameter alone)',
      ),
  })
  .describe('training-step settings');
export type TrainerConfig = z.infer<typeof trainerConfigSchema>;
export type TrainerConfigInput = z.input<typeof trainerConfigSchema>;

export interface StepResult {
  loss: number;
  gradNorm: number;
  lr: number;
  step: number;
  metrics: Record<string, number>;
}

function isFrozen(name: string, frozen: readonly string[]): boolean {
  return frozen.some((f) => f === name || (f.endsWith('.') && name.startsWith(f)));
}

const OPT = 'optimizer.';
const stateName = (slot: string, param: string) => `${OPT}${slot}.${param}`;
const accumName = (param: string) => `accum.${param}`;

interface Built {
  session: GraphSession;
  outputs: string[];
}

/** Discovers the parameters a model creates (one throwaway build). */
export function collectParams(model: ModelFn, batch: BatchSpec): ParamSpec[] {
  const g = new Graph({ name: 'probe' });
  const inputs = Object.fromEntries(Object.entries(batch).map(([k, s]) => [k, g.input(k, s.dtype, s.shape)]));
  model(g, inputs);
  return [...g.params.values()].map((p) => p.spec);
}

function lossOf(out: ModelOutput): { loss: Tensor; metrics: Record<string, Tensor> } {
  return out instanceof Tensor ? { loss: out, metrics: {} } : { loss: out.loss, metrics: out.metrics ?? {} };
}

export class Trainer {
  readonly config: TrainerConfig;
  readonly params: ParamStore;
  readonly optimizer: Optimizer;
  readonly provider: ProviderName;
  private readonly specs: ParamSpec[];
  private readonly trainable: ParamSpec[];
  private readonly slots: Map<string, readonly string[]>;
  /** Current values of everything the step graph reads and writes back (params + state). */
  private readonly values = new Map<string, RunValue>();
  private readonly valueSpecs = new Map<string, ParamSpec>();
  private readonly spares = new Map<string, HostTensor>();
  private readonly accum = new Map<string, RunValue>();
  private readonly deviceAccumZeros = new Map<string, HostTensor>();
  private fused?: Built;
  /** K-step loops of the fused step, by K (compiled on first use). */
  private readonly loops = new Map<number, Promise<Built>>();
  private accumulate?: Built;
  private apply?: Built;
  private stepCount = 0;
  private lastLr = 0;
  private rng: Rng;
  private readonly schedule: ((step: number) => number) | null;

  private constructor(
    private readonly model: ModelFn,
    readonly batchSpec: BatchSpec,
    config: TrainerConfig,
    params: ParamStore,
    provider: ProviderName,
  ) {
    this.config = config;
    this.provider = provider;
    this.optimizer = makeOptimizer(config.optimizer);
    this.params = params;
    this.specs = collectParams(model, batchSpec);
    this.trainable = this.specs.filter((s) => !isFrozen(s.name, config.frozen));
    this.slots = new Map(this.trainable.map((s) => [s.name, this.optimizer.init(s)]));
    this.rng = Rng.fromSeed(config.seed, 'trainer');
    this.params.initMissing(this.specs, Rng.fromSeed(config.seed, 'init'));
    this.schedule = config.schedule ? warmupCosine(config.schedule) : null;
    for (const s of this.trainable) {
      this.values.set(s.name, this.params.get(s.name));
      this.valueSpecs.set(s.name, s);
      for (const slot of this.slots.get(s.name) ?? []) {
        this.values.set(stateName(slot, s.name), allocHost(s.dtype, s.shape));
        this.valueSpecs.set(stateName(slot, s.name), s);
      }
    }
  }

  /** Builds (or fetches from the cache) the step graph(s) for `batchSpec` and initialises missing parameters. */
  static async create(
    model: ModelFn,
    batchSpec: BatchSpec,
    config: TrainerConfigInput = {},
    params = new ParamStore(),
  ): Promise<Trainer> {
    const c = trainerConfigSchema.parse(config);
    const provider = await resolveProvider(c.provider);
    const t = new Trainer(model, batchSpec, c, params, provider);
    await t.compile();
    return t;
  }

  get step(): number {
    return this.stepCount;
  }

  get trainableNames(): string[] {
    return this.trainable.map((s) => s.name);
  }

  lrAt(step: number): number {
    return this.schedule ? this.schedule(step) : this.config.lr;
  }

  private frozenValues(): Map<string, ConstData> {
    const m = new Map<string, ConstData>();
    for (const s of this.specs)
      if (isFrozen(s.name, this.config.frozen)) m.set(s.name, this.params.get(s.name).data);
    return m;
  }

  private buildForwardPart(g: Graph): {
    loss: Tensor;
    metrics: Record<string, Tensor>;
    grads: Tensor[];
    paramTensors: Tensor[];
  } {
    const inputs = Object.fromEntries(
      Object.entries(this.batchSpec).map(([k, s]) => [k, g.input(k, s.dtype, s.shape)]),
    );
    const { loss, metrics } = lossOf(this.model(g, inputs));
    if (loss.size !== 1 || !(loss.dtype === 'float32' || loss.dtype === 'float64'))
      g.fail('train_step', [loss], 'the model must return a scalar float loss');
    const paramTensors = this.trainable.map((s) => g.params.get(s.name)?.tensor as Tensor);
    const grads = gradients(loss, paramTensors);
    return { loss, metrics, grads, paramTensors };
  }

  private emitUpdate(g: Graph, paramTensors: Tensor[], grads: Tensor[]): Tensor {
    const lr = g.input('optimizer.lr', 'float32', []);
    const step = g.input('optimizer.step', 'float32', []);
    const { norm, scale } = globalNormScale(g, grads, this.config.clipNorm);
    const stateIn = (spec: ParamSpec) => {
      const state: Record<string, Tensor> = {};
      for (const slot of this.slots.get(spec.name) ?? [])
        state[slot] = g.input(stateName(slot, spec.name), spec.dtype, spec.shape);
      return state;
    };
    const emitOut = (spec: ParamSpec, param: Tensor, state: Record<string, Tensor>) => {
      g.output(`${CARRY_PREFIX}${spec.name}`, param);
      for (const [slot, t] of Object.entries(state))
        g.output(`${CARRY_PREFIX}${stateName(slot, spec.name)}`, t);
    };
    for (const members of updateGroups(
      this.trainable,
      this.optimizer.elementwise,
      this.config.groupedUpdateMaxElements,
      this.provider === 'webgpu' ? WEBGPU_MAX_GROUP : Number.POSITIVE_INFINITY,
    )) {
      // Small parameters of one dtype and decay flag are updated over their concatenation (each
      // full-size op is one node instead of one per parameter; the elementwise math is unchanged).
      // A parameter alone is updated as it is.
      const specs = members.map((i) => this.trainable[i] as ParamSpec);
      const first = specs[0] as ParamSpec;
      const alone = members.length === 1;
      const sizes = specs.map((sp) => numel(sp.shape));
      const flat = (t: Tensor) => (t.rank === 1 ? t : g.reshape(t, [t.size]));
      const join = (ts: Tensor[]) => (alone ? (ts[0] as Tensor) : g.concat(ts.map(flat), 0));
      const parts = (t: Tensor) =>
        alone ? [t] : g.split(t, sizes, 0).map((p, k) => g.reshape(p, (specs[k] as ParamSpec).shape));
      const states = specs.map(stateIn);
      const name = alone
        ? `optimizer.${first.name}`
        : `optimizer.group.${first.dtype}.${first.decay ? 'decay' : 'no_decay'}`;
      const spec = alone ? first : { ...first, name, shape: [sizes.reduce((a, b) => a + b, 0)] };
      const out = g.scope(name, () =>
        this.optimizer.update(g, {
          param: join(members.map((i) => paramTensors[i] as Tensor)),
          grad: join(members.map((i) => grads[i] as Tensor)),
          gradScale: scale,
          state: Object.fromEntries(
            Object.keys(states[0] as Record<string, Tensor>).map((slot) => [
              slot,
              join(states.map((st) => st[slot] as Tensor)),
            ]),
          ),
          spec,
          lr,
          step,
        }),
      );
      g.scope(name, () => {
        const newParams = parts(out.param);
        const newStates = Object.entries(out.state).map(([slot, t]) => [slot, parts(t)] as const);
        specs.forEach((sp, k) => {
          emitOut(
            sp,
            newParams[k] as Tensor,
            Object.fromEntries(newStates.map(([slot, ts]) => [slot, ts[k] as Tensor])),
          );
        });
      });
    }
    return norm;
  }

  private session(g: Graph): Promise<Built> {
    return this.open(emitModel(g, { paramValues: this.frozenValues(), provider: this.provider }));
  }

  private async open(model: EmittedModel): Promise<Built> {
    const session = await getSession(model, {
      provider: this.provider,
      intraOpThreads: this.config.intraOpThreads,
      memoryArena: this.config.memoryArena,
      // On webgpu parameters and optimizer state stay on the device; loss, norm and metrics come
      // to the host.
      deviceOutputs:
        this.provider === 'webgpu'
          ? model.outputs.filter((o) => o.name.startsWith(CARRY_PREFIX)).map((o) => o.name)
          : [],
    });
    return { session, outputs: model.outputs.map((o) => o.name) };
  }

  private async compile(): Promise<void> {
    if (this.config.accumulationSteps === 1) {
      const g = new Graph({ name: 'train_step' });
      const { loss, metrics, grads, paramTensors } = this.buildForwardPart(g);
      g.output('loss', g.cast(loss, 'float32'));
      for (const [k, t] of Object.entries(metrics)) g.output(`metric:${k}`, t);
      g.output('grad_norm', this.emitUpdate(g, paramTensors, grads));
      this.fused = await this.session(g);
    } else {
      const ga = new Graph({ name: 'train_accumulate' });
      const { loss, metrics, grads } = this.buildForwardPart(ga);
      ga.output('loss', ga.cast(loss, 'float32'));
      for (const [k, t] of Object.entries(metrics)) ga.output(`metric:${k}`, t);
      for (const [i, s] of this.trainable.entries()) {
        ga.output(
          `${CARRY_PREFIX}${accumName(s.name)}`,
          ga.add(ga.input(accumName(s.name), s.dtype, s.shape), grads[i] as Tensor),
        );
        this.accum.set(s.name, allocHost(s.dtype, s.shape));
        this.spares.set(accumName(s.name), allocHost(s.dtype, s.shape));
      }
      this.accumulate = await this.session(ga);
      const gp = new Graph({ name: 'train_apply' });
      const k = this.config.accumulationSteps;
      const paramTensors = this.trainable.map((s) =>
        gp.param(s.name, s.shape, { dtype: s.dtype, init: s.init, decay: s.decay }),
      );
      const avg = this.trainable.map((s) => gp.mul(gp.input(accumName(s.name), s.dtype, s.shape), 1 / k));
      gp.output('grad_norm', this.emitUpdate(gp, paramTensors, avg));
      this.apply = await this.session(gp);
    }
    for (const [name, v] of this.values) {
      if (isHostTensor(v)) this.spares.set(name, allocHost(v.dtype, v.dims));
    }
  }

  private randomFeeds(session: GraphSession): Record<string, HostTensor> {
    const out: Record<string, HostTensor> = {};
    for (const i of session.model.inputs) {
      if (!i.name.startsWith(RANDOM_INPUT_PREFIX)) continue;
      const t = allocHost('float32', i.shape);
      const d = t.data as Float32Array;
      for (let j = 0; j < d.length; j++) d[j] = this.rng.float();
      out[i.name] = t;
    }
    return out;
  }

  /** One step's micro-batches (an entry of trainStep or trainSteps), checked against the batch spec. */
  private microBatches(entry: Batch | readonly Batch[], caller: string): readonly Batch[] {
    const list = Array.isArray(entry) ? (entry as readonly Batch[]) : [entry as Batch];
    if (list.length !== this.config.accumulationSteps)
      throw new FeedError(
        `${caller} needs ${this.config.accumulationSteps} micro-batch(es), got ${list.length}`,
      );
    for (const b of list) this.checkBatch(b);
    return list;
  }

  private checkBatch(batch: Batch): void {
    for (const [k, s] of Object.entries(this.batchSpec)) {
      const v = batch[k];
      if (!v) throw new FeedError(`batch is missing "${k}" (${s.dtype}[${s.shape.join(',')}])`);
      if (
        v.dtype !== s.dtype ||
        v.dims.length !== s.shape.length ||
        v.dims.some((d, i) => d !== s.shape[i])
      ) {
        throw new FeedError(
          `batch "${k}" expects ${s.dtype}[${s.shape.join(',')}], got ${v.dtype}[${v.dims.join(',')}]`,
        );
      }
    }
  }

  /** Runs `built` and installs every `new:` output as the current value (swapping buffers on the host). */
  private async runAndSwap(
    built: Built,
    feeds: Record<string, RunValue>,
    names: Iterable<string>,
  ): Promise<Record<string, RunValue>> {
    const device = this.provider === 'webgpu';
    const into: Record<string, HostTensor> = {};
    const wanted = new Set(names);
    if (!device) {
      for (const o of built.outputs) {
        if (!o.startsWith(CARRY_PREFIX)) continue;
        const spare = this.spares.get(o.slice(CARRY_PREFIX.length));
        if (spare) into[o] = spare;
      }
    }
    const res = await built.session.run(feeds, into);
    for (const o of built.outputs) {
      if (!o.startsWith(CARRY_PREFIX)) continue;
      const name = o.slice(CARRY_PREFIX.length);
      if (!wanted.has(name)) continue;
      const fresh = res[o] as RunValue;
      const old = name.startsWith('accum.') ? this.accum.get(name.slice(6)) : this.values.get(name);
      if (name.startsWith('accum.')) this.accum.set(name.slice(6), fresh);
      else this.values.set(name, fresh);
      if (isHostTensor(fresh)) {
        if (this.params.has(name) && !name.startsWith('optimizer.')) this.params.swap(name, fresh);
        if (old && isHostTensor(old)) this.spares.set(name, old);
      } else if (old instanceof DeviceTensor) {
        old.dispose();
      }
    }
    return res;
  }

  /**
   * One optimizer step over `batches` (exactly accumulationSteps micro-batches; a single batch
   * when there is no accumulation). `lr` overrides the schedule for this step.
   */
  async trainStep(batches: Batch | readonly Batch[], options: { lr?: number } = {}): Promise<StepResult> {
    const list = this.microBatches(batches, 'trainStep');
    const step = this.stepCount + 1;
    const lr = options.lr ?? this.lrAt(step);
    const scalars = { 'optimizer.lr': scalarHost(lr), 'optimizer.step': scalarHost(step) };
    const values = Object.fromEntries(this.values);
    const metrics: Record<string, number> = {};
    let loss = 0;
    let gradNorm: number;
    if (this.fused) {
      const res = await this.runAndSwap(
        this.fused,
        { ...(list[0] as Batch), ...values, ...scalars, ...this.randomFeeds(this.fused.session) },
        this.values.keys(),
      );
      loss = await scalarOf(res.loss);
      gradNorm = await scalarOf(res.grad_norm);
      for (const k of Object.keys(res))
        if (k.startsWith('metric:')) metrics[k.slice(7)] = await scalarOf(res[k]);
    } else {
      const acc = this.accumulate as Built;
      for (const [n, t] of this.accum) {
        if (isHostTensor(t)) t.data.fill(0 as never);
        else {
          // Last step's sums on the device: start again from host zeros (ORT only reads them).
          t.dispose();
          let zeros = this.deviceAccumZeros.get(n);
          if (!zeros) {
            const spec = this.valueSpecs.get(n) as ParamSpec;
            zeros = allocHost(spec.dtype, spec.shape);
            this.deviceAccumZeros.set(n, zeros);
          }
          this.accum.set(n, zeros);
        }
      }
      for (const b of list) {
        const accFeeds = Object.fromEntries([...this.accum].map(([n, t]) => [accumName(n), t]));
        const res = await this.runAndSwap(
          acc,
          { ...b, ...values, ...accFeeds, ...this.randomFeeds(acc.session) },
          [...this.accum.keys()].map(accumName),
        );
        loss += (await scalarOf(res.loss)) / list.length;
        for (const k of Object.keys(res))
          if (k.startsWith('metric:'))
            metrics[k.slice(7)] = (metrics[k.slice(7)] ?? 0) + (await scalarOf(res[k])) / list.length;
      }
      const accFeeds = Object.fromEntries([...this.accum].map(([n, t]) => [accumName(n), t]));
      const res = await this.runAndSwap(
        this.apply as Built,
        { ...values, ...accFeeds, ...scalars },
        this.values.keys(),
      );
      gradNorm = await scalarOf(res.grad_norm);
    }
    this.stepCount = step;
    this.lastLr = lr;
    return { loss, gradNorm, lr, step, metrics };
  }

  /**
   * Runs one optimizer step per entry (a batch, or its micro-batches with gradient accumulation),
   * in order, and returns each step's result: the same values, bit for bit, as calling trainStep
   * once per entry. On CPU with one micro-batch per step the steps run inside one session call
   * (an ONNX Loop over the step graph), so the parameters and optimizer state cross into JavaScript
   * once per call instead of once per step; with gradient accumulation, on webgpu (state already
   * stays on the device) and on cuda (its Loop untested) it calls trainStep in turn. Each distinct
   * number of steps compiles, and keeps, its own session: call it with one K (plus single steps).
   * `lr` overrides the schedule for every step of the call.
   */
  async trainSteps(
    steps: readonly (Batch | readonly Batch[])[],
    options: { lr?: number } = {},
  ): Promise<StepResult[]> {
    // Every entry is checked before any step runs, so a bad one leaves the trainer untouched.
    const lists = steps.map((s, i) => {
      try {
        return this.microBatches(s, 'trainSteps');
      } catch (e) {
        throw new FeedError(`steps[${i}]: ${(e as Error).message}`);
      }
    });
    if (lists.length === 0) return [];
    // The Loop path is CPU only: webgpu already keeps state on the device, and ORT's CUDA Loop has not
    // been run here (no GPU), so those providers take one session call per step.
    if (!this.fused || this.provider !== 'cpu' || lists.length === 1) {
      const out: StepResult[] = [];
      for (const list of lists) out.push(await this.trainStep(list, options));
      return out;
    }
    const batches = lists.map((l) => l[0] as Batch);
    const fused = this.fused;
    const k = batches.length;
    let loop = this.loops.get(k);
    if (!loop) {
      loop = this.open(stepLoopModel(fused.session.model, k));
      this.loops.set(k, loop);
    }
    const built = await loop;
    const first = this.stepCount + 1;
    const lrs = batches.map((_, i) => options.lr ?? this.lrAt(first + i));
    // Per-step feeds in step order, so random draws come out of the generator as trainStep takes them.
    const perStep: Record<string, HostTensor>[] = batches.map((b, i) => ({
      ...b,
      'optimizer.lr': scalarHost(lrs[i] as number),
      'optimizer.step': scalarHost(first + i),
      ...this.randomFeeds(fused.session),
    }));
    const feeds: Record<string, RunValue> = Object.fromEntries(this.values);
    for (const name of Object.keys(perStep[0] as Record<string, HostTensor>))
      feeds[`${STACKED_PREFIX}${name}`] = stackHost(perStep.map((f) => f[name] as HostTensor));
    const res = await this.runAndSwap(built, feeds, this.values.keys());
    const column = async (name: string): Promise<ConstData | null> => {
      const v = res[`${STACKED_PREFIX}${name}`];
      return v ? (await hostOf(v)).data : null;
    };
    const losses = await column('loss');
    const norms = await column('grad_norm');
    const metricCols: [string, ConstData][] = [];
    for (const key of Object.keys(res)) {
      if (!key.startsWith(`${STACKED_PREFIX}metric:`)) continue;
      const col = await column(key.slice(STACKED_PREFIX.length));
      if (col) metricCols.push([key.slice(STACKED_PREFIX.length + 'metric:'.length), col]);
    }
    this.stepCount += k;
    this.lastLr = lrs[k - 1] as number;
    return batches.map((_, i) => ({
      loss: Number(losses?.[i] ?? Number.NaN),
      gradNorm: Number(norms?.[i] ?? Number.NaN),
      lr: lrs[i] as number,
      step: first + i,
      metrics: Object.fromEntries(metricCols.map(([m, col]) => [m, Number(col[i])])),
    }));
  }

  /** Copies device-resident values back into the parameter store (webgpu); a no-op on CPU. */
  async syncToHost(): Promise<void> {
    for (const [name, v] of this.values) {
      if (v instanceof DeviceTensor && this.params.has(name)) this.params.set(name, await v.download());
    }
  }

  /**
   * Everything a bit-identical resume needs: every parameter by name, optimizer state as
   * `<slot>.<param>` (exp_avg.model.layers.0.self_attn.q_proj.weight), the step, the RNG state
   * (drives dropout) and the last learning rate. Maps one to one onto a checkpoint's
   * model.safetensors / optimizer.safetensors / trainer_state.json.
   */
  async exportState(): Promise<TrainerSnapshot> {
    const params = new Map<string, HostTensor>();
    for (const s of this.specs) {
      const v = this.values.get(s.name);
      params.set(s.name, v ? await hostOf(v) : this.params.get(s.name));
    }
    const optimizerState = new Map<string, HostTensor>();
    for (const [name, v] of this.values)
      if (name.startsWith(OPT)) optimizerState.set(name.slice(OPT.length), await hostOf(v));
    return { params, optimizerState, step: this.stepCount, rng: this.rng.state(), lastLr: this.lastLr };
  }

  /** Restores what exportState produced (values are copied into this trainer's own buffers). */
  async importState(snapshot: TrainerSnapshot): Promise<void> {
    const check = (name: string, v: HostTensor | undefined, shape: Shape, dtype: DType): HostTensor => {
      if (!v) throw new FeedError(`trainer state is missing "${name}"`);
      if (v.dims.length !== shape.length || v.dims.some((d, i) => d !== shape[i]) || v.dtype !== dtype) {
        throw new FeedError(
          `trainer state "${name}" expects ${dtype}[${shape.join(',')}], got ${v.dtype}[${v.dims.join(',')}]`,
        );
      }
      return v;
    };
    for (const s of this.specs)
      this.params.copyFrom(s.name, check(s.name, snapshot.params.get(s.name), s.shape, s.dtype).data);
    for (const [name, cur] of this.values) {
      const spec = this.valueSpecs.get(name) as ParamSpec;
      const v = name.startsWith(OPT)
        ? check(
            name.slice(OPT.length),
            snapshot.optimizerState.get(name.slice(OPT.length)),
            spec.shape,
            spec.dtype,
          )
        : this.params.get(name);
      if (cur instanceof DeviceTensor) {
        cur.dispose();
        this.values.set(name, { dtype: v.dtype, dims: v.dims, data: v.data.slice() as ConstData });
      } else if (cur !== v) (cur.data as Float32Array).set(v.data as Float32Array);
    }
    this.stepCount = snapshot.step;
    this.lastLr = snapshot.lastLr;
    this.rng = Rng.fromState(snapshot.rng);
  }
}

/**
 * Members of one grouped update on webgpu. Each WebGPU shader binds every input and output of its
 * node as a storage buffer, and the group's Split writes one output per member: WebGPU's default
 * limit is 8 storage buffers per shader stage (lavapipe reports 16; a 17-way Split failed there).
 */
const WEBGPU_MAX_GROUP = 7;

/** The trainer's resumable state (see Trainer.exportState). */
export interface TrainerSnapshot {
  params: Map<string, HostTensor>;
  optimizerState: Map<string, HostTensor>;
  step: number;
  rng: RngState;
  lastLr: number;
}

/**
 * Indices of `specs` in update groups: every large parameter alone, small ones (when the optimizer
 * is elementwise) grouped by dtype and decay flag, in first-appearance order, at most `maxMembers`
 * to a group.
 */
export function updateGroups(
  specs: readonly ParamSpec[],
  elementwise: boolean,
  maxElements: number,
  maxMembers = Number.POSITIVE_INFINITY,
): number[][] {
  const groups: number[][] = [];
  const byKey = new Map<string, number[]>();
  specs.forEach((s, i) => {
    if (!elementwise || numel(s.shape) > maxElements) {
      groups.push([i]);
      return;
    }
    const key = `${s.dtype}|${s.decay}`;
    let g = byKey.get(key);
    if (!g || g.length >= maxMembers) {
      g = [];
      byKey.set(key, g);
      groups.push(g);
    }
    g.push(i);
  });
  return groups;
}

function scalarHost(v: number): HostTensor {
  return { dtype: 'float32', dims: [], data: Float32Array.of(v) };
}

/** Tensors of one dtype and shape stacked along a new leading axis. */
function stackHost(parts: readonly HostTensor[]): HostTensor {
  const head = parts[0] as HostTensor;
  const n = head.data.length;
  const data = allocHost(head.dtype, [parts.length * n]).data;
  parts.forEach((p, i) => {
    (data as Float32Array).set(p.data as Float32Array, i * n);
  });
  return { dtype: head.dtype, dims: [parts.length, ...head.dims], data };
}

async function hostOf(v: RunValue): Promise<HostTensor> {
  return isHostTensor(v) ? v : v.download();
}

async function scalarOf(v: RunValue | undefined): Promise<number> {
  if (!v) return Number.NaN;
  const h = await hostOf(v);
  return Number(h.data[0]);
}

/**
 * A compiled forward pass (inference or evaluation): parameters fed from a store without copies.
 * The spec's dims may be symbolic (`{ ids: { dtype: 'int64', shape: ['batch', 'seq'] } }`): one
 * session then serves every batch size and length (attention needs `maxSeqLen` for a symbolic
 * sequence), and `run` checks that each symbol takes one value across the inputs.
 */
export class Forward {
  private constructor(
    private readonly built: Built,
    private readonly store: ParamStore,
    private readonly paramNames: string[],
  ) {}

  static async create(
    model: (g: Graph, inputs: Readonly<Record<string, Tensor>>) => Record<string, Tensor>,
    inputs: BatchSpec,
    store: ParamStore,
    options: {
      provider?: ProviderName | 'auto';
      intraOpThreads?: number;
      seed?: number;
      memoryArena?: boolean;
    } = {},
  ): Promise<Forward> {
    const g = new Graph({ name: 'forward' });
    const ins = Object.fromEntries(Object.entries(inputs).map(([k, s]) => [k, g.input(k, s.dtype, s.shape)]));
    for (const [k, t] of Object.entries(model(g, ins))) g.output(k, t);
    store.initMissing(
      [...g.params.values()].map((p) => p.spec),
      Rng.fromSeed(options.seed ?? 0, 'init'),
    );
    const provider = await resolveProvider(options.provider ?? 'cpu');
    const emitted = emitModel(g, { provider });
    const session = await getSession(emitted, {
      provider,
      intraOpThreads: options.intraOpThreads ?? 0,
      ...(options.memoryArena !== undefined ? { memoryArena: options.memoryArena } : {}),
    });
    return new Forward({ session, outputs: emitted.outputs.map((o) => o.name) }, store, [...g.params.keys()]);
  }

  async run(inputs: Batch): Promise<Record<string, HostTensor>> {
    const feeds: Record<string, RunValue> = { ...inputs };
    for (const n of this.paramNames) feeds[n] = this.store.get(n);
    const res = await this.built.session.run(feeds);
    const out: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = await hostOf(v);
    return out;
  }
}
