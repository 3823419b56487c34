/**
 * Neural-network modules as functions that add nodes under a module scope. Parameter names follow
 * Hugging Face conventions (model.layers.0.self_attn.q_proj.weight; Linear weights are
 * [out_features, in_features]) so weights import and export without renaming.
 */
import { type Dim, isStaticDim } from './dims.js';
import { type FloatDType, type Graph, Tensor } from './graph.js';
import { hiddenPadding } from './layout.js';
import { randomInput } from './trainer.js';

/**
 * A low-rank adapter on a linear layer (LoRA, Hu et al. 2021): y = x W^T + b + (alpha / r) (x A^T) B^T
 * with A [r, in] and B [out, r] as their own parameters `<module>.lora_A.weight` and
 * `<module>.lora_B.weight` (PEFT's names). B starts at zero, so a fresh adapter leaves the layer as it
 * was; A starts uniform in +-1/sqrt(in) (PEFT's kaiming-uniform default).
 */
export interface LinearAdapter {
  r: number;
  alpha: number;
  /** Dropout on the adapter's input only (the frozen path is untouched); fed as a `random.*` input. */
  dropout?: number;
}

export interface LinearOptions {
  bias?: boolean;
  /** Std of the normal init (default 0.02, GPT-2 style). */
  initScale?: number;
  dtype?: FloatDType;
  /** Adds a LoRA adapter to this layer (overrides any rule set with `withLinearAdapters`). */
  adapter?: LinearAdapter | null;
  /**
   * The layer's input width when x carries trailing padding columns (x wider than this): the
   * weight is widened with zero columns to match, so the padding contributes nothing.
   */
  inFeatures?: number;
  /** Zero columns appended to the output (the weight and bias get zero rows; see paddedWidth). */
  padOut?: number;
}

/** w with `rows` zero rows below and `cols` zero columns to the right (a copy; gradients slice back). */
function zeroPadded(g: Graph, w: Tensor, rows: number, cols: number): Tensor {
  let out = w;
  const [r, c] = w.shape as [number, number];
  if (cols > 0) out = g.concat([out, g.zeros([r, cols], w.dtype as FloatDType)], 1);
  if (rows > 0) out = g.concat([out, g.zeros([rows, c + cols], w.dtype as FloatDType)], 0);
  return out;
}

type AdapterRule = (modulePath: string) => LinearAdapter | null | undefined;
const adapterRules = new WeakMap<Graph, AdapterRule>();

/**
 * Runs `fn` with an adapter rule on `g`: every `linear` built inside asks `rule` with its full module
 * path (`model.layers.0.self_attn.q_proj`) whether to carry an adapter. This reaches layers deep in
 * model builders that do not pass options through.
 */
export function withLinearAdapters<T>(g: Graph, rule: AdapterRule, fn: () => T): T {
  const saved = adapterRules.get(g);
  adapterRules.set(g, rule);
  try {
    return fn();
  } finally {
    if (saved) adapterRules.set(g, saved);
    else adapterRules.delete(g);
  }
}

/**
 * y = x W^T + b with W [out, in]; leading dims of x are flattened into one Gemm. With `inFeatures`
 * below x's width and `padOut`, x and y carry zero padding columns (see paddedWidth); W and b keep
 * their plain shapes and are padded inside the graph.
 */
