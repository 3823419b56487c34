/**
 * The Llama-family decoder as graph builders over @gopo/nn: RMSNorm, rotate-half RoPE, grouped-query
 * attention, SwiGLU, optional tied embeddings and q/k/v biases (Qwen2). Parameters carry Hugging Face
 * names (`model.layers.0.self_attn.q_proj.weight`, Linear weights [out, in]) so safetensors load and
 * save without renaming, and the same builders serve training graphs (SFT, LoRA, preference losses),
 * inference sessions and the exported .onnx.
 *
 * KV cache layout: `past_key_values.{i}.key` / `.value` and `present.{i}.key` / `.value` are
 * float [batch, num_key_value_heads, capacity, head_dim] holding the (already rotated) keys and the
 * values of the last `capacity` tokens, oldest first and newest in the last slot; a step of T tokens
 * shifts the window by T. Capacity is fixed per graph; an attention mask over the slots tells real
 * tokens from padding and empty slots. The cached step also takes symbolic batch and token dims
 * (one graph for every batch size and chunk length up to the capacity: the exported .onnx).
 */
import {
  type Dim,
  dimMul,
  dimSub,
  embedding,
  type FloatDType,
  type Graph,
  hiddenPadding,
  isStaticDim,
  linear,
  rmsNorm,
  SLICE_END,
  type Tensor,
  targetLogProbs,
} from '@gopo/nn';
import { type LlamaConfig, type LlamaDims, llamaDims, ropeInvFreq } from './config.js';

/** Per-call inputs of the full (uncached) forward pass. */
export interface LlamaGraphOptions {
  /** [B, T] bool or int64 (1 / true = real token); masked keys get no attention. */
  attentionMask?: Tensor;
  /**
   * [B, T, T] or [1, T, T] bool or int64: query i may attend to key j (on top of the causal and
   * padding masks). A block diagonal over segment ids (`attendMaskFromSegments`) keeps examples
   * packed into one row from seeing each other. A query always sees itself, so no softmax row is empty.
   */
  attendMask?: Tensor;
  /**
   * int64 [B, T] or [T] RoPE positions. Default: with an attend mask, the number of keys the query
   * may see (itself included) minus one, so positions restart at 0 in each packed block; with only
   * an attention mask, max(cumsum(mask) - 1, 0) per row (so left padding starts real tokens at 0);
   * without either, 0..T-1.
   */
  positions?: Tensor;
  /** Module scope the parameter names go under (e.g. 'ref' for a frozen reference copy). */
  scope?: string;
  /** Float dtype of parameters and activations (float64 for gradient checks). */
  dtype?: FloatDType;
  /** Rows of the RoPE tables: every position must be below it (default T). */
  maxPositions?: number;
}

export interface LlamaForwardOptions extends LlamaGraphOptions {
  /** Also return the keys/values as a cache window of this many slots (>= T), the T tokens last. */
  cacheCapacity?: number;
  /** Logits of the last position only ([B, V]) instead of every position ([B, T, V]). */
  lastOnly?: boolean;
  /**
   * 'hidden' returns the final-normed hidden states ([B, T, d] or [B, d]) instead of logits, for heads
   * that score a few vocabulary rows only (`llamaHeadWeight`), such as the Expert Agent's strategy head.
   */
  output?: 'logits' | 'hidden';
}

export interface KvPair {
  key: Tensor;
  value: Tensor;
}

export interface LlamaForwardResult {
  /** [B, T, V], or [B, V] with lastOnly (hidden states [B, T, d] / [B, d] with output 'hidden'). */
  logits: Tensor;
  /** Per layer, [B, kvHeads, capacity, headDim] (only with cacheCapacity). */
  present: KvPair[];
}

/** Per-call inputs of a cached step (T new tokens; the cache is a window of the last C tokens). */
export interface LlamaStepOptions {
  /** Per layer past keys/values [B, kvHeads, C, headDim], newest token in the last slot. */
  past: readonly KvPair[];
  /**
   * [B, C] bool or int64 over the slots of the *present* cache (past shifted left by T, the T new
   * tokens in the last T slots): 1 where the slot holds a real token.
   */
  attentionMask: Tensor;
  /** int64 [B, T] RoPE positions of the new tokens. */
  positions: Tensor;
  /** Rows of the RoPE tables: every position must be below it (default C). */
  maxPositions?: number;
  scope?: string;
  lastOnly?: boolean;
}

