/**
 * Reverse-mode autodiff as a graph-to-graph rewrite: for a scalar loss it appends the backward
 * nodes (standard ONNX ops only) to the same graph. The rule table is typed over every OpType, so
 * an op added to the IR without a rule (or an explicit "no gradient" entry) does not compile.
 */
import { GraphBuildError } from './errors.js';
import {
  type Graph,
  isFloat,
  type Node,
  type OpAttrs,
  type OpType,
  type Shape,
  type Tensor,
} from './graph.js';

export interface GradContext<K extends OpType> {
  readonly g: Graph;
  readonly node: Node<K>;
  readonly x: readonly Tensor[];
  readonly y: readonly Tensor[];
  readonly attrs: OpAttrs[K];
  /** Gradient of the loss w.r.t. each output (null where nothing flows back). */
  readonly gy: readonly (Tensor | null)[];
  /** Which inputs need a gradient; rules may skip the others. */
  readonly needs: readonly boolean[];
  /** Whether an earlier tensor (not an input of this node) needs a gradient. */
  readonly requires: (t: Tensor) => boolean;
  /**
   * Adds a gradient contribution to an earlier tensor directly, for rules that fuse their backward
   * with a producer's (it is summed with what that tensor's other consumers send back).
   */
  readonly contribute: (t: Tensor, grad: Tensor) => void;
}

export type GradRule<K extends OpType> = (ctx: GradContext<K>) => (Tensor | null)[];

/** Marks an op whose outputs carry no gradient (integer/bool results, sign, scatter). */
export const NO_GRADIENT = 'no-gradient' as const;

export type GradTable = { readonly [K in OpType]: GradRule<K> | typeof NO_GRADIENT };

/** Sums `grad` down to `shape` (undoing numpy broadcasting): ReduceSum over broadcast axes, then Reshape. */
export function unbroadcast(g: Graph, grad: Tensor, shape: Shape): Tensor {
  if (grad.shape.length === shape.length && grad.shape.every((d, i) => d === shape[i])) return grad;
  const lead = grad.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < grad.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? g.reduceSum(grad, axes, true) : grad;
  return g.reshape(summed, shape);
}

const first = <T>(xs: readonly T[]) => xs[0] as T;

function swapLast(g: Graph, t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  perm[t.rank - 1] = t.rank - 2;
  perm[t.rank - 2] = t.rank - 1;
  return g.transpose(t, perm);
}

const swapLastShape = (s: Shape) => [...s.slice(0, -2), s[s.length - 1] as number, s[s.length - 2] as number];

/**
 * Whether `t` comes from a Transpose that moves its last axis (attention's K^T): the backward then
 * inverts that permutation on the gradient, which is a strided copy unless the gradient is computed
 * already transposed, when the two transposes compose into one that keeps rows contiguous.
 */
function movesLastAxis(t: Tensor): boolean {
  if (t.producer?.op !== 'Transpose') return false;
  const perm = (t.producer.attrs as OpAttrs['Transpose']).perm;
  return perm[perm.length - 1] !== perm.length - 1;
}

/** Gradient of y = a @ b for the input that needs it; folds broadcast batch dims into a Gemm. */
function matmulGrads(
  g: Graph,
  a: Tensor,
  b: Tensor,
  gy: Tensor,
  needs: readonly boolean[],
): (Tensor | null)[] {
  let da: Tensor | null = null;
  let db: Tensor | null = null;
  if (needs[0]) {
    if (b.rank === 2 && a.rank > 2) {
      const gy2 = g.reshape(gy, [-1, gy.shape[gy.rank - 1] as number]);
      da = g.reshape(g.gemm(gy2, b, null, { transB: true }), a.shape);
    } else if (movesLastAxis(a)) {
      // da = (b gy^T)^T
      da = swapLast(g, unbroadcast(g, g.matmul(b, swapLast(g, gy)), swapLastShape(a.shape)));
    } else {
      da = unbroadcast(g, g.matmul(gy, swapLast(g, b)), a.shape);
    }
  }
  if (needs[1]) {
    if (b.rank === 2 && a.rank >= 2) {
      const k = a.shape[a.rank - 1] as number;
      const a2 = g.reshape(a, [-1, k]);
      const gy2 = g.reshape(gy, [-1, gy.shape[gy.rank - 1] as number]);
      db = g.gemm(a2, gy2, null, { transA: true });
    } else if (movesLastAxis(b)) {
      // db = (gy^T a)^T
      db = swapLast(g, unbroadcast(g, g.matmul(swapLast(g, gy), a), swapLastShape(b.shape)));
    } else {
      db = unbroadcast(g, g.matmul(swapLast(g, a), gy), b.shape);
    }
  }
  return [da, db];
}