export function linear(
  g: Graph,
  name: string,
  x: Tensor,
  outFeatures: number,
  options: LinearOptions = {},
): Tensor {
  return g.scope(name, () => {
    const width = x.shape[x.rank - 1] as number;
    const inFeatures = options.inFeatures ?? width;
    const padIn = width - inFeatures;
    const padOut = options.padOut ?? 0;
    if (padIn < 0 || padOut < 0 || !Number.isInteger(padOut))
      g.fail('linear', [x], `inFeatures ${inFeatures} must not exceed x's width, padOut must be >= 0`);
    const dtype = options.dtype ?? (x.dtype as FloatDType);
    const w = g.param('weight', [outFeatures, inFeatures], {
      init: { kind: 'normal', scale: options.initScale ?? 0.02 },
      decay: true,
      dtype,
    });
    const b = options.bias
      ? g.param('bias', [outFeatures], { init: { kind: 'zeros' }, decay: false, dtype })
      : null;
    const x2 = x.rank === 2 ? x : g.reshape(x, [-1, width]);
    const bp = b && padOut > 0 ? g.concat([b, g.zeros([padOut], dtype)], 0) : b;
    let y = g.gemm(x2, zeroPadded(g, w, padOut, padIn), bp, { transB: true });
    const adapter = options.adapter !== undefined ? options.adapter : adapterRules.get(g)?.(g.modulePath);
    if (adapter) y = g.add(y, loraDelta(g, x2, inFeatures, outFeatures, padOut, adapter, dtype));
    const outWidth = outFeatures + padOut;
    return x.rank === 2 ? y : g.reshape(y, [...x.shape.slice(0, -1), outWidth]);
  });
}

/**
 * (alpha / r) dropout(x) A^T B^T for x [N, in (+ padding)]; the scale is applied on the narrow
 * [N, r] product. A and B are padded like the layer's weight.
 */
function loraDelta(
  g: Graph,
  x: Tensor,
  inFeatures: number,
  outFeatures: number,
  padOut: number,
  a: LinearAdapter,
  dtype: FloatDType,
): Tensor {
  if (!Number.isInteger(a.r) || a.r < 1) g.fail('lora', [x], `rank r must be a positive integer, got ${a.r}`);
  const loraA = g.param('lora_A.weight', [a.r, inFeatures], {
    init: { kind: 'uniform', scale: 1 / Math.sqrt(inFeatures) },
    decay: true,
    dtype,
  });
  const loraB = g.param('lora_B.weight', [outFeatures, a.r], { init: { kind: 'zeros' }, decay: true, dtype });
  const p = a.dropout ?? 0;
  const xin = p > 0 ? dropout(g, x, p, randomInput(g, x.shape)) : x;
  const padIn = (x.shape[1] as number) - inFeatures;
  const xa = g.mul(g.gemm(xin, zeroPadded(g, loraA, 0, padIn), null, { transB: true }), a.alpha / a.r);
  return g.gemm(xa, zeroPadded(g, loraB, padOut, 0), null, { transB: true });
}

/** Rows of an embedding table [vocab, dim] for int64 ids. No weight decay. */
export function embedding(
  g: Graph,
  name: string,
  ids: Tensor,
  vocab: number,
  dim: number,
  dtype: FloatDType = 'float32',
): Tensor {
  return g.scope(name, () => {
    const w = g.param('weight', [vocab, dim], { init: { kind: 'normal', scale: 0.02 }, decay: false, dtype });
    return g.gather(w, ids, 0);
  });
}

export function layerNorm(g: Graph, name: string, x: Tensor, epsilon = 1e-5): Tensor {
  return g.scope(name, () => {
    const d = x.shape[x.rank - 1] as number;
    const dtype = x.dtype as FloatDType;
    const w = g.param('weight', [d], { init: { kind: 'ones' }, decay: false, dtype });
    const b = g.param('bias', [d], { init: { kind: 'zeros' }, decay: false, dtype });
    return g.layerNorm(x, w, b, epsilon, -1);
  });
}

export function rmsNorm(g: Graph, name: string, x: Tensor, epsilon = 1e-6): Tensor {
  return g.scope(name, () => {
    const d = x.shape[x.rank - 1] as number;
    const w = g.param('weight', [d], { init: { kind: 'ones' }, decay: false, dtype: x.dtype as FloatDType });
    return g.rmsNorm(x, w, epsilon, -1);
  });
}

/**
 * Inverted dropout driven by `uniform`, a tensor of U[0,1) values the caller feeds each step from
 * its own seeded RNG (so a resumed run replays the same masks). Identity when p = 0.
 */