interface Ctx {
  g: Graph;
  d: LlamaDims;
  cfg: LlamaConfig;
  dtype: FloatDType;
  /** Additive mask broadcastable to scores [B, kvH, group, T, S]. */
  maskAdd: Tensor;
  /** RoPE cos/sin for the current tokens, [B, T, 1, hd] (q tables carry 1/sqrt(hd)). */
  rope: { qCos: Tensor; qSin: Tensor; kCos: Tensor; kSin: Tensor };
}

const NEG = { float32: -1e9, float64: -1e30 } as const;

function withScope<T>(g: Graph, scope: string | undefined, fn: () => T): T {
  return scope ? g.scope(scope, fn) : fn();
}

function asBool(g: Graph, m: Tensor): Tensor {
  if (m.dtype === 'bool') return m;
  if (m.dtype === 'int64') return g.greater(m, g.scalar(0, 'int64'));
  return g.greater(m, g.scalar(0, m.dtype));
}

/** max(cumsum(mask) - 1, 0) per row, as int64 [B, T] (cumsum as a matmul with a triangle of ones). */
export function positionsFromMask(g: Graph, mask: Tensor): Tensor {
  const [b, t] = mask.shape as [number, number];
  const tri = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i; j < t; j++) tri[i * t + j] = 1;
  const f = g.cast(asBool(g, mask), 'float32');
  const cum = g.matmul(f, g.constant(tri, 'float32', [t, t], `upper_ones_${t}`));
  const pos = g.max(g.sub(cum, 1), 0);
  return g.reshape(g.cast(pos, 'int64'), [b, t]);
}

/**
 * bool [B, T, T] block diagonal of segment ids [B, T] (any integer dtype): query i may see key j
 * when both belong to the same packed example. Padding should carry its own id (e.g. -1); it then
 * sees only other padding, which the loss ignores.
 */
export function attendMaskFromSegments(g: Graph, segments: Tensor): Tensor {
  if (segments.rank !== 2) g.fail('attendMaskFromSegments', [segments], 'segments must be [B, T]');
  const [b, t] = segments.shape as [number, number];
  return g.equal(g.reshape(segments, [b, t, 1]), g.reshape(segments, [b, 1, t]));
}

/**
 * cos and signed sin tables [rows, hd] in rotate-half layout: rope(x) = x cos + swapHalves(x) sin,
 * with the sign of rotate_half folded into the first half of sin. `factor` scales both (q gets
 * 1/sqrt(hd), the attention scale, for free).
 */
function ropeTables(
  g: Graph,
  cfg: LlamaConfig,
  rows: number,
  dtype: FloatDType,
  factor: number,
  tag: string,
) {
  const inv = ropeInvFreq(cfg);
  const half = inv.length;
  const hd = half * 2;
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const cos = new Arr(rows * hd);
  const sin = new Arr(rows * hd);
  for (let p = 0; p < rows; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * (inv[i] as number);
      const c = Math.cos(a) * factor;
      const s = Math.sin(a) * factor;
      cos[p * hd + i] = c;
      cos[p * hd + i + half] = c;
      sin[p * hd + i] = -s;
      sin[p * hd + i + half] = s;
    }
  }
  return {
    cos: g.constant(cos, dtype, [rows, hd], `rope_cos_${tag}_${rows}`),
    sin: g.constant(sin, dtype, [rows, hd], `rope_sin_${tag}_${rows}`),
  };
}