/** Reshapes a reduced gradient back to keepdims form and broadcasts it over the input. */
function keepDims(g: Graph, t: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  return g.reshape(
    t,
    x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
  );
}

function normAxesFrom(x: Tensor, axis: number): number[] {
  const out: number[] = [];
  for (let i = axis; i < x.rank; i++) out.push(i);
  return out;
}

/**
 * mean(gxhat * xhat) over the normalised axes (keepdims), for a norm's backward with gxhat = d *
 * scale. Over one axis it is (d * xhat) @ (scale / n): a matrix-vector product on the tensor the
 * scale gradient needs anyway, rather than one more full-size Mul.
 */
function meanOfScaledProduct(
  g: Graph,
  dxhat: Tensor,
  gxhat: Tensor,
  xhat: Tensor,
  scale: Tensor,
  axes: readonly number[],
): Tensor {
  if (axes.length !== 1) return g.reduceMean(g.mul(gxhat, xhat), axes, true);
  const n = xhat.shape[axes[0] as number] as number;
  return g.matmul(dxhat, g.reshape(g.div(scale, n), [n, 1]));
}

const leadAxes = (x: Tensor, axis: number) => x.shape.map((_, i) => i).filter((i) => i < axis);

/**
 * Backward of TargetLogProb fused with the output head that produced its logits, logits =
 * A W^T (a Gemm with transB and no bias, optionally reshaped): with P = softmax(logits) and
 * Q = P - onehot(target) (the one-hot subtracted in place, see scatterElementsAdd),
 *   dA = (Q W) * -u,   dW = Q^T (A * -u).
 * The row scaling by u moves onto the small [N, d] operands, so Q is the only [N, V] tensor the
 * backward writes. Returns false (nothing contributed) when the pattern does not apply.
 */
function headBackward(
  ctx: GradContext<'TargetLogProb'>,
  logits: Tensor,
  targets: Tensor,
  probs: Tensor,
  u: Tensor,
): boolean {
  const { g } = ctx;
  const gemmOut = logits.producer?.op === 'Reshape' ? (logits.producer.inputs[0] as Tensor) : logits;
  const head = gemmOut.producer;
  if (head?.op !== 'Gemm' || head.inputs.length !== 2) return false;
  const { transA, transB } = head.attrs as OpAttrs['Gemm'];
  if (transA || !transB) return false;
  const [a, w] = head.inputs as [Tensor, Tensor];
  const n = targets.size;
  const v = logits.shape[logits.rank - 1] as number;
  if (gemmOut.rank !== 2 || gemmOut.shape[0] !== n || gemmOut.shape[1] !== v) return false;
  const q = g.scatterElementsAdd(
    g.reshape(probs, [n, v]),
    g.reshape(targets, [n, 1]),
    g.expand(g.scalar(-1, probs.dtype), [n, 1]),
    1,
  );
  const negU = g.neg(g.reshape(u, [n, 1]));
  if (ctx.requires(a)) ctx.contribute(a, g.mul(g.gemm(q, w, null), negU));
  if (ctx.requires(w)) ctx.contribute(w, g.gemm(q, g.mul(a, negU), null, { transA: true }));
  return true;
}