export function dropout(g: Graph, x: Tensor, p: number, uniform: Tensor | null): Tensor {
  if (p <= 0 || !uniform) return x;
  return g.scope('dropout', () =>
    g.where(g.less(uniform, g.scalar(p, uniform.dtype)), g.scalar(0, x.dtype), g.mul(x, 1 / (1 - p))),
  );
}

export type Activation = 'gelu' | 'gelu_tanh' | 'relu' | 'silu';

function activate(g: Graph, x: Tensor, act: Activation): Tensor {
  switch (act) {
    case 'gelu':
      return g.gelu(x, 'none');
    case 'gelu_tanh':
      return g.gelu(x, 'tanh');
    case 'relu':
      return g.relu(x);
    case 'silu':
      return g.silu(x);
  }
}

/**
 * Two-layer MLP (up_proj -> act -> down_proj), GPT-style when `bias` is on. Over many rows the
 * hidden activation is stored `paddedWidth(hidden)` wide (hiddenPadding): the padding columns meet
 * zero weight columns in down_proj.
 */
export function mlp(
  g: Graph,
  name: string,
  x: Tensor,
  hidden: number,
  options: { activation?: Activation; bias?: boolean } = {},
): Tensor {
  return g.scope(name, () => {
    const d = x.shape[x.rank - 1] as number;
    const bias = options.bias ?? false;
    const padOut = hiddenPadding(x, hidden);
    const h = activate(g, linear(g, 'up_proj', x, hidden, { bias, padOut }), options.activation ?? 'gelu');
    return linear(g, 'down_proj', h, d, { bias, inFeatures: hidden });
  });
}

/** SwiGLU MLP (Llama): down_proj(silu(gate_proj x) * up_proj x), hidden padded as in `mlp`. */
export function swiglu(g: Graph, name: string, x: Tensor, hidden: number): Tensor {
  return g.scope(name, () => {
    const d = x.shape[x.rank - 1] as number;
    const padOut = hiddenPadding(x, hidden);
    const gate = g.silu(linear(g, 'gate_proj', x, hidden, { padOut }));
    return linear(g, 'down_proj', g.mul(gate, linear(g, 'up_proj', x, hidden, { padOut })), d, {
      inFeatures: hidden,
    });
  });
}

/** cos/sin tables [T, headDim] for rotary embeddings (rotate-half layout, as in HF Llama). */
export function ropeTables(
  g: Graph,
  seqLen: number,
  headDim: number,
  theta = 10000,
  dtype: FloatDType = 'float32',
): { cos: Tensor; sin: Tensor } {
  const half = headDim / 2;
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const cos = new Arr(seqLen * headDim);
  const sin = new Arr(seqLen * headDim);
  for (let t = 0; t < seqLen; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t / theta ** ((2 * i) / headDim);
      for (const j of [i, i + half]) {
        cos[t * headDim + j] = Math.cos(angle);
        sin[t * headDim + j] = Math.sin(angle);
      }
    }
  }
  return {
    cos: g.constant(cos, dtype, [seqLen, headDim], `rope_cos_${seqLen}_${headDim}`),
    sin: g.constant(sin, dtype, [seqLen, headDim], `rope_sin_${seqLen}_${headDim}`),
  };
}

/**
 * RoPE tables [n, heads * headDim] tiled per head, times `factor`; `sin` carries rotate-half's
 * sign (negative on each head's first half) so that rope(x) = x cos + swapHalves(x) sin.
 */
export function ropeTiledTables(
  g: Graph,
  n: number,
  headDim: number,
  heads: number,
  theta: number,
  dtype: FloatDType,
  factor = 1,
): { cos: Tensor; sin: Tensor } {
  const half = headDim / 2;
  const w = heads * headDim;
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const cos = new Arr(n * w);
  const sin = new Arr(n * w);
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t / theta ** ((2 * i) / headDim);
      for (let hh = 0; hh < heads; hh++) {
        const base = t * w + hh * headDim;
        cos[base + i] = Math.cos(angle) * factor;
        cos[base + i + half] = Math.cos(angle) * factor;
        sin[base + i] = -Math.sin(angle) * factor;
        sin[base + i + half] = Math.sin(angle) * factor;
      }
    }
  }
  const tag = `${n}_${headDim}_${heads}_${theta}_${factor}`.replace(/[^0-9a-zA-Z]/g, '_');
  return {
    cos: g.constant(cos, dtype, [n, w], `rope_cos_${tag}`),
    sin: g.constant(sin, dtype, [n, w], `rope_sin_${tag}`),
  };
}