function ropeFor(
  g: Graph,
  cfg: LlamaConfig,
  d: LlamaDims,
  positions: Tensor,
  rows: number,
  dtype: FloatDType,
) {
  const [b, t] =
    positions.shape.length === 1 ? [1, positions.shape[0] as Dim] : (positions.shape as [Dim, Dim]);
  const pick = (tab: Tensor) => g.reshape(g.gather(tab, positions, 0), [b, t, 1, d.headDim]);
  const q = ropeTables(g, cfg, rows, dtype, 1 / Math.sqrt(d.headDim), 'q');
  const k = ropeTables(g, cfg, rows, dtype, 1, 'k');
  return { qCos: pick(q.cos), qSin: pick(q.sin), kCos: pick(k.cos), kSin: pick(k.sin) };
}

/** x [B, T, H*hd] -> rope(x) as [B, T, H, hd]. */
function applyRope(g: Graph, x: Tensor, heads: number, hd: number, cos: Tensor, sin: Tensor): Tensor {
  const [b, t] = x.shape as [Dim, Dim, Dim];
  const x4 = g.reshape(x, [b, t, heads, hd]);
  const [x1, x2] = g.split(x4, [hd / 2, hd / 2], 3) as [Tensor, Tensor];
  const swapped = g.concat([x2, x1], 3);
  return g.add(g.mul(x4, cos), g.mul(swapped, sin));
}

function projections(c: Ctx, x: Tensor) {
  const { g, d } = c;
  const init = { initScale: (c.cfg as { initializer_range?: number }).initializer_range ?? 0.02 };
  const q = linear(g, 'q_proj', x, d.heads * d.headDim, { bias: d.qkvBias, ...init });
  const k = linear(g, 'k_proj', x, d.kvHeads * d.headDim, { bias: d.qkvBias, ...init });
  const v = linear(g, 'v_proj', x, d.kvHeads * d.headDim, { bias: d.qkvBias, ...init });
  return {
    q: applyRope(g, q, d.heads, d.headDim, c.rope.qCos, c.rope.qSin),
    k: applyRope(g, k, d.kvHeads, d.headDim, c.rope.kCos, c.rope.kSin),
    v,
  };
}

/** softmax(q k^T + mask) v for q [B, T, H, hd] (scaled), kT [B, kvH, 1, hd, S], v [B, kvH, 1, S, hd]. */
function attend(c: Ctx, q: Tensor, kT: Tensor, v: Tensor, x: Tensor): Tensor {
  const { g, d } = c;
  const [b, t] = q.shape as [number, number];
  const group = d.heads / d.kvHeads;
  const q5 = g.transpose(g.reshape(q, [b, t, d.kvHeads, group, d.headDim]), [0, 2, 3, 1, 4]);
  const scores = g.add(g.matmul(q5, kT), c.maskAdd);
  const ctx = g.matmul(g.softmax(scores, -1), v); // [B, kvH, group, T, hd]
  const merged = g.reshape(g.transpose(ctx, [0, 3, 1, 2, 4]), [b, t, d.heads * d.headDim]);
  const init = { initScale: (c.cfg as { initializer_range?: number }).initializer_range ?? 0.02 };
  return linear(g, 'o_proj', merged, x.shape[2] as number, { bias: d.oBias, ...init });
}

function mlpBlock(c: Ctx, x: Tensor): Tensor {
  const { g, d, cfg } = c;
  const init = { initScale: (cfg as { initializer_range?: number }).initializer_range ?? 0.02 };
  // Over many tokens the hidden activation is stored paddedWidth wide (zero columns meet zero weight
  // columns), keeping down_proj's and up_proj's input-gradient Gemms off a 4 KiB row stride (@gopo/nn).
  const padOut = hiddenPadding(x, d.mlp);
  return g.scope('mlp', () => {
    const gate = g.silu(linear(g, 'gate_proj', x, d.mlp, { bias: cfg.mlp_bias, padOut, ...init }));
    const up = linear(g, 'up_proj', x, d.mlp, { bias: cfg.mlp_bias, padOut, ...init });
    return linear(g, 'down_proj', g.mul(gate, up), d.hidden, {
      bias: cfg.mlp_bias,
      inFeatures: d.mlp,
      ...init,
    });
  });
}

type AttnFn = (layer: number, h: Tensor) => Tensor;

