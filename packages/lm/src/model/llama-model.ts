/**
 * A loaded decoder: config, float32 weights and the compiled ORT sessions for the shapes it has run
 * (shapes are static, so each (batch, length, capacity) gets its own session, built once). Weights go
 * into inference sessions as initializers by default (ORT can pre-pack them: fastest), or as graph
 * inputs fed without copying (one copy of the weights however many sessions exist).
 */
import { Rng, UsageError } from '@gopo/core';
import {
  type Dim,
  type EmittedModel,
  emitModel,
  type FloatDType,
  Graph,
  type GraphSession,
  getSession,
  type HostTensor,
  initParam,
  type ProviderRequest,
  resolveProvider,
  type Tensor,
} from '@gopo/nn';
import { decodeLoopModel } from '../generate/decode-loop.js';
import {
  type GenerateExtras,
  type GenerateOptionsInput,
  type GenerationResult,
  generate,
} from '../generate/generate.js';
import { type LlamaConfig, type LlamaConfigInput, LlamaConfigSchema, llamaDims } from './config.js';
import { type KvPair, llamaForward, llamaParamShapes, llamaStep, llamaTokenLogProbs } from './model.js';
import { type LlamaWeights, loadLlamaDir, saveLlamaDir } from './weights.js';

export interface LlamaModelOptions {
  /** Execution provider for inference sessions. */
  provider?: ProviderRequest;
  /** ORT intra-op threads (0: ORT decides). */
  intraOpThreads?: number;
  /**
   * Whether ORT's worker threads spin while waiting for work (default false: they sleep). On a
   * machine shared with other jobs spinning workers fight those jobs for the cores: greedy decoding
   * on the 2-core benchmark machine at load 8-12 ran about 2x faster without spinning, at every
   * batch size. Spinning may win a little on an otherwise idle machine.
   */
  intraOpSpinning?: boolean;
  /**
   * 'initializers' (fastest: ORT pre-packs them, but every compiled shape holds its own copy),
   * 'inputs' (one copy fed to every session without copying), or 'auto' (default): initializers up
   * to AUTO_INITIALIZER_BYTES of weights, inputs above, so a real checkpoint does not multiply its
   * memory by the number of compiled shapes.
   */
  weightsAs?: 'initializers' | 'inputs' | 'auto';
}

/** Weight bytes up to which 'auto' bakes weights into each session (32 M float32 parameters). */
export const AUTO_INITIALIZER_BYTES = 128 * 2 ** 20;

/** Rounds n up to a multiple of `m`. */
export const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

export const int64 = (values: ArrayLike<number>, dims: number[]): HostTensor => ({
  dtype: 'int64',
  dims,
  data: BigInt64Array.from(Array.from(values, (v) => BigInt(v))),
});

/** Names of the cache tensors of layer i. */
export const pastName = (i: number, kind: 'key' | 'value') => `past_key_values.${i}.${kind}`;
export const presentName = (i: number, kind: 'key' | 'value') => `present.${i}.${kind}`;

export interface CompiledGraph {
  session: GraphSession;
  /** Weight feeds (empty when weights are initializers). */
  weightFeeds: Record<string, HostTensor>;
}

export class LlamaModel {
  private readonly sessions = new Map<string, Promise<CompiledGraph>>();

  constructor(
    readonly config: LlamaConfig,
    readonly weights: LlamaWeights,
    readonly options: LlamaModelOptions = {},
  ) {
    const expected = llamaParamShapes(config);
    for (const [name, shape] of expected) {
      const w = weights.get(name);
      if (!w) throw new Error(`LlamaModel: weight "${name}" is missing`);
      if (w.shape.join(',') !== shape.join(',') || w.data.length !== shape.reduce((a, b) => a * b, 1))
        throw new Error(`LlamaModel: weight "${name}" has shape [${w.shape}], expected [${shape}]`);
    }
  }

  /** Loads a Hugging Face model directory (config.json + model.safetensors). */
  static async fromPretrained(dir: string, options: LlamaModelOptions = {}): Promise<LlamaModel> {
    const { config, weights } = await loadLlamaDir(dir);
    return new LlamaModel(config, weights, options);
  }