/** Swaps the two halves of every head in x [..., heads * headDim]. */
export function swapHalves(g: Graph, x: Tensor, heads: number, headDim: number): Tensor {
  const lead = x.shape.slice(0, -1);
  const split = g.reshape(x, [...lead, heads, 2, headDim / 2]);
  const [x1, x2] = g.split(split, [1, 1], lead.length + 1) as [Tensor, Tensor];
  return g.reshape(g.concat([x2, x1], lead.length + 1), x.shape);
}

/** x * cos + rotate_half(x) * sin on the last axis of x [..., T, headDim]. */
export function applyRope(g: Graph, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const hd = x.shape[x.rank - 1] as number;
  const [x1, x2] = g.split(x, [hd / 2, hd / 2], -1) as [Tensor, Tensor];
  const rotated = g.concat([g.neg(x2), x1], x.rank - 1);
  return g.add(g.mul(x, cos), g.mul(rotated, sin));
}

export interface AttentionConfig {
  numHeads: number;
  /** Key/value heads; fewer than numHeads is grouped-query attention. */
  numKvHeads?: number;
  causal?: boolean;
  rope?: boolean;
  ropeTheta?: number;
  /** Rows of the RoPE tables when `positions` is fed (default: sequence length, else maxSeqLen). */
  maxPositions?: number;
  /**
   * Longest sequence a graph with a symbolic sequence dim will see (required then): the causal
   * mask and RoPE tables are built for this length and sliced to the run-time length.
   */
  maxSeqLen?: number;
  bias?: boolean;
}

/**
 * The leading [t, t] (or [t] / [t, w]) block of a table built for `max` rows, for a sequence dim t
 * that may be symbolic: static t gets the exact table `make(t)` (as before), symbolic t gets
 * `make(max)` sliced at run time on the given axes.
 */
function leadingBlock<T extends Record<string, Tensor> | Tensor>(
  g: Graph,
  t: Dim,
  max: number | undefined,
  axes: number[],
  make: (n: number) => T,
): T {
  if (isStaticDim(t)) return make(t);
  if (max === undefined)
    g.fail(
      'attention',
      [],
      `sequence dim "${t}" is symbolic: set maxSeqLen to the longest sequence it may take`,
    );
  const cut = (x: Tensor) =>
    g.slice(
      x,
      axes.map(() => 0),
      axes.map(() => t),
      axes,
    );
  const full = make(max);
  if (full instanceof Tensor) return cut(full) as T;
  return Object.fromEntries(Object.entries(full).map(([k, v]) => [k, cut(v)])) as T;
}

/** Per-call tensors for attention: padding mask and explicit positions. */
export interface AttentionInputs {
  /** [B, T] bool, true = attend to this key. */
  keyMask?: Tensor;
  /** int64 [T] or [B, T] positions for RoPE (e.g. left padding or a decoding offset); default 0..T-1. */
  positions?: Tensor;
  /**
   * [B, T, T] bool, true = query i may attend to key j (on top of the causal mask): block-diagonal
   * masks keep packed sequences from seeing each other.
   */
  attendMask?: Tensor;
}

/**
 * Multi-head self-attention on x [B, T, D] with q_proj/k_proj/v_proj/o_proj. GQA groups query
 * heads over shared key/value heads by broadcasting in the MatMul (no repeated K/V copies).
 * `inputs.keyMask` [B, T] (bool, true = attend) masks padding keys; `inputs.positions` feeds RoPE.
 */