function decoder(c: Ctx, ids: Tensor, attn: AttnFn, lastOnly: boolean, hidden = false): Tensor {
  const { g, d, cfg, dtype } = c;
  const [b, t] = ids.shape as [Dim, Dim];
  let x = g.scope('model', () => embedding(g, 'embed_tokens', ids, d.vocab, d.hidden, dtype));
  for (let i = 0; i < d.layers; i++) {
    x = g.scope('model', () =>
      g.scope('layers', () =>
        g.scope(String(i), () => {
          const normed = rmsNorm(g, 'input_layernorm', x, cfg.rms_norm_eps);
          const a = g.scope('self_attn', () => attn(i, normed));
          const h = g.add(x, a);
          return g.add(h, mlpBlock(c, rmsNorm(g, 'post_attention_layernorm', h, cfg.rms_norm_eps)));
        }),
      ),
    );
  }
  if (lastOnly && (!isStaticDim(t) || t > 1)) x = g.slice(x, [-1], [SLICE_END], [1]);
  const rows = lastOnly ? 1 : t;
  x = g.scope('model', () => rmsNorm(g, 'norm', x, cfg.rms_norm_eps));
  if (hidden) return lastOnly ? g.reshape(x, [b, d.hidden]) : x;
  const flat = g.reshape(x, [dimMul(b, rows), d.hidden]);
  let logits: Tensor;
  if (cfg.tie_word_embeddings) {
    const w = llamaHeadWeight(g, cfg, dtype);
    logits = g.scope('lm_head', () => g.gemm(flat, w, null, { transB: true }));
  } else {
    logits = linear(g, 'lm_head', flat, d.vocab, { dtype });
  }
  return g.reshape(logits, lastOnly ? [b, d.vocab] : [b, t, d.vocab]);
}

/**
 * The output head's weight [V, d] under its Hugging Face name (the tied `model.embed_tokens.weight`,
 * or `lm_head.weight`), for heads that score a subset of the vocabulary from hidden states.
 */
export function llamaHeadWeight(g: Graph, cfg: LlamaConfig, dtype: FloatDType = 'float32'): Tensor {
  const d = llamaDims(cfg);
  if (cfg.tie_word_embeddings)
    return g.scope('model', () =>
      g.scope('embed_tokens', () => g.param('weight', [d.vocab, d.hidden], { decay: false, dtype })),
    );
  // The same spec `linear` gives lm_head, so either path creates one parameter.
  return g.scope('lm_head', () =>
    g.param('weight', [d.vocab, d.hidden], { init: { kind: 'normal', scale: 0.02 }, decay: true, dtype }),
  );
}

/** Additive [B|1, 1, 1, T, S] mask from a bool "allowed" [B|1, T, S]. */
function additive(g: Graph, allowed: Tensor, dtype: FloatDType): Tensor {
  const [b, t, s] = allowed.shape as [number, number, number];
  return g.where(g.reshape(allowed, [b, 1, 1, t, s]), g.scalar(0, dtype), g.scalar(NEG[dtype], dtype));
}