  /** A randomly initialised model (normal(0, initializer_range) matrices, unit norms), seeded. */
  static random(config: LlamaConfigInput, seed = 0, options: LlamaModelOptions = {}): LlamaModel {
    const cfg = LlamaConfigSchema.parse(config);
    const g = new Graph({ name: 'init' });
    llamaForward(g, g.input('ids', 'int64', [1, 1]), cfg);
    const rng = Rng.fromSeed(seed, 'llama-init');
    const weights: LlamaWeights = new Map();
    for (const [name, shape] of llamaParamShapes(cfg)) {
      const spec = g.params.get(name)?.spec;
      if (!spec) throw new Error(`LlamaModel.random: graph has no parameter ${name}`);
      weights.set(name, { shape, data: initParam(spec, rng.derive(name)).data as Float32Array });
    }
    return new LlamaModel(cfg, weights, options);
  }

  /** Total bytes of the float32 weights. */
  get weightBytes(): number {
    let n = 0;
    for (const w of this.weights.values()) n += w.data.byteLength;
    return n;
  }

  get dims() {
    return llamaDims(this.config);
  }

  /** Writes config.json + model.safetensors (float32, HF names) into `dir`, file by file atomically. */
  async save(dir: string, extra: Record<string, string | Uint8Array> = {}): Promise<void> {
    await saveLlamaDir(dir, this.config, this.weights, extra);
  }

  /** Weights as HostTensors (for feeds, export and training stores). */
  weightTensor(name: string): HostTensor {
    const w = this.weights.get(name);
    if (!w) throw new Error(`no weight named "${name}"`);
    return { dtype: 'float32', dims: w.shape, data: w.data };
  }

  /** Builds (once per key) a session for the graph `build` makes. */
  compile(
    key: string,
    build: (g: Graph) => Record<string, Tensor>,
    options: {
      weightsAs?: 'initializers' | 'inputs';
      /** Rewrites the emitted model before it is compiled (e.g. wraps it in a Loop). */
      transform?: (model: EmittedModel) => EmittedModel;
    } = {},
  ): Promise<CompiledGraph> {
    const requested = options.weightsAs ?? this.options.weightsAs ?? 'auto';
    const weightsAs =
      requested === 'auto'
        ? this.weightBytes <= AUTO_INITIALIZER_BYTES
          ? 'initializers'
          : 'inputs'
        : requested;
    const full = `${key}|${weightsAs}`;
    let hit = this.sessions.get(full);
    if (!hit) {
      hit = (async () => {
        const g = new Graph({ name: key.split(':')[0] ?? 'llama' });
        for (const [name, t] of Object.entries(build(g))) g.output(name, t);
        const paramNames = [...g.params.keys()];
        const values = new Map(paramNames.map((n) => [n, this.weightTensor(n).data]));
        const provider = await resolveProvider(this.options.provider ?? 'cpu');
        const emitted = emitModel(g, {
          provider,
          ...(weightsAs === 'initializers' ? { paramValues: values } : {}),
        });
        const session = await getSession(options.transform ? options.transform(emitted) : emitted, {
          provider,
          intraOpThreads: this.options.intraOpThreads ?? 0,
          allowSpinning: this.options.intraOpSpinning ?? false,
          // One session per (batch, cache) shape, kept for the model's life: with ORT's arena each kept
          // its peak, and gopo cs rl grew past 14 GB in its first phase (1.4-3.2 GB without).
          memoryArena: false,
        });
        const weightFeeds: Record<string, HostTensor> = {};
        if (weightsAs === 'inputs') for (const n of paramNames) weightFeeds[n] = this.weightTensor(n);
        return { session, weightFeeds };
      })();
      hit.catch(() => this.sessions.delete(full));
      this.sessions.set(full, hit);
    }
    return hit;
  }