export function attention(
  g: Graph,
  name: string,
  x: Tensor,
  config: AttentionConfig,
  inputs: AttentionInputs = {},
): Tensor {
  return g.scope(name, () => {
    const [b, t, d] = x.shape as [Dim, Dim, Dim];
    if (!isStaticDim(d)) g.fail('attention', [x], 'the model dim must be static');
    const h = config.numHeads;
    const kvh = config.numKvHeads ?? h;
    if (d % h !== 0 || h % kvh !== 0)
      g.fail('attention', [x], `d_model ${d} / heads ${h} / kv heads ${kvh} do not divide`);
    const hd = d / h;
    const group = h / kvh;
    const dtype = x.dtype as FloatDType;
    const bias = config.bias ?? false;
    let qLin = linear(g, 'q_proj', x, d, { bias });
    let kLin = linear(g, 'k_proj', x, kvh * hd, { bias });
    const vLin = linear(g, 'v_proj', x, kvh * hd, { bias });
    const scale = 1 / Math.sqrt(hd);
    if (config.rope ?? true) {
      // RoPE on the [B, T, heads * hd] projections with per-head tiled tables, so every multiply
      // broadcasts over the batch only (ORT's fast path); q's tables also carry 1/sqrt(hd).
      const pos = inputs.positions;
      const theta = config.ropeTheta ?? 10000;
      const rope = (lin: Tensor, heads: number, factor: number) => {
        const tables = (n: number) => ropeTiledTables(g, n, hd, heads, theta, dtype, factor);
        let cos: Tensor;
        let sin: Tensor;
        if (pos) {
          const rows = config.maxPositions ?? (isStaticDim(t) ? t : config.maxSeqLen);
          if (rows === undefined)
            g.fail('attention', [x], `sequence dim "${t}" is symbolic: set maxPositions or maxSeqLen`);
          const tab = tables(rows);
          cos = g.gather(tab.cos, pos, 0);
          sin = g.gather(tab.sin, pos, 0);
        } else {
          const tab = leadingBlock(g, t, config.maxSeqLen, [0], tables);
          cos = tab.cos;
          sin = tab.sin;
        }
        return g.add(g.mul(lin, cos), g.mul(swapHalves(g, lin, heads, hd), sin));
      };
      qLin = rope(qLin, h, scale);
      kLin = rope(kLin, kvh, 1);
    } else {
      qLin = g.mul(qLin, scale);
    }
    // [B, T, H, hd] -> [B, kvH, group, T, hd]
    const q = g.transpose(g.reshape(qLin, [b, t, kvh, group, hd]), [0, 2, 3, 1, 4]);
    const k = g.transpose(g.reshape(kLin, [b, t, kvh, 1, hd]), [0, 2, 4, 3, 1]); // already K^T
    const v = g.transpose(g.reshape(vLin, [b, t, kvh, 1, hd]), [0, 2, 3, 1, 4]);
    const scores = g.matmul(q, g.reshape(k, [b, kvh, 1, hd, t]));
    let masked = scores;
    const neg = dtype === 'float32' ? -1e9 : -1e30;
    if (config.causal ?? true) {
      const Arr = dtype === 'float32' ? Float32Array : Float64Array;
      const causal = (n: number) => {
        const m = new Arr(n * n);
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) m[i * n + j] = neg;
        return g.constant(m, dtype, [n, n], `causal_mask_${n}`);
      };
      masked = g.add(masked, leadingBlock(g, t, config.maxSeqLen, [0, 1], causal));
    }
    const keyMask = inputs.keyMask;
    if (keyMask) {
      const add = g.where(g.reshape(keyMask, [b, 1, 1, 1, t]), g.scalar(0, dtype), g.scalar(neg, dtype));
      masked = g.add(masked, add);
    }
    const attend = inputs.attendMask;
    if (attend) {
      const add = g.where(g.reshape(attend, [b, 1, 1, t, t]), g.scalar(0, dtype), g.scalar(neg, dtype));
      masked = g.add(masked, add);
    }
    const ctx = g.matmul(g.softmax(masked, -1), v); // [B, kvH, group, T, hd]
    const merged = g.reshape(g.transpose(ctx, [0, 3, 1, 2, 4]), [b, t, d]);
    return linear(g, 'o_proj', merged, d, { bias });
  });
}