/** Full forward over ids [B, T] (int64): logits and, with cacheCapacity, the KV cache it leaves. */
export function llamaForward(
  g: Graph,
  ids: Tensor,
  cfg: LlamaConfig,
  options: LlamaForwardOptions = {},
): LlamaForwardResult {
  if (ids.dtype !== 'int64' || ids.rank !== 2) g.fail('llamaForward', [ids], 'ids must be int64 [B, T]');
  if (!isStaticDim(ids.shape[1] as Dim))
    g.fail(
      'llamaForward',
      [ids],
      'the sequence length must be static here (a symbolic length is supported by llamaStep / exportLlamaOnnx)',
    );
  const [b, t] = ids.shape as [number, number];
  const dtype = options.dtype ?? 'float32';
  const d = llamaDims(cfg);
  const cap = options.cacheCapacity;
  if (cap !== undefined && cap < t)
    g.fail('llamaForward', [ids], `cache capacity ${cap} < sequence length ${t}`);
  const blocks = options.attendMask;
  if (blocks) {
    const [ab, at, ak] = blocks.shape as number[];
    if (blocks.rank !== 3 || (ab !== b && ab !== 1) || at !== t || ak !== t)
      g.fail('llamaForward', [ids, blocks], `attendMask must be [${b} or 1, ${t}, ${t}]`);
  }
  return withScope(g, options.scope, () => {
    const mask = options.attentionMask ? asBool(g, options.attentionMask) : null;
    const causal = new Uint8Array(t * t);
    for (let i = 0; i < t; i++) for (let j = 0; j <= i; j++) causal[i * t + j] = 1;
    let allowed = g.constant(causal, 'bool', [1, t, t], `causal_${t}`);
    if (mask) allowed = g.and(allowed, g.reshape(mask, [b, 1, t]));
    if (blocks) allowed = g.and(allowed, asBool(g, blocks));
    let positions = options.positions;
    if (!positions && blocks) {
      // Keys visible at or before the query, minus one: the position within its packed block.
      const seen = g.reduceSum(g.cast(allowed, 'float32'), [2]);
      const [ab] = allowed.shape as [number];
      positions = g.reshape(g.cast(g.max(g.sub(seen, 1), 0), 'int64'), [ab, t]);
    }
    positions ??= mask
      ? positionsFromMask(g, mask)
      : g.constant(
          BigInt64Array.from({ length: t }, (_, i) => BigInt(i)),
          'int64',
          [t],
          `arange_${t}`,
        );
    if (mask || blocks) {
      // A query with nothing else to see (padding) sees itself: no row is fully masked, so its
      // softmax (and gradient) is exact.
      const eye = new Uint8Array(t * t);
      for (let i = 0; i < t; i++) eye[i * t + i] = 1;
      const self = g.constant(eye, 'bool', [1, t, t], `eye_${t}`);
      allowed = g.not(g.and(g.not(allowed), g.not(self)));
    }
    const c: Ctx = {
      g,
      d,
      cfg,
      dtype,
      maskAdd: additive(g, allowed, dtype),
      rope: ropeFor(g, cfg, d, positions, options.maxPositions ?? t, dtype),
    };
    const present: KvPair[] = [];
    const attn: AttnFn = (_layer, h) => {
      const { q, k, v } = projections(c, h);
      const kT = g.transpose(g.reshape(k, [b, t, d.kvHeads, 1, d.headDim]), [0, 2, 3, 4, 1]);
      const v5 = g.transpose(g.reshape(v, [b, t, d.kvHeads, 1, d.headDim]), [0, 2, 3, 1, 4]);
      if (cap !== undefined) {
        const toCache = (x: Tensor) => {
          const x4 = g.reshape(x, [b, d.kvHeads, t, d.headDim]);
          return cap === t ? x4 : g.concat([g.zeros([b, d.kvHeads, cap - t, d.headDim], dtype), x4], 2);
        };
        present.push({
          key: toCache(g.transpose(k, [0, 2, 1, 3])),
          value: toCache(v5),
        });
      }
      return attend(c, q, kT, v5, h);
    };
    return {
      logits: decoder(c, ids, attn, options.lastOnly ?? false, options.output === 'hidden'),
      present,
    };
  });
}

/** Logits [B, T, V] of the decoder for ids [B, T]; the building block of training graphs. */
export function llamaLogits(
  g: Graph,
  ids: Tensor,
  cfg: LlamaConfig,
  options: LlamaGraphOptions = {},
): Tensor {
  return llamaForward(g, ids, cfg, options).logits;
}

/**
 * log p(ids[t+1] | ids[..t]) for every t < T-1, as [B, T-1]: the per-token log-probs RL and preference
 * losses use. Targets are the ids shifted left; positions past a row's end are whatever the masked
 * model gives (callers weight them by the mask).
 */
export function llamaTokenLogProbs(
  g: Graph,
  ids: Tensor,
  cfg: LlamaConfig,
  options: LlamaGraphOptions = {},
): Tensor {
  const [b, t] = ids.shape as [number, number];
  const logits = llamaLogits(g, ids, cfg, options);
  const head = g.slice(logits, [0], [t - 1], [1]);
  const targets = g.slice(ids, [1], [t], [1]);
  return g.reshape(targetLogProbs(g, head, targets), [b, t - 1]);
}