export const GRAD_RULES: GradTable = {
  MatMul: ({ g, x, gy, needs }) => matmulGrads(g, first(x), x[1] as Tensor, first(gy) as Tensor, needs),
  Gemm: ({ g, x, gy, attrs, needs }) => {
    const [a, b, c] = x as [Tensor, Tensor, Tensor | undefined];
    const dy = first(gy) as Tensor;
    const { transA, transB } = attrs;
    const da = needs[0]
      ? transA
        ? g.gemm(b, dy, null, { transA: transB, transB: true })
        : g.gemm(dy, b, null, { transB: !transB })
      : null;
    const db = needs[1]
      ? transB
        ? g.gemm(dy, a, null, { transA: true, transB: transA })
        : g.gemm(a, dy, null, { transA: !transA })
      : null;
    const dc = c && needs[2] ? unbroadcast(g, dy, c.shape) : null;
    return c ? [da, db, dc] : [da, db];
  },
  Add: ({ g, x, gy, needs }) => {
    const d = first(gy) as Tensor;
    return [
      needs[0] ? unbroadcast(g, d, first(x).shape) : null,
      needs[1] ? unbroadcast(g, d, (x[1] as Tensor).shape) : null,
    ];
  },
  Sub: ({ g, x, gy, needs }) => {
    const d = first(gy) as Tensor;
    return [
      needs[0] ? unbroadcast(g, d, first(x).shape) : null,
      needs[1] ? unbroadcast(g, g.neg(d), (x[1] as Tensor).shape) : null,
    ];
  },
  Mul: ({ g, x, gy, needs }) => {
    const [a, b] = x as [Tensor, Tensor];
    const d = first(gy) as Tensor;
    return [
      needs[0] ? unbroadcast(g, g.mul(d, b), a.shape) : null,
      needs[1] ? unbroadcast(g, g.mul(d, a), b.shape) : null,
    ];
  },
  Div: ({ g, x, y, gy, needs }) => {
    const [a, b] = x as [Tensor, Tensor];
    const d = first(gy) as Tensor;
    const da = needs[0] ? unbroadcast(g, g.div(d, b), a.shape) : null;
    const db = needs[1] ? unbroadcast(g, g.neg(g.div(g.mul(d, first(y)), b)), b.shape) : null;
    return [da, db];
  },
  Pow: ({ g, x, y, gy, needs }) => {
    const [a, b] = x as [Tensor, Tensor];
    const d = first(gy) as Tensor;
    const da = needs[0] ? unbroadcast(g, g.mul(d, g.mul(b, g.pow(a, g.sub(b, 1)))), a.shape) : null;
    const db = needs[1] ? unbroadcast(g, g.mul(d, g.mul(first(y), g.log(a))), b.shape) : null;
    return [da, db];
  },
  Max: ({ g, x, gy, needs }) => {
    const [a, b] = x as [Tensor, Tensor];
    const d = first(gy) as Tensor;
    const bWins = g.less(a, b);
    return [
      needs[0] ? unbroadcast(g, g.where(bWins, 0, d), a.shape) : null,
      needs[1] ? unbroadcast(g, g.where(bWins, d, 0), b.shape) : null,
    ];
  },
  Min: ({ g, x, gy, needs }) => {
    const [a, b] = x as [Tensor, Tensor];
    const d = first(gy) as Tensor;
    const bWins = g.greater(a, b);
    return [
      needs[0] ? unbroadcast(g, g.where(bWins, 0, d), a.shape) : null,
      needs[1] ? unbroadcast(g, g.where(bWins, d, 0), b.shape) : null,
    ];
  },
  Neg: ({ g, gy }) => [g.neg(first(gy) as Tensor)],
  Sqrt: ({ g, y, gy }) => [g.div(g.mul(first(gy) as Tensor, 0.5), first(y))],
  Exp: ({ g, y, gy }) => [g.mul(first(gy) as Tensor, first(y))],
  Log: ({ g, x, gy }) => [g.div(first(gy) as Tensor, first(x))],
  Tanh: ({ g, y, gy }) => {
    const t = first(y);
    return [g.mul(first(gy) as Tensor, g.sub(1, g.mul(t, t)))];
  },
  Sigmoid: ({ g, y, gy }) => {
    const s = first(y);
    return [g.mul(first(gy) as Tensor, g.mul(s, g.sub(1, s)))];
  },
  Relu: ({ g, x, gy }) => [g.where(g.greater(first(x), 0), first(gy) as Tensor, 0)],
  Abs: ({ g, x, gy }) => [g.mul(first(gy) as Tensor, g.sign(first(x)))],
  Erf: ({ g, x, gy }) => {
    const v = first(x);
    return [g.mul(first(gy) as Tensor, g.mul(g.exp(g.neg(g.mul(v, v))), 2 / Math.sqrt(Math.PI)))];
  },
  Gelu: ({ g, x, y, gy, attrs }) => {
    const v = first(x);
    const d = first(gy) as Tensor;
    if (attrs.approximate === 'tanh') {
      // tanh-GELU h = x s, s = sigmoid(2u), u = c (x + k x^3): dh/dx = s + x s (1 - s) 2c (1 + 3k x^2),
      // and x s (1 - s) = h - h s with the forward's h (kept anyway for the next layer's weight
      // gradient): one full-size op fewer than recomputing it.
      const c2 = 2 * Math.sqrt(2 / Math.PI);
      const k = 0.044715;
      const v2 = g.mul(v, v);
      const s = g.sigmoid(g.mul(v, g.add(g.mul(v2, c2 * k), c2)));
      const du = g.add(g.mul(v2, 3 * c2 * k), c2);
      const h = first(y);
      return [g.mul(d, g.add(s, g.mul(du, g.sub(h, g.mul(h, s)))))];
    }
    const cdf = g.mul(g.add(g.erf(g.mul(v, Math.SQRT1_2)), 1), 0.5);
    const pdf = g.mul(g.exp(g.mul(g.mul(v, v), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return [g.mul(d, g.add(cdf, g.mul(v, pdf)))];
  },
  Silu: ({ g, x, gy }) => {
    const v = first(x);
    const s = g.sigmoid(v);
    return [g.mul(first(gy) as Tensor, g.mul(s, g.add(g.mul(v, g.sub(1, s)), 1)))];
  },
  Softmax: ({ g, y, gy, attrs }) => {
    const s = first(y);
    const d = first(gy) as Tensor;
    return [g.mul(s, g.sub(d, g.reduceSum(g.mul(d, s), [attrs.axis], true)))];
  },
  LogSoftmax: ({ g, x, gy, attrs }) => {
    const d = first(gy) as Tensor;
    // softmax(x) = exp(y); the Softmax kernel is vectorised where ORT's Exp is not.
    return [g.sub(d, g.mul(g.softmax(first(x), attrs.axis), g.reduceSum(d, [attrs.axis], true)))];
  },
  TargetLogProb: (ctx) => {
    // d logits = (onehot(target) - softmax) u, with u the gradient of the picked values.
    const { g, x, gy } = ctx;
    const [logits, targets] = x as [Tensor, Tensor];
    const u = first(gy) as Tensor;
    // Softmax of the logits rather than Exp of the stored log-softmax: ORT's Softmax kernel uses a
    // vectorised exp and is several times faster than its elementwise Exp on [N, V].
    const probs = g.softmax(logits, -1);
    const fused = headBackward(ctx, logits, targets, probs, u);
    if (fused) return [null, null];
    // Generic form: scale rows by -u, then add u at the targets (in place).
    const u1 = g.reshape(u, [...targets.shape, 1]);
    const d = g.mul(probs, g.neg(u1));
    return [g.scatterElementsAdd(d, g.unsqueeze(targets, [-1]), u1, -1), null];
  },
  ReduceSum: ({ g, x, gy, attrs }) => {
    const v = first(x);
    const d = attrs.keepdims ? (first(gy) as Tensor) : keepDims(g, first(gy) as Tensor, v, attrs.axes);
    return [g.expand(d, v.shape)];
  },
  ReduceMean: ({ g, x, gy, attrs }) => {
    const v = first(x);
    const count = attrs.axes.reduce((p, a) => p * (v.shape[a] as number), 1);
    const d = attrs.keepdims ? (first(gy) as Tensor) : keepDims(g, first(gy) as Tensor, v, attrs.axes);
    return [g.expand(g.div(d, count), v.shape)];
  },
  ReduceMax: ({ g, x, y, gy, attrs }) => {
    const v = first(x);
    const m = attrs.keepdims ? first(y) : keepDims(g, first(y), v, attrs.axes);
    const d = attrs.keepdims ? (first(gy) as Tensor) : keepDims(g, first(gy) as Tensor, v, attrs.axes);
    // Ties share the gradient equally, the subgradient that keeps finite differences symmetric.
    const mask = g.cast(g.equal(v, m), v.dtype);
    return [g.mul(g.div(mask, g.reduceSum(mask, attrs.axes, true)), d)];
  },
  ReduceSumSquare: ({ g, x, gy, attrs }) => {
    const v = first(x);
    const d = attrs.keepdims ? (first(gy) as Tensor) : keepDims(g, first(gy) as Tensor, v, attrs.axes);
    return [g.mul(g.mul(v, 2), d)];
  },
  Reshape: ({ g, x, gy }) => [g.reshape(first(gy) as Tensor, first(x).shape)],
  Transpose: ({ g, gy, attrs }) => {
    const inv = attrs.perm.map((_, i) => attrs.perm.indexOf(i));
    return [g.transpose(first(gy) as Tensor, inv)];
  },
  Unsqueeze: ({ g, x, gy }) => [g.reshape(first(gy) as Tensor, first(x).shape)],
  Squeeze: ({ g, x, gy }) => [g.reshape(first(gy) as Tensor, first(x).shape)],
  Concat: ({ g, x, gy, attrs, needs }) => {
    const parts = g.split(
      first(gy) as Tensor,
      x.map((t) => t.shape[attrs.axis] as number),
      attrs.axis,
    );
    return parts.map((p, i) => (needs[i] ? p : null));
  },
  Split: ({ g, y, gy, attrs }) => {
    const parts = y.map((t, i) => gy[i] ?? g.zeros(t.shape, t.dtype as 'float32'));
    return [g.concat(parts, attrs.axis)];
  },
  Slice: ({ g, x, y, gy, attrs }) => {
    const v = first(x);
    let d = first(gy) as Tensor;
    if (attrs.steps.every((s) => s === 1)) {
      // Pad with zeros axis by axis: the sliced block goes back where it came from.
      for (const [i, a] of attrs.axes.entries()) {
        const s = attrs.starts[i] as number;
        const e = attrs.ends[i] as number;
        const dim = v.shape[a] as number;
        const pieces: Tensor[] = [];
        if (s > 0)
          pieces.push(
            g.zeros(
              d.shape.map((n, j) => (j === a ? s : n)),
              d.dtype as 'float32',
            ),
          );
        pieces.push(d);
        if (e < dim)
          pieces.push(
            g.zeros(
              d.shape.map((n, j) => (j === a ? dim - e : n)),
              d.dtype as 'float32',
            ),
          );
        d = g.concat(pieces, a);
      }
      return [d];
    }
    // Strided slices: scatter into zeros at the statically known positions.
    const out = first(y);
    const coords: bigint[] = [];
    const idx = new Array<number>(out.rank).fill(0);
    for (let n = 0; n < out.size; n++) {
      for (let k = 0; k < out.rank; k++) {
        const ai = attrs.axes.indexOf(k);
        coords.push(
          BigInt(
            ai < 0
              ? (idx[k] as number)
              : (attrs.starts[ai] as number) + (idx[k] as number) * (attrs.steps[ai] as number),
          ),
        );
      }
      for (let k = out.rank - 1; k >= 0; k--) {
        idx[k] = (idx[k] as number) + 1;
        if ((idx[k] as number) < (out.shape[k] as number)) break;
        idx[k] = 0;
      }
    }
    const indices = g.constant(BigInt64Array.from(coords), 'int64', [...out.shape, out.rank]);
    return [g.scatterNDAdd(g.zeros(v.shape, v.dtype as 'float32'), indices, d)];
  },
  Gather: ({ g, x, gy, attrs }) => {
    const [data, indices] = x as [Tensor, Tensor];
    let d = first(gy) as Tensor;
    const a = attrs.axis;
    const ir = indices.rank;
    if (a === 0) {
      return [
        g.scatterNDAdd(g.zeros(data.shape, data.dtype as 'float32'), g.unsqueeze(indices, [-1]), d),
        null,
      ];
    }
    // Move the gathered axis first, scatter-add along it, move it back.
    const pre = leadAxes(data, a);
    const dPerm = [
      ...Array.from({ length: ir }, (_, i) => a + i),
      ...pre,
      ...Array.from({ length: d.rank - a - ir }, (_, i) => a + ir + i),
    ];
    d = g.transpose(d, dPerm);
    const dataPerm = [a, ...pre, ...data.shape.map((_, i) => i).filter((i) => i > a)];
    const zerosT = g.zeros(
      dataPerm.map((p) => data.shape[p] as number),
      data.dtype as 'float32',
    );
    const scattered = g.scatterNDAdd(zerosT, g.unsqueeze(indices, [-1]), d);
    return [
      g.transpose(
        scattered,
        dataPerm.map((_, i) => dataPerm.indexOf(i)),
      ),
      null,
    ];
  },
  Where: ({ g, x, gy, needs }) => {
    const [c, a, b] = x as [Tensor, Tensor, Tensor];
    const d = first(gy) as Tensor;
    return [
      null,
      needs[1] ? unbroadcast(g, g.where(c, d, 0), a.shape) : null,
      needs[2] ? unbroadcast(g, g.where(c, 0, d), b.shape) : null,
    ];
  },
  Expand: ({ g, x, gy }) => [unbroadcast(g, first(gy) as Tensor, first(x).shape)],
  Cast: ({ g, x, gy }) => [isFloat(first(x).dtype) ? g.cast(first(gy) as Tensor, first(x).dtype) : null],
  LayerNorm: ({ g, x, y, gy, attrs, needs }) => {
    const [v, scale, bias] = x as [Tensor, Tensor, Tensor | undefined];
    const d = first(gy) as Tensor;
    const axes = normAxesFrom(v, attrs.axis);
    const lead = leadAxes(v, attrs.axis);
    const rstd = (y as [Tensor, Tensor, Tensor])[2];
    // x-hat from a LayerNormalization without scale or bias: one fused pass over x instead of
    // (x - mean) * rstd, with the forward's own statistics (same kernel, same input).
    const xhat = g.layerNorm(v, g.expand(g.scalar(1, v.dtype), scale.shape), null, attrs.epsilon, attrs.axis);
    const dxhat = g.mul(d, xhat);
    const dscale = needs[1] ? (lead.length ? g.reduceSum(dxhat, lead) : dxhat) : null;
    const dbias = bias && needs[2] ? (lead.length ? g.reduceSum(d, lead) : d) : null;
    let dx: Tensor | null = null;
    if (needs[0]) {
      const gxhat = g.mul(d, scale);
      const b = meanOfScaledProduct(g, dxhat, gxhat, xhat, scale, axes);
      dx = g.mul(rstd, g.sub(g.sub(gxhat, g.reduceMean(gxhat, axes, true)), g.mul(xhat, b)));
    }
    return bias ? [dx, dscale, dbias] : [dx, dscale];
  },
  RMSNorm: ({ g, x, gy, attrs, needs }) => {
    const [v, scale] = x as [Tensor, Tensor];
    const d = first(gy) as Tensor;
    const axes = normAxesFrom(v, attrs.axis);
    const lead = leadAxes(v, attrs.axis);
    // Mul + ReduceMean rather than ReduceSumSquare: ORT's ReduceSumSquare over the last axis took
    // 204 us on [2048, 256] against 71 for the pair.
    const r = g.div(1, g.sqrt(g.add(g.reduceMean(g.mul(v, v), axes, true), attrs.epsilon)));
    const xhat = g.mul(v, r);
    const dxhat = g.mul(d, xhat);
    const dscale = needs[1] ? (lead.length ? g.reduceSum(dxhat, lead) : dxhat) : null;
    if (!needs[0]) return [null, dscale];
    const gxhat = g.mul(d, scale);
    const b = meanOfScaledProduct(g, dxhat, gxhat, xhat, scale, axes);
    return [g.mul(r, g.sub(gxhat, g.mul(xhat, b))), dscale];
  },
  Identity: ({ gy }) => [first(gy)],
  StopGradient: () => [null],
  ScatterNDAdd: NO_GRADIENT,
  ScatterElementsAdd: NO_GRADIENT,
  Equal: NO_GRADIENT,
  Less: NO_GRADIENT,
  Greater: NO_GRADIENT,
  Not: NO_GRADIENT,
  And: NO_GRADIENT,
  Sign: NO_GRADIENT,
};

function checkGrad(node: Node, t: Tensor, d: Tensor): void {
  if (d.dtype !== t.dtype || d.shape.length !== t.shape.length || d.shape.some((n, k) => n !== t.shape[k])) {
    throw new GraphBuildError(
      node.modulePath,
      `${node.op} gradient`,
      [t.shape, d.shape],
      `rule returned a ${d.dtype} gradient for a ${t.dtype} input`,
    );
  }
}

/** Tensors whose value depends differentiably on one of `sources`. */
function differentiablePaths(graph: Graph, sources: readonly Tensor[], upto: number): Set<Tensor> {
  const req = new Set<Tensor>(sources.filter((t) => isFloat(t.dtype)));
  for (const n of graph.nodes) {
    if (n.index > upto) break;
    if (GRAD_RULES[n.op] === NO_GRADIENT || n.op === 'StopGradient') continue;
    if (n.inputs.some((t) => req.has(t))) for (const o of n.outputs) if (isFloat(o.dtype)) req.add(o);
  }
  return req;
}

/**
 * Appends the backward pass of scalar `loss` to its graph and returns d loss / d t for each of
 * `wrt` (zeros where the loss does not depend on t). Only branches between `wrt` and `loss` are
 * differentiated; contributions of a tensor used several times are summed.
 */
export function gradients(loss: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  const g = loss.graph;
  // Broadcast reductions and slice/gather gradients need static shapes; training steps are
  // compiled per shape anyway (one batch shape per run).
  const symbolic = g.inputs.find((t) => !t.isStatic);
  if (symbolic)
    g.fail(
      'gradients',
      [symbolic],
      `input "${symbolic.name}" has symbolic dims: training graphs are compiled per shape, so declare the batch with static dims (symbolic dims are for inference graphs such as Forward)`,
    );
  if (!seed && loss.size !== 1)
    g.fail('gradients', [loss], 'the loss must be a scalar (or pass a seed gradient)');
  const end = loss.producer?.index ?? -1;
  const req = differentiablePaths(g, wrt, end);
  const pending = new Map<Tensor, Tensor[]>();
  const push = (t: Tensor, d: Tensor) => {
    const list = pending.get(t);
    if (list) list.push(d);
    else pending.set(t, [d]);
  };
  const total = (t: Tensor): Tensor | null => {
    const list = pending.get(t);
    if (!list || list.length === 0) return null;
    let acc = list[0] as Tensor;
    for (let i = 1; i < list.length; i++) acc = g.add(acc, list[i] as Tensor);
    pending.set(t, [acc]);
    return acc;
  };
  push(loss, seed ?? g.expand(g.scalar(1, loss.dtype), loss.shape));
  if (!req.has(loss)) return wrt.map((t) => g.zeros(t.shape, t.dtype as 'float32'));

  for (let i = end; i >= 0; i--) {
    const node = g.nodes[i] as Node;
    const gy = node.outputs.map((o) => (req.has(o) ? total(o) : null));
    if (gy.every((d) => d === null)) continue;
    const needs = node.inputs.map((t) => req.has(t));
    if (!needs.some(Boolean)) continue;
    const rule = GRAD_RULES[node.op] as GradRule<OpType> | typeof NO_GRADIENT;
    if (rule === NO_GRADIENT) continue;
    const grads = g.atPath(node.modulePath ? `grad.${node.modulePath}` : 'grad', () =>
      rule({
        g,
        node,
        x: node.inputs,
        y: node.outputs,
        attrs: node.attrs,
        gy,
        needs,
        requires: (t) => req.has(t),
        contribute: (t, d) => {
          if (!req.has(t)) return;
          if ((t.producer?.index ?? -1) >= node.index)
            throw new GraphBuildError(
              node.modulePath,
              `${node.op} gradient`,
              [t.shape],
              `${t.name} is not an earlier tensor`,
            );
          checkGrad(node, t, d);
          push(t, d);
        },
      }),
    );
    for (const [j, t] of node.inputs.entries()) {
      const d = grads[j];
      if (!d || !needs[j]) continue;
      checkGrad(node, t, d);
      push(t, d);
    }
  }
  return wrt.map((t) => total(t) ?? g.zeros(t.shape, t.dtype as 'float32'));
}