export interface TransformerConfig {
  vocabSize: number;
  dModel: number;
  numLayers: number;
  numHeads: number;
  numKvHeads?: number;
  /** MLP hidden size (default 4 d_model, or 8/3 d_model rounded for SwiGLU). */
  hidden?: number;
  mlp?: 'gelu' | 'swiglu';
  /** Activation of the two-layer MLP when mlp is 'gelu' (default exact GELU). */
  activation?: Activation;
  norm?: 'layernorm' | 'rmsnorm';
  rope?: boolean;
  ropeTheta?: number;
  /** RoPE table rows when positions are fed explicitly. */
  maxPositions?: number;
  /** Longest sequence when the ids' sequence dim is symbolic (see AttentionConfig.maxSeqLen). */
  maxSeqLen?: number;
  /** Share the embedding matrix with the output head. */
  tieEmbeddings?: boolean;
  dtype?: FloatDType;
}

/** Pre-norm decoder block: x + attn(norm(x)), then x + mlp(norm(x)). */
export function transformerBlock(
  g: Graph,
  name: string,
  x: Tensor,
  c: TransformerConfig,
  inputs: AttentionInputs = {},
): Tensor {
  return g.scope(name, () => {
    const norm = (n: string, v: Tensor) =>
      (c.norm ?? 'rmsnorm') === 'rmsnorm' ? rmsNorm(g, n, v) : layerNorm(g, n, v);
    const a = attention(
      g,
      'self_attn',
      norm('input_layernorm', x),
      {
        numHeads: c.numHeads,
        numKvHeads: c.numKvHeads,
        causal: true,
        rope: c.rope ?? true,
        ropeTheta: c.ropeTheta,
        maxPositions: c.maxPositions,
        maxSeqLen: c.maxSeqLen,
      },
      inputs,
    );
    const h = g.add(x, a);
    const n2 = norm('post_attention_layernorm', h);
    const hidden =
      c.hidden ?? ((c.mlp ?? 'swiglu') === 'swiglu' ? Math.round((8 * c.dModel) / 3 / 8) * 8 : 4 * c.dModel);
    const m =
      (c.mlp ?? 'swiglu') === 'swiglu'
        ? swiglu(g, 'mlp', n2, hidden)
        : mlp(g, 'mlp', n2, hidden, { activation: c.activation ?? 'gelu' });
    return g.add(h, m);
  });
}

/** Decoder-only transformer: ids [B, T] (int64) -> logits [B, T, vocab]. */
export function transformerLM(
  g: Graph,
  ids: Tensor,
  c: TransformerConfig,
  inputs: AttentionInputs = {},
): Tensor {
  const dtype = c.dtype ?? 'float32';
  let x = g.scope('model', () => embedding(g, 'embed_tokens', ids, c.vocabSize, c.dModel, dtype));
  g.scope('model', () =>
    g.scope('layers', () => {
      for (let i = 0; i < c.numLayers; i++) x = transformerBlock(g, String(i), x, c, inputs);
    }),
  );
  x = g.scope('model', () =>
    (c.norm ?? 'rmsnorm') === 'rmsnorm' ? rmsNorm(g, 'norm', x) : layerNorm(g, 'norm', x),
  );
  if (c.tieEmbeddings) {
    const w = g.scope('model', () =>
      g.scope('embed_tokens', () => g.param('weight', [c.vocabSize, c.dModel], { decay: false, dtype })),
    );
    return g.scope('lm_head', () =>
      g.reshape(g.gemm(g.reshape(x, [-1, c.dModel]), w, null, { transB: true }), [...ids.shape, c.vocabSize]),
    );
  }
  return linear(g, 'lm_head', x, c.vocabSize, { dtype });
}