/**
 * llamaTokenLogProbs together with the final-normed hidden states [B, T, d] they are computed from,
 * from one forward pass: what a value head beside the LM head (token-level PPO) reads. The head is
 * the model's own (`llamaHeadWeight`), so the log-probs are exactly llamaTokenLogProbs'.
 */
export function llamaTokenLogProbsWithHidden(
  g: Graph,
  ids: Tensor,
  cfg: LlamaConfig,
  options: LlamaGraphOptions = {},
): { logprobs: Tensor; hidden: Tensor } {
  const [b, t] = ids.shape as [number, number];
  const d = llamaDims(cfg);
  const hidden = llamaForward(g, ids, cfg, { ...options, output: 'hidden' }).logits;
  const logits = withScope(g, options.scope, () => {
    const w = llamaHeadWeight(g, cfg, options.dtype ?? 'float32');
    const flat = g.reshape(hidden, [b * t, d.hidden]);
    return g.reshape(
      g.scope('lm_head', () => g.gemm(flat, w, null, { transB: true })),
      [b, t, d.vocab],
    );
  });
  const head = g.slice(logits, [0], [t - 1], [1]);
  const targets = g.slice(ids, [1], [t], [1]);
  return { logprobs: g.reshape(targetLogProbs(g, head, targets), [b, t - 1]), hidden };
}

/**
 * One cached step: T new tokens attend to the cache and to themselves. The cache is a window of the
 * last C tokens, newest at the end: present = concat(past, new)[:, :, T:] (HF's growing cache with the
 * oldest T slots dropped), so writing is two contiguous copies and needs no slot index. Keys are
 * stored rotated, so their positions survive the shift.
 */
export function llamaStep(
  g: Graph,
  ids: Tensor,
  cfg: LlamaConfig,
  options: LlamaStepOptions,
): { logits: Tensor; present: KvPair[] } {
  const [b, t] = ids.shape as [Dim, Dim];
  const d = llamaDims(cfg);
  if (options.past.length !== d.layers)
    g.fail('llamaStep', [ids], `${options.past.length} past layers for ${d.layers} layers`);
  const first = (options.past[0] as KvPair).key;
  const cap = first.shape[2] as number;
  if (!isStaticDim(cap)) g.fail('llamaStep', [ids, first], 'the cache capacity must be static');
  if (isStaticDim(t) && t > cap)
    g.fail('llamaStep', [ids, first], `${t} new tokens exceed the cache capacity ${cap}`);
  const dtype = first.dtype as FloatDType;
  const group = d.heads / d.kvHeads;
  return withScope(g, options.scope, () => {
    // New token j sits at present slot C - T + j: it sees slots up to its own (masked ones aside),
    // and always itself (a padding token then attends to itself only, never to nothing).
    // For a symbolic T the tables are those of T = C, whose last T rows are the ones for T.
    const n = isStaticDim(t) ? t : cap;
    const causal = new Uint8Array(n * cap);
    const self = new Uint8Array(n * cap);
    for (let j = 0; j < n; j++) {
      for (let s = 0; s <= cap - n + j; s++) causal[j * cap + s] = 1;
      self[j * cap + cap - n + j] = 1;
    }
    const window = (data: Uint8Array, name: string) => {
      const full = g.constant(data, 'bool', [1, n, cap], `${name}_${n}_${cap}`);
      return isStaticDim(t) ? full : g.slice(full, [dimSub(cap, t)], [cap], [1]);
    };
    const seen = g.and(
      window(causal, 'window_causal'),
      g.reshape(asBool(g, options.attentionMask), [b, 1, cap]),
    );
    const allowed = g.not(g.and(g.not(seen), g.not(window(self, 'window_self'))));
    const c: Ctx = {
      g,
      d,
      cfg,
      dtype,
      maskAdd: additive(g, allowed, dtype),
      rope: ropeFor(g, cfg, d, options.positions, options.maxPositions ?? cap, dtype),
    };
    const push = (past: Tensor, fresh: Tensor) => {
      if (!isStaticDim(t)) return g.slice(g.concat([past, fresh], 2), [-cap], [SLICE_END], [2]);
      const all = g.concat([past, fresh], 2);
      return t === cap ? fresh : g.slice(all, [t], [cap + t], [2]);
    };
    const present: KvPair[] = [];
    const attn: AttnFn = (layer, h) => {
      const { q, k, v } = projections(c, h);
      const past = options.past[layer] as KvPair;
      const key = push(past.key, g.transpose(k, [0, 2, 1, 3]));
      const value = push(past.value, g.transpose(g.reshape(v, [b, t, d.kvHeads, d.headDim]), [0, 2, 1, 3]));
      present.push({ key, value });
      // scores^T = K q^T keeps the big key cache untransposed; only the small [.., C, group*T] result is.
      const qT = g.transpose(g.reshape(q, [b, t, d.kvHeads, group, d.headDim]), [0, 2, 4, 3, 1]);
      const sT = g.matmul(key, g.reshape(qT, [b, d.kvHeads, d.headDim, dimMul(group, t)]));
      const scores = g.reshape(g.transpose(sT, [0, 1, 3, 2]), [b, d.kvHeads, group, t, cap]);
      const probs = g.softmax(g.add(scores, c.maskAdd), -1);
      const ctx = g.matmul(g.reshape(probs, [b, d.kvHeads, dimMul(group, t), cap]), value); // [B, kvH, group*T, hd]
      const merged = g.reshape(
        g.transpose(g.reshape(ctx, [b, d.kvHeads, group, t, d.headDim]), [0, 3, 1, 2, 4]),
        [b, t, d.heads * d.headDim],
      );
      const init = { initScale: (cfg as { initializer_range?: number }).initializer_range ?? 0.02 };
      return linear(g, 'o_proj', merged, d.hidden, { bias: d.oBias, ...init });
    };
    return { logits: decoder(c, ids, attn, options.lastOnly ?? false), present };
  });
}