  /** Runs a compiled graph with `feeds` (weights added). */
  async run(
    compiled: CompiledGraph,
    feeds: Record<string, HostTensor>,
    into: Record<string, HostTensor> = {},
  ): Promise<Record<string, HostTensor>> {
    const out = await compiled.session.run({ ...feeds, ...compiled.weightFeeds }, into);
    return out as Record<string, HostTensor>;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Logits [B, T, V] for a rectangular batch `ids` [B][T] with an optional attention mask (1 = real
   * token; positions follow the mask, so left and right padding both work).
   */
  async logits(
    ids: readonly (readonly number[])[],
    mask?: readonly (readonly number[])[],
  ): Promise<HostTensor> {
    const [b, t] = rectangular(ids, 'ids');
    if (mask) {
      const [mb, mt] = rectangular(mask, 'mask');
      if (mb !== b || mt !== t) throw new UsageError(`mask is [${mb}, ${mt}] but ids are [${b}, ${t}]`);
    }
    const compiled = await this.compile(`logits:${b}x${t}:${mask ? 'mask' : 'nomask'}`, (g) => {
      const x = g.input('input_ids', 'int64', [b, t]);
      const m = mask ? g.input('attention_mask', 'int64', [b, t]) : undefined;
      return { logits: llamaForward(g, x, this.config, { attentionMask: m }).logits };
    });
    const feeds: Record<string, HostTensor> = { input_ids: int64(ids.flat(), [b, t]) };
    if (mask) feeds.attention_mask = int64(mask.flat(), [b, t]);
    return (await this.run(compiled, feeds)).logits as HostTensor;
  }

  /** Session for a prefill of [B, P] left-padded prompts into a cache of capacity C (last logits). */
  prefillGraph(b: number, p: number, cap: number): Promise<CompiledGraph> {
    return this.compile(`prefill:${b}x${p}:${cap}`, (g) => {
      const ids = g.input('input_ids', 'int64', [b, p]);
      const mask = g.input('attention_mask', 'int64', [b, p]);
      const pos = g.input('position_ids', 'int64', [b, p]);
      const r = llamaForward(g, ids, this.config, {
        attentionMask: mask,
        positions: pos,
        cacheCapacity: cap,
        maxPositions: cap,
        lastOnly: true,
      });
      return { logits: r.logits, ...presentOutputs(r.present) };
    });
  }

  /** Session for a cached step of T tokens per row against a cache of capacity C (last logits). */
  stepGraph(b: number, t: number, cap: number, options: { lastOnly?: boolean; dtype?: FloatDType } = {}) {
    const lastOnly = options.lastOnly ?? true;
    return this.compile(`step:${b}x${t}:${cap}:${lastOnly}`, (g) =>
      buildStepGraph(g, this.config, b, t, cap, lastOnly),
    );
  }

  /**
   * Session for greedy decoding of up to `max_steps` tokens per run at batch B against a cache of
   * capacity C: the one-token step in an ONNX Loop with the argmax in the graph (see decode-loop.ts).
   */
  decodeLoopGraph(b: number, cap: number): Promise<CompiledGraph> {
    return this.compile(`decode:${b}x1:${cap}`, (g) => buildStepGraph(g, this.config, b, 1, cap, true), {
      transform: decodeLoopModel,
    });
  }

  /** Session for the last-position logits of [B, L] left-padded sequences, no cache (the slow path). */
  lastLogitsGraph(b: number, l: number): Promise<CompiledGraph> {
    return this.compile(`last:${b}x${l}`, (g) => {
      const ids = g.input('input_ids', 'int64', [b, l]);
      const mask = g.input('attention_mask', 'int64', [b, l]);
      return { logits: llamaForward(g, ids, this.config, { attentionMask: mask, lastOnly: true }).logits };
    });
  }

  /** Generates continuations of `prompts` (token ids); see `generate`. */
  generate(
    prompts: readonly (readonly number[])[],
    options: GenerateOptionsInput = {},
    extras: GenerateExtras = {},
  ): Promise<GenerationResult[]> {
    return generate(this, prompts, options, extras);
  }

  /**
   * Per-token log-probs of `continuations[i]` after `prompts[i]` (batched, right padded), and their
   * sums: log p(c_j | prompt, c_<j). Built from `llamaTokenLogProbs`, the same graph training uses.
   */
  async scoreContinuations(
    prompts: readonly (readonly number[])[],
    continuations: readonly (readonly number[])[],
    options: { padId?: number; lengthMultiple?: number } = {},
  ): Promise<{ logprobs: number[][]; sums: number[] }> {
    if (prompts.length !== continuations.length)
      throw new UsageError(`${prompts.length} prompts but ${continuations.length} continuations`);
    const b = prompts.length;
    if (b === 0) return { logprobs: [], sums: [] };
    prompts.forEach((p, i) => {
      if (p.length === 0)
        throw new UsageError(`prompt ${i} is empty (the first continuation token needs context)`);
    });
    const seqs = prompts.map((p, i) => [...p, ...(continuations[i] as number[])]);
    const t = roundUp(Math.max(2, ...seqs.map((s) => s.length)), options.lengthMultiple ?? 8);
    const pad = options.padId ?? this.config.pad_token_id ?? 0;
    const ids = new Array<number>(b * t).fill(pad);
    const mask = new Array<number>(b * t).fill(0);
    seqs.forEach((s, i) => {
      for (let j = 0; j < s.length; j++) {
        ids[i * t + j] = s[j] as number;
        mask[i * t + j] = 1;
      }
    });
    const compiled = await this.compile(`score:${b}x${t}`, (g) => {
      const x = g.input('input_ids', 'int64', [b, t]);
      const m = g.input('attention_mask', 'int64', [b, t]);
      return { logprobs: llamaTokenLogProbs(g, x, this.config, { attentionMask: m }) };
    });
    const out = await this.run(compiled, {
      input_ids: int64(ids, [b, t]),
      attention_mask: int64(mask, [b, t]),
    });
    const lp = out.logprobs?.data as Float32Array;
    const logprobs = seqs.map((s, i) => {
      const start = (prompts[i] as number[]).length - 1;
      return Array.from(lp.subarray(i * (t - 1) + start, i * (t - 1) + s.length - 1));
    });
    return { logprobs, sums: logprobs.map((r) => r.reduce((a, v) => a + v, 0)) };
  }
}

function rectangular(rows: readonly (readonly number[])[], what: string): [number, number] {
  const b = rows.length;
  const t = rows[0]?.length ?? 0;
  if (b === 0 || t === 0) throw new UsageError(`${what} is empty`);
  rows.forEach((r, i) => {
    if (r.length !== t)
      throw new UsageError(`${what} row ${i} has ${r.length} entries, row 0 has ${t} (pad first)`);
  });
  return [b, t];
}

export function presentOutputs(present: readonly KvPair[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  present.forEach((kv, i) => {
    out[presentName(i, 'key')] = kv.key;
    out[presentName(i, 'value')] = kv.value;
  });
  return out;
}

/**
 * The cached step graph with its I/O contract (also what `exportLlamaOnnx` writes): inputs
 * input_ids [B, T], position_ids [B, T], attention_mask [B, C] (int64, 1 = slot of the present
 * cache holds a real token), past_key_values.{i}.key/value [B, kvH, C, hd]; outputs logits ([B, V],
 * or [B, T, V] when lastOnly is false) and present.{i}.key/value = concat(past, new)[:, :, T:].
 * B and T may be symbol names (one graph for every batch size and chunk length T <= C).
 */
export function buildStepGraph(
  g: Graph,
  cfg: LlamaConfig,
  b: Dim,
  t: Dim,
  cap: number,
  lastOnly: boolean,
  maxPositions = cap,
): Record<string, Tensor> {
  const d = llamaDims(cfg);
  const ids = g.input('input_ids', 'int64', [b, t]);
  const pos = g.input('position_ids', 'int64', [b, t]);
  const mask = g.input('attention_mask', 'int64', [b, cap]);
  const past: KvPair[] = [];
  for (let i = 0; i < d.layers; i++) {
    past.push({
      key: g.input(pastName(i, 'key'), 'float32', [b, d.kvHeads, cap, d.headDim]),
      value: g.input(pastName(i, 'value'), 'float32', [b, d.kvHeads, cap, d.headDim]),
    });
  }
  const r = llamaStep(g, ids, cfg, { past, attentionMask: mask, positions: pos, lastOnly, maxPositions });
  return { logits: r.logits, ...presentOutputs(r.present) };
}