/** Parameter names and shapes of the checkpoint for `cfg` (what model.safetensors must hold). */
export function llamaParamShapes(cfg: LlamaConfig): Map<string, number[]> {
  const d = llamaDims(cfg);
  const out = new Map<string, number[]>();
  out.set('model.embed_tokens.weight', [d.vocab, d.hidden]);
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  for (let i = 0; i < d.layers; i++) {
    const p = `model.layers.${i}`;
    out.set(`${p}.input_layernorm.weight`, [d.hidden]);
    out.set(`${p}.self_attn.q_proj.weight`, [q, d.hidden]);
    out.set(`${p}.self_attn.k_proj.weight`, [kv, d.hidden]);
    out.set(`${p}.self_attn.v_proj.weight`, [kv, d.hidden]);
    out.set(`${p}.self_attn.o_proj.weight`, [d.hidden, q]);
    if (d.qkvBias) {
      out.set(`${p}.self_attn.q_proj.bias`, [q]);
      out.set(`${p}.self_attn.k_proj.bias`, [kv]);
      out.set(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    if (d.oBias) out.set(`${p}.self_attn.o_proj.bias`, [d.hidden]);
    out.set(`${p}.post_attention_layernorm.weight`, [d.hidden]);
    out.set(`${p}.mlp.gate_proj.weight`, [d.mlp, d.hidden]);
    out.set(`${p}.mlp.up_proj.weight`, [d.mlp, d.hidden]);
    out.set(`${p}.mlp.down_proj.weight`, [d.hidden, d.mlp]);
    if (cfg.mlp_bias) {
      out.set(`${p}.mlp.gate_proj.bias`, [d.mlp]);
      out.set(`${p}.mlp.up_proj.bias`, [d.mlp]);
      out.set(`${p}.mlp.down_proj.bias`, [d.hidden]);
    }
  }
  out.set('model.norm.weight', [d.hidden]);
  if (!cfg.tie_word_embeddings) out.set('lm_head.weight', [d.vocab, d.hidden]);
  return out;
}
