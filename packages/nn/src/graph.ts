/**
 * Symbolic tensors and the graph builder. Every op constructor checks dtypes and shapes when the
 * node is created and throws a GraphBuildError naming the module path, the op and the shapes.
 * Dims are static numbers or symbols (`'batch'`, `'seq'`, see dims.ts) that graph inputs declare
 * and shape inference carries through every op; a graph with symbolic dims compiles to one session
 * that serves every value of them. Parameters and constants are always static.
 */
import {
  canonicalDim,
  type Dim,
  dimAdd,
  dimDiv,
  dimProduct,
  dimSub,
  isStaticDim,
  isStaticShape,
  isSymbolName,
} from './dims.js';
import { formatShape, GraphBuildError } from './errors.js';

export type { Dim } from './dims.js';
export type DType = 'float32' | 'float64' | 'int64' | 'bool';
export type FloatDType = 'float32' | 'float64';
/** A tensor shape; entries may be symbolic (strings). */
export type Shape = readonly Dim[];
/** A shape known at build time (parameters, constants, host buffers). */
export type StaticShape = readonly number[];

/** Slice ends at or beyond this mean "to the end of the axis" (also on symbolic axes). */
export const SLICE_END = 2 ** 53 - 1;

/** Per-op attributes; the key set is the IR's op set (and the type the gradient table ranges over). */
export interface OpAttrs {
  MatMul: Record<string, never>;
  Gemm: { transA: boolean; transB: boolean };
  Add: Record<string, never>;
  Sub: Record<string, never>;
  Mul: Record<string, never>;
  Div: Record<string, never>;
  Pow: Record<string, never>;
  Max: Record<string, never>;
  Min: Record<string, never>;
  Neg: Record<string, never>;
  Sqrt: Record<string, never>;
  Exp: Record<string, never>;
  Log: Record<string, never>;
  Tanh: Record<string, never>;
  Sigmoid: Record<string, never>;
  Relu: Record<string, never>;
  Abs: Record<string, never>;
  Erf: Record<string, never>;
  Gelu: { approximate: 'none' | 'tanh' };
  Silu: Record<string, never>;
  Softmax: { axis: number };
  LogSoftmax: { axis: number };
  /** log softmax(logits)[target] over the last axis. */
  TargetLogProb: Record<string, never>;
  ReduceSum: { axes: number[]; keepdims: boolean };
  ReduceMean: { axes: number[]; keepdims: boolean };
  ReduceMax: { axes: number[]; keepdims: boolean };
  ReduceSumSquare: { axes: number[]; keepdims: boolean };
  /** The output shape (symbolic entries are computed at run time by the emitted graph). */
  Reshape: { shape: Dim[] };
  Transpose: { perm: number[] };
  Unsqueeze: { axes: number[] };
  Squeeze: { axes: number[] };
  Concat: { axis: number };
  Split: { axis: number; sizes: number[] };
  /** Static bounds are normalised (non-negative, clamped); symbolic ones are kept as given. */
  Slice: { starts: Dim[]; ends: Dim[]; axes: number[]; steps: number[] };
  Gather: { axis: number };
  Where: Record<string, never>;
  Expand: { shape: Dim[] };
  Cast: { to: DType };
  LayerNorm: { axis: number; epsilon: number };
  RMSNorm: { axis: number; epsilon: number };
  Identity: Record<string, never>;
  StopGradient: Record<string, never>;
  ScatterNDAdd: Record<string, never>;
  ScatterElementsAdd: { axis: number };
  Equal: Record<string, never>;
  Less: Record<string, never>;
  Greater: Record<string, never>;
  Not: Record<string, never>;
  And: Record<string, never>;
  Sign: Record<string, never>;
}
export type OpType = keyof OpAttrs;

export interface Node<K extends OpType = OpType> {
  readonly op: K;
  readonly name: string;
  readonly modulePath: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: OpAttrs[K];
  readonly index: number;
}

export type TensorKind = 'intermediate' | 'input' | 'param' | 'constant';

export interface ParamInit {
  kind: 'normal' | 'zeros' | 'ones' | 'uniform';
  /** Standard deviation for 'normal', half-width for 'uniform'. */
  scale?: number;
}

export interface ParamSpec {
  readonly name: string;
  readonly shape: StaticShape;
  readonly dtype: FloatDType;
  readonly init: ParamInit;
  /** Whether AdamW's decoupled weight decay applies (false for norms, biases, embeddings). */
  readonly decay: boolean;
}

export type ConstData = Float32Array | Float64Array | BigInt64Array | Uint8Array;

let nextTensorId = 0;

export class Tensor {
  readonly id = nextTensorId++;
  constructor(
    readonly graph: Graph,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly kind: TensorKind,
    readonly name: string,
    public producer: Node | null = null,
    public outputIndex = 0,
  ) {}

  get rank(): number {
    return this.shape.length;
  }
  /** Element count; throws for a symbolic shape (see `dimProduct`). */
  get size(): number {
    return numel(this.shape);
  }
  /** Whether every dim is known at build time. */
  get isStatic(): boolean {
    return isStaticShape(this.shape);
  }
  toString(): string {
    return `${this.name}${formatShape(this.shape)}:${this.dtype}`;
  }

  add(o: Tensor | number): Tensor {
    return this.graph.add(this, o);
  }
  sub(o: Tensor | number): Tensor {
    return this.graph.sub(this, o);
  }
  mul(o: Tensor | number): Tensor {
    return this.graph.mul(this, o);
  }
  div(o: Tensor | number): Tensor {
    return this.graph.div(this, o);
  }
  matmul(o: Tensor): Tensor {
    return this.graph.matmul(this, o);
  }
  neg(): Tensor {
    return this.graph.neg(this);
  }
  reshape(shape: Shape): Tensor {
    return this.graph.reshape(this, shape);
  }
  transpose(perm: readonly number[]): Tensor {
    return this.graph.transpose(this, perm);
  }
  sum(axes?: readonly number[], keepdims = false): Tensor {
    return this.graph.reduceSum(this, axes, keepdims);
  }
  mean(axes?: readonly number[], keepdims = false): Tensor {
    return this.graph.reduceMean(this, axes, keepdims);
  }
  cast(to: DType): Tensor {
    return this.graph.cast(this, to);
  }
}

/** A tensor whose shape is known at build time (what `param` gives). */
export type StaticTensor = Tensor & { readonly shape: StaticShape };

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!isStaticDim(d))
      throw new Error(`element count of symbolic shape ${formatShape(shape)} is not known`);
    n *= d;
  }
  return n;
}

export function isFloat(d: DType): d is FloatDType {
  return d === 'float32' || d === 'float64';
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/**
 * Numpy-style broadcast of two shapes, with the reason when they do not broadcast. A symbol
 * matches itself and broadcasts against 1; against another number or another symbol it is an
 * error (it might be 1 at run time, but the graph could not then be given one output shape).
 */
export function broadcastResult(a: Shape, b: Shape): { shape: Dim[] } | { why: string } {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      const symbolic = !isStaticDim(da) || !isStaticDim(db);
      return {
        why: `shapes do not broadcast (axis ${i - n}: ${da} vs ${db}${symbolic ? '; a symbolic dim only matches itself or 1' : ''})`,
      };
    }
    out.push(da === 1 ? db : da);
  }
  return { shape: out };
}

/** Numpy-style broadcast of two shapes, or null if they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] | null {
  const r = broadcastResult(a, b);
  return 'shape' in r ? r.shape : null;
}

/**
 * The permutation q with to[i] = from[q[i]] when `to` differs from `from` only in where its size-1
 * axes sit (same rank, same non-unit dims in the same order); null otherwise.
 */
function unitAxisMove(from: Shape, to: Shape): number[] | null {
  if (from.length !== to.length) return null;
  const units = from.map((_, i) => i).filter((i) => from[i] === 1);
  const others = from.map((_, i) => i).filter((i) => from[i] !== 1);
  const q: number[] = [];
  let u = 0;
  let o = 0;
  for (const d of to) {
    const src = d === 1 ? units[u++] : others[o++];
    if (src === undefined || from[src] !== d) return null;
    q.push(src);
  }
  return q;
}

/** Whether `perm` swaps the last two axes and leaves every other axis in place (ORT folds it into MatMul). */
export const isLastAxesSwap = (perm: readonly number[]) =>
  perm.length >= 2 && perm.every((a, i) => (i < perm.length - 2 ? a === i : a === 2 * perm.length - 3 - i));

/** Same rank and the same dim (number or symbol) on every axis. */
export const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

export interface GraphOptions {
  /** Name used in the ONNX model and in error messages. */
  name?: string;
}

/**
 * A graph under construction. Nodes are appended in topological order (every op's inputs exist
 * before it), which autodiff and emission rely on.
 */
export class Graph {
  readonly name: string;
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly params = new Map<string, { tensor: Tensor; spec: ParamSpec }>();
  readonly constants = new Map<Tensor, ConstData>();
  readonly outputs: { name: string; tensor: Tensor }[] = [];
  private readonly scopePath: string[] = [];
  private readonly nameCounts = new Map<string, number>();
  private readonly scalarCache = new Map<string, Tensor>();

  constructor(options: GraphOptions = {}) {
    this.name = options.name ?? 'graph';
  }

  get modulePath(): string {
    return this.scopePath.join('.');
  }

  /** Runs `fn` with `name` appended to the module path (node names, param names and errors use it). */
  scope<T>(name: string, fn: () => T): T {
    this.scopePath.push(name);
    try {
      return fn();
    } finally {
      this.scopePath.pop();
    }
  }

  /** Runs `fn` with the module path replaced by `path` (dot-separated); gradient nodes use it. */
  atPath<T>(path: string, fn: () => T): T {
    const saved = this.scopePath.splice(0, this.scopePath.length, ...(path ? path.split('.') : []));
    try {
      return fn();
    } finally {
      this.scopePath.splice(0, this.scopePath.length, ...saved);
    }
  }

  fail(op: string, inputs: readonly (Tensor | Shape)[], detail: string): never {
    throw new GraphBuildError(
      this.modulePath,
      op,
      inputs.map((t) => (t instanceof Tensor ? t.shape : t)),
      detail,
    );
  }

  /**
   * A graph input. Dims are positive integers or symbol names (`['batch', 'seq']`): the compiled
   * graph then accepts any size there, the same size wherever one symbol appears.
   */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    if (this.inputs.some((t) => t.name === name) || this.params.has(name)) {
      this.fail('input', [shape], `duplicate graph input name "${name}"`);
    }
    for (const d of shape) {
      if (isStaticDim(d) ? !Number.isInteger(d) || d < 1 : !isSymbolName(d))
        this.fail(
          'input',
          [shape],
          `input "${name}": dim ${JSON.stringify(d)} must be a positive integer or a symbol name like "batch"`,
        );
    }
    const t = new Tensor(this, dtype, [...shape], 'input', name);
    this.inputs.push(t);
    return t;
  }

  /**
   * A named parameter under the current module path. Asking again for the same full name returns
   * the same tensor (weight tying); asking with another shape is an error.
   */
  param(
    name: string,
    shape: StaticShape,
    options: { init?: ParamInit; decay?: boolean; dtype?: FloatDType } = {},
  ): StaticTensor {
    const full = this.modulePath ? `${this.modulePath}.${name}` : name;
    const existing = this.params.get(full);
    if (existing) {
      if (!sameShape(existing.spec.shape, shape)) {
        this.fail(
          'param',
          [existing.spec.shape, shape],
          `parameter "${full}" requested with a different shape`,
        );
      }
      return existing.tensor as StaticTensor;
    }
    const dtype = options.dtype ?? 'float32';
    const spec: ParamSpec = {
      name: full,
      shape: [...shape],
      dtype,
      init: options.init ?? { kind: 'normal', scale: 0.02 },
      decay: options.decay ?? shape.length >= 2,
    };
    const tensor = new Tensor(this, dtype, spec.shape, 'param', full);
    this.params.set(full, { tensor, spec });
    return tensor as StaticTensor;
  }

  constant(data: ConstData, dtype: DType, shape: Shape, name?: string): Tensor {
    if (!isStaticShape(shape)) this.fail('constant', [shape], 'a constant needs a static shape');
    if (data.length !== numel(shape)) this.fail('constant', [shape], `data has ${data.length} elements`);
    const t = new Tensor(this, dtype, [...shape], 'constant', name ?? this.uniqueName('const'));
    this.constants.set(t, data);
    return t;
  }

  /** A scalar constant of `dtype`, shared between uses. */
  scalar(value: number, dtype: DType = 'float32'): Tensor {
    const key = `${dtype}:${value}`;
    const hit = this.scalarCache.get(key);
    if (hit) return hit;
    const data =
      dtype === 'float32'
        ? Float32Array.of(value)
        : dtype === 'float64'
          ? Float64Array.of(value)
          : dtype === 'int64'
            ? BigInt64Array.of(BigInt(value))
            : Uint8Array.of(value ? 1 : 0);
    const t = this.constant(
      data,
      dtype,
      [],
      `scalar_${dtype}_${String(value).replace(/[^0-9a-zA-Z]/g, '_')}`,
    );
    this.scalarCache.set(key, t);
    return t;
  }

  output(name: string, tensor: Tensor): void {
    if (this.outputs.some((o) => o.name === name))
      this.fail('output', [tensor], `duplicate output "${name}"`);
    this.outputs.push({ name, tensor });
  }

  private uniqueName(base: string): string {
    const prefix = this.modulePath ? `${this.modulePath}/${base}` : base;
    const n = this.nameCounts.get(prefix) ?? 0;
    this.nameCounts.set(prefix, n + 1);
    return n === 0 ? prefix : `${prefix}_${n}`;
  }

  /** Appends a node; `outs` are the inferred output dtypes and shapes. */
  addNode<K extends OpType>(
    op: K,
    inputs: readonly Tensor[],
    attrs: OpAttrs[K],
    outs: readonly { dtype: DType; shape: Shape }[],
  ): Tensor[] {
    for (const t of inputs) {
      if (t.graph !== this) this.fail(op, inputs, `input ${t.name} belongs to another graph`);
    }
    const name = this.uniqueName(op);
    const outputs = outs.map(
      (o, i) =>
        new Tensor(this, o.dtype, [...o.shape], 'intermediate', outs.length === 1 ? name : `${name}:${i}`),
    );
    const node: Node<K> = {
      op,
      name,
      modulePath: this.modulePath,
      inputs,
      outputs,
      attrs,
      index: this.nodes.length,
    };
    for (const [i, t] of outputs.entries()) {
      t.producer = node as Node;
      t.outputIndex = i;
    }
    this.nodes.push(node as Node);
    return outputs;
  }

  private one<K extends OpType>(
    op: K,
    inputs: readonly Tensor[],
    attrs: OpAttrs[K],
    dtype: DType,
    shape: Shape,
  ): Tensor {
    return this.addNode(op, inputs, attrs, [{ dtype, shape }])[0] as Tensor;
  }

  private lift(x: Tensor | number, like: Tensor): Tensor {
    return typeof x === 'number' ? this.scalar(x, like.dtype) : x;
  }

  private broadcast(op: string, ins: readonly Tensor[], a: Shape, b: Shape): Dim[] {
    const r = broadcastResult(a, b);
    if ('why' in r) this.fail(op, ins, r.why);
    return r.shape;
  }

  private requireFloat(op: string, ...ts: Tensor[]): void {
    for (const t of ts) {
      if (!isFloat(t.dtype)) this.fail(op, ts, `expects float32/float64 inputs, got ${t.dtype}`);
    }
  }

  private binary(
    op: 'Add' | 'Sub' | 'Mul' | 'Div' | 'Pow' | 'Max' | 'Min',
    a: Tensor | number,
    b: Tensor | number,
  ): Tensor {
    const ta = typeof a === 'number' ? this.lift(a, b as Tensor) : a;
    const tb = this.lift(b, ta);
    if (ta.dtype !== tb.dtype)
      this.fail(op, [ta, tb], `dtypes differ (${ta.dtype} vs ${tb.dtype}); cast one first`);
    if (ta.dtype === 'bool') this.fail(op, [ta, tb], 'bool inputs are not arithmetic');
    const shape = this.broadcast(op, [ta, tb], ta.shape, tb.shape);
    return this.one(op, [ta, tb], {}, ta.dtype, shape);
  }

  add(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Add', a, b);
  }
  sub(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Sub', a, b);
  }
  mul(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Mul', a, b);
  }
  div(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Div', a, b);
  }
  pow(a: Tensor, b: Tensor | number): Tensor {
    this.requireFloat('Pow', a);
    return this.binary('Pow', a, b);
  }
  max(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Max', a, b);
  }
  min(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Min', a, b);
  }

  private compare(op: 'Equal' | 'Less' | 'Greater', a: Tensor, b: Tensor | number): Tensor {
    const tb = this.lift(b, a);
    if (a.dtype !== tb.dtype) this.fail(op, [a, tb], `dtypes differ (${a.dtype} vs ${tb.dtype})`);
    const shape = this.broadcast(op, [a, tb], a.shape, tb.shape);
    return this.one(op, [a, tb], {}, 'bool', shape);
  }
  equal(a: Tensor, b: Tensor | number): Tensor {
    return this.compare('Equal', a, b);
  }
  less(a: Tensor, b: Tensor | number): Tensor {
    return this.compare('Less', a, b);
  }
  greater(a: Tensor, b: Tensor | number): Tensor {
    return this.compare('Greater', a, b);
  }
  not(a: Tensor): Tensor {
    if (a.dtype !== 'bool') this.fail('Not', [a], `expects bool, got ${a.dtype}`);
    return this.one('Not', [a], {}, 'bool', a.shape);
  }
  and(a: Tensor, b: Tensor): Tensor {
    if (a.dtype !== 'bool' || b.dtype !== 'bool') this.fail('And', [a, b], 'expects bool inputs');
    const shape = this.broadcast('And', [a, b], a.shape, b.shape);
    return this.one('And', [a, b], {}, 'bool', shape);
  }

  private unary(
    op: 'Neg' | 'Sqrt' | 'Exp' | 'Log' | 'Tanh' | 'Sigmoid' | 'Relu' | 'Abs' | 'Erf' | 'Silu' | 'Sign',
    x: Tensor,
  ): Tensor {
    if (op !== 'Neg' && op !== 'Abs' && op !== 'Sign') this.requireFloat(op, x);
    return this.one(op, [x], {}, x.dtype, x.shape);
  }
  neg(x: Tensor): Tensor {
    return this.unary('Neg', x);
  }
  sqrt(x: Tensor): Tensor {
    return this.unary('Sqrt', x);
  }
  exp(x: Tensor): Tensor {
    return this.unary('Exp', x);
  }
  log(x: Tensor): Tensor {
    return this.unary('Log', x);
  }
  tanh(x: Tensor): Tensor {
    return this.unary('Tanh', x);
  }
  sigmoid(x: Tensor): Tensor {
    return this.unary('Sigmoid', x);
  }
  relu(x: Tensor): Tensor {
    return this.unary('Relu', x);
  }
  abs(x: Tensor): Tensor {
    return this.unary('Abs', x);
  }
  erf(x: Tensor): Tensor {
    return this.unary('Erf', x);
  }
  silu(x: Tensor): Tensor {
    return this.unary('Silu', x);
  }
  sign(x: Tensor): Tensor {
    return this.unary('Sign', x);
  }
  gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
    this.requireFloat('Gelu', x);
    return this.one('Gelu', [x], { approximate }, x.dtype, x.shape);
  }

  /** Batched matrix product with numpy broadcasting over leading dims (both ranks >= 2). */
  matmul(a: Tensor, b: Tensor): Tensor {
    this.requireFloat('MatMul', a, b);
    if (a.dtype !== b.dtype) this.fail('MatMul', [a, b], `dtypes differ (${a.dtype} vs ${b.dtype})`);
    if (a.rank < 2 || b.rank < 2) this.fail('MatMul', [a, b], 'both inputs need rank >= 2');
    const k1 = a.shape[a.rank - 1] as Dim;
    const k2 = b.shape[b.rank - 2] as Dim;
    if (k1 !== k2) this.fail('MatMul', [a, b], `inner dimensions differ (${k1} vs ${k2})`);
    const batch = broadcastResult(a.shape.slice(0, -2), b.shape.slice(0, -2));
    if ('why' in batch) this.fail('MatMul', [a, b], `batch dimensions: ${batch.why}`);
    return this.one('MatMul', [a, b], {}, a.dtype, [
      ...batch.shape,
      a.shape[a.rank - 2] as Dim,
      b.shape[b.rank - 1] as Dim,
    ]);
  }

  /** 2-D op(A) @ op(B) + C with optional transposes; C broadcasts to the result. */
  gemm(a: Tensor, b: Tensor, c: Tensor | null, options: { transA?: boolean; transB?: boolean } = {}): Tensor {
    const transA = options.transA ?? false;
    const transB = options.transB ?? false;
    const ins = c ? [a, b, c] : [a, b];
    this.requireFloat('Gemm', ...ins);
    if (a.rank !== 2 || b.rank !== 2) this.fail('Gemm', ins, 'A and B must be 2-D');
    const [m, k1] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
    const [k2, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
    if (k1 !== k2) this.fail('Gemm', ins, `inner dimensions differ (${k1} vs ${k2})`);
    const shape = [m as Dim, n as Dim];
    if (c && !sameShape(broadcastShapes(c.shape, shape) ?? [], shape))
      this.fail('Gemm', ins, 'C does not broadcast to the result');
    return this.one('Gemm', ins, { transA, transB }, a.dtype, shape);
  }

  softmax(x: Tensor, axis = -1): Tensor {
    this.requireFloat('Softmax', x);
    return this.one('Softmax', [x], { axis: this.axisOf('Softmax', x, axis) }, x.dtype, x.shape);
  }
  logSoftmax(x: Tensor, axis = -1): Tensor {
    this.requireFloat('LogSoftmax', x);
    return this.one('LogSoftmax', [x], { axis: this.axisOf('LogSoftmax', x, axis) }, x.dtype, x.shape);
  }

  /**
   * log softmax(logits)[..., target] for logits [..., V] and int64 targets [...] (each in [0, V)).
   * One op so that its backward is the fused softmax - onehot form (no one-hot or scatter into a
   * zero [..., V] tensor), fused further with the output head's Gemm where there is one.
   */
  targetLogProb(logits: Tensor, targets: Tensor): Tensor {
    this.requireFloat('TargetLogProb', logits);
    const lead = logits.shape.slice(0, -1);
    if (logits.rank < 2 || targets.dtype !== 'int64' || !sameShape(targets.shape, lead)) {
      this.fail('TargetLogProb', [logits, targets], `targets must be int64 with shape ${formatShape(lead)}`);
    }
    return this.one('TargetLogProb', [logits, targets], {}, logits.dtype, lead);
  }

  private axisOf(op: string, x: Tensor, axis: number, rank = x.rank): number {
    const a = normAxis(axis, rank);
    if (a < 0 || a >= rank) this.fail(op, [x], `axis ${axis} out of range for rank ${rank}`);
    return a;
  }

  private reduce(
    op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceSumSquare',
    x: Tensor,
    axes: readonly number[] | undefined,
    keepdims: boolean,
  ): Tensor {
    if (x.dtype === 'bool') this.fail(op, [x], 'bool input');
    const ax = [...new Set((axes ?? x.shape.map((_, i) => i)).map((a) => this.axisOf(op, x, a)))].sort(
      (p, q) => p - q,
    );
    const shape = keepdims
      ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !ax.includes(i));
    return this.one(op, [x], { axes: ax, keepdims }, x.dtype, shape);
  }
  reduceSum(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
    return this.reduce('ReduceSum', x, axes, keepdims);
  }
  reduceMean(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
    return this.reduce('ReduceMean', x, axes, keepdims);
  }
  reduceMax(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
    return this.reduce('ReduceMax', x, axes, keepdims);
  }
  /** sum(x^2) in one pass (gradient-norm computations). */
  reduceSumSquare(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
    return this.reduce('ReduceSumSquare', x, axes, keepdims);
  }

  /**
   * Reshape; one entry may be -1. Entries may be symbolic (`[b, t, heads, hd]` for b, t taken from
   * another tensor's shape); the element counts must agree as polynomials in the symbols, and the
   * emitted graph computes symbolic entries at run time.
   */
  reshape(x: Tensor, shape: Shape): Tensor {
    const holes = shape.filter((d) => d === -1).length;
    if (holes > 1 || shape.some((d) => isStaticDim(d) && (d < -1 || d === 0 || !Number.isInteger(d))))
      this.fail('Reshape', [x, shape], 'bad target shape');
    let target: Dim[];
    try {
      target = shape.map((d) => canonicalDim(d));
    } catch (e) {
      this.fail('Reshape', [x, shape], (e as Error).message);
    }
    const total = dimProduct(x.shape);
    const known = dimProduct(target.filter((d) => d !== -1));
    let resolved: Dim[];
    if (holes === 1) {
      const hole = dimDiv(total, known);
      if (hole === null || (isStaticDim(hole) && hole < 1))
        this.fail('Reshape', [x, shape], `cannot reshape ${total} elements`);
      resolved = target.map((d) => (d === -1 ? hole : d));
    } else {
      resolved = target;
    }
    if (dimProduct(resolved) !== total) this.fail('Reshape', [x, shape], `cannot reshape ${total} elements`);
    if (sameShape(resolved, x.shape)) return x;
    // Moving size-1 axes of a transposed tensor is itself a transpose: fold it into the producer's
    // permutation, so chains of gradient transposes can cancel (see transpose).
    if (x.producer?.op === 'Transpose') {
      const move = unitAxisMove(x.shape, resolved);
      if (move) return this.transpose(x, move);
    }
    return this.one('Reshape', [x], { shape: resolved }, x.dtype, resolved);
  }

  transpose(x: Tensor, perm: readonly number[]): Tensor {
    const p = perm.map((a) => normAxis(a, x.rank));
    if (p.length !== x.rank || new Set(p).size !== x.rank || p.some((a) => a < 0 || a >= x.rank)) {
      this.fail('Transpose', [x], `bad permutation [${perm.join(',')}]`);
    }
    if (p.every((a, i) => a === i)) return x;
    // transpose(transpose(y, p1), p2) = transpose(y, p1 o p2): one data movement instead of two,
    // none when they cancel (the inner node is dropped at emission if nothing else reads it). A bare
    // swap of the last two axes is kept when they do not cancel: ORT folds it into a MatMul.
    const inner = x.producer;
    if (inner?.op === 'Transpose') {
      const p1 = (inner.attrs as OpAttrs['Transpose']).perm;
      const composed = p.map((a) => p1[a] as number);
      if (!isLastAxesSwap(p) || composed.every((a, i) => a === i))
        return this.transpose(inner.inputs[0] as Tensor, composed);
    }
    return this.one(
      'Transpose',
      [x],
      { perm: p },
      x.dtype,
      p.map((a) => x.shape[a] as Dim),
    );
  }

  unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
    const rank = x.rank + axes.length;
    const ax = axes.map((a) => this.axisOf('Unsqueeze', x, a, rank)).sort((p, q) => p - q);
    if (new Set(ax).size !== ax.length) this.fail('Unsqueeze', [x], 'repeated axes');
    const shape: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) shape.push(ax.includes(i) ? 1 : (x.shape[j++] as Dim));
    return this.one('Unsqueeze', [x], { axes: ax }, x.dtype, shape);
  }

  squeeze(x: Tensor, axes: readonly number[]): Tensor {
    const ax = axes.map((a) => this.axisOf('Squeeze', x, a)).sort((p, q) => p - q);
    if (ax.some((a) => x.shape[a] !== 1))
      this.fail('Squeeze', [x], `axes [${axes.join(',')}] are not all size 1`);
    return this.one(
      'Squeeze',
      [x],
      { axes: ax },
      x.dtype,
      x.shape.filter((_, i) => !ax.includes(i)),
    );
  }

  concat(xs: readonly Tensor[], axis: number): Tensor {
    const first = xs[0];
    if (!first) this.fail('Concat', [], 'no inputs');
    const a = this.axisOf('Concat', first, axis);
    for (const t of xs) {
      if (
        t.dtype !== first.dtype ||
        t.rank !== first.rank ||
        t.shape.some((d, i) => i !== a && d !== first.shape[i])
      ) {
        this.fail('Concat', xs, `inputs differ outside axis ${a} or in dtype`);
      }
    }
    if (xs.length === 1) return first;
    const shape = first.shape.map((d, i) =>
      i === a ? xs.reduce<Dim>((s, t) => dimAdd(s, t.shape[a] as Dim), 0) : d,
    );
    return this.one('Concat', xs, { axis: a }, first.dtype, shape);
  }

  split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
    const a = this.axisOf('Split', x, axis);
    if (!isStaticDim(x.shape[a] as Dim))
      this.fail('Split', [x], `axis ${a} is symbolic (${x.shape[a]}); split along a static axis`);
    if (sizes.reduce((s, d) => s + d, 0) !== x.shape[a])
      this.fail('Split', [x], `sizes [${sizes.join(',')}] do not sum to dim ${a}`);
    return this.addNode(
      'Split',
      [x],
      { axis: a, sizes: [...sizes] },
      sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === a ? s : d)) })),
    );
  }

  /**
   * Slice with numpy semantics (negative bounds count from the end, ends clamp, positive steps).
   * On a static axis with static bounds the result is known exactly. On a symbolic axis a bound is
   * a negative number (from the end), `SLICE_END` (or more: to the end) or a non-negative start;
   * a non-negative end there is refused, as its result length would depend on the run-time size.
   * A bound may itself be symbolic (`g.slice(table, [0], [t])` takes the first t rows of a table
   * built for a maximum length); the caller guarantees it lies inside the axis.
   */
  slice(
    x: Tensor,
    starts: readonly Dim[],
    ends: readonly Dim[],
    axes?: readonly number[],
    steps?: readonly number[],
  ): Tensor {
    const ax = (axes ?? starts.map((_, i) => i)).map((a) => this.axisOf('Slice', x, a));
    const st = steps ?? starts.map(() => 1);
    const shape = [...x.shape];
    const s0: Dim[] = [];
    const e0: Dim[] = [];
    for (const [i, a] of ax.entries()) {
      const dim = x.shape[a] as Dim;
      const step = st[i] as number;
      const start = starts[i] as Dim;
      const end = ends[i] as Dim;
      if (step <= 0) this.fail('Slice', [x], 'only positive steps are supported');
      if (isStaticDim(dim) && isStaticDim(start) && isStaticDim(end)) {
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
        const s = clamp(start);
        const e = clamp(end);
        s0.push(s);
        e0.push(e);
        shape[a] = Math.max(0, Math.ceil((e - s) / step));
        continue;
      }
      if (step !== 1) this.fail('Slice', [x], 'a slice with symbolic bounds or axis needs step 1');
      // Bounds as dims (relative to the axis start), each checked to make the length well defined.
      const bound = (v: Dim, isEnd: boolean): Dim => {
        if (!isStaticDim(v)) {
          try {
            return canonicalDim(v);
          } catch (err) {
            this.fail('Slice', [x], (err as Error).message);
          }
        }
        if (isEnd && v >= SLICE_END) return dim;
        if (v < 0) return dimAdd(dim, v);
        if (isEnd && !isStaticDim(dim))
          this.fail(
            'Slice',
            [x],
            `end ${v} on symbolic axis ${a} (${dim}): use a negative end or SLICE_END so the length does not depend on the run-time size`,
          );
        return v;
      };
      const s = bound(start, false);
      const e = bound(end, true);
      const len = dimSub(e, s);
      if (isStaticDim(len) && len <= 0) this.fail('Slice', [x], 'empty slice');
      s0.push(isStaticDim(start) ? start : s);
      e0.push(isStaticDim(end) ? Math.min(end, SLICE_END) : e);
      shape[a] = len;
    }
    if (shape.some((d) => d === 0)) this.fail('Slice', [x], 'empty slice');
    return this.one('Slice', [x], { starts: s0, ends: e0, axes: ax, steps: [...st] }, x.dtype, shape);
  }

  /** Rows of `data` picked by int64 `indices` along `axis` (embedding lookup with axis 0). */
  gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
    if (indices.dtype !== 'int64')
      this.fail('Gather', [data, indices], `indices must be int64, got ${indices.dtype}`);
    const a = this.axisOf('Gather', data, axis);
    const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
    return this.one('Gather', [data, indices], { axis: a }, data.dtype, shape);
  }

  where(cond: Tensor, x: Tensor | number, y: Tensor | number): Tensor {
    const tx = typeof x === 'number' ? this.lift(x, y as Tensor) : x;
    const ty = this.lift(y, tx);
    if (cond.dtype !== 'bool')
      this.fail('Where', [cond, tx, ty], `condition must be bool, got ${cond.dtype}`);
    if (tx.dtype !== ty.dtype)
      this.fail('Where', [cond, tx, ty], `branch dtypes differ (${tx.dtype} vs ${ty.dtype})`);
    const s1 = this.broadcast('Where', [cond, tx, ty], cond.shape, tx.shape);
    const shape = this.broadcast('Where', [cond, tx, ty], s1, ty.shape);
    return this.one('Where', [cond, tx, ty], {}, tx.dtype, shape);
  }

  expand(x: Tensor, shape: Shape): Tensor {
    const target = shape.map((d) => canonicalDim(d));
    const out = broadcastShapes(x.shape, target);
    if (!out || !sameShape(out, target))
      this.fail('Expand', [x, target], 'input does not broadcast to the target');
    if (sameShape(x.shape, target)) return x;
    return this.one('Expand', [x], { shape: target }, x.dtype, target);
  }

  cast(x: Tensor, to: DType): Tensor {
    if (x.dtype === to) return x;
    return this.one('Cast', [x], { to }, to, x.shape);
  }

  /** Layer normalization over the trailing axes from `axis`; `bias` may be null. */
  layerNorm(x: Tensor, scale: Tensor, bias: Tensor | null, epsilon = 1e-5, axis = -1): Tensor {
    const a = this.axisOf('LayerNorm', x, axis);
    const ins = bias ? [x, scale, bias] : [x, scale];
    this.requireFloat('LayerNorm', ...ins);
    const norm = x.shape.slice(a);
    if (!isStaticShape(norm)) this.fail('LayerNorm', ins, 'the normalised axes must be static');
    for (const p of ins.slice(1)) {
      if (!sameShape(p.shape, norm) || p.dtype !== x.dtype)
        this.fail('LayerNorm', ins, `scale/bias must have shape ${formatShape(norm)}`);
    }
    // Mean and 1/std are extra outputs (ONNX's optional ones) so the backward reuses them.
    const stats = x.shape.map((d, i) => (i < a ? d : 1));
    return this.addNode('LayerNorm', ins, { axis: a, epsilon }, [
      { dtype: x.dtype, shape: x.shape },
      { dtype: x.dtype, shape: stats },
      { dtype: x.dtype, shape: stats },
    ])[0] as Tensor;
  }

  /** RMS normalization x / sqrt(mean(x^2) + eps) * scale over the trailing axes from `axis`. */
  rmsNorm(x: Tensor, scale: Tensor, epsilon = 1e-6, axis = -1): Tensor {
    const a = this.axisOf('RMSNorm', x, axis);
    this.requireFloat('RMSNorm', x, scale);
    if (!sameShape(scale.shape, x.shape.slice(a)) || scale.dtype !== x.dtype) {
      this.fail('RMSNorm', [x, scale], `scale must have shape ${formatShape(x.shape.slice(a))}`);
    }
    return this.one('RMSNorm', [x, scale], { axis: a, epsilon }, x.dtype, x.shape);
  }

  identity(x: Tensor): Tensor {
    return this.one('Identity', [x], {}, x.dtype, x.shape);
  }

  /** The same value, but no gradient flows back through it. */
  stopGradient(x: Tensor): Tensor {
    return this.one('StopGradient', [x], {}, x.dtype, x.shape);
  }

  /**
   * Adds `updates` into a copy of `data` at `indices` (last dim of indices indexes the leading dims
   * of data); duplicate indices accumulate. Used for embedding gradients.
   */
  scatterNDAdd(data: Tensor, indices: Tensor, updates: Tensor): Tensor {
    const k = indices.shape[indices.rank - 1] as number;
    if (!isStaticDim(k)) this.fail('ScatterNDAdd', [data, indices, updates], 'index depth must be static');
    const expected = [...indices.shape.slice(0, -1), ...data.shape.slice(k)];
    if (indices.dtype !== 'int64' || !sameShape(updates.shape, expected) || updates.dtype !== data.dtype) {
      this.fail(
        'ScatterNDAdd',
        [data, indices, updates],
        `updates must be ${formatShape(expected)} and indices int64`,
      );
    }
    return this.one('ScatterNDAdd', [data, indices, updates], {}, data.dtype, data.shape);
  }

  /**
   * Adds `updates` into a copy of `data` along `axis`: out[..., indices[..., j, ...], ...] +=
   * updates[..., j, ...] (indices and updates share a shape that matches data off the axis). ORT
   * runs it in place when `data` has no other use, so subtracting a one-hot from a [N, V] tensor
   * costs N writes instead of a copy.
   */
  scatterElementsAdd(data: Tensor, indices: Tensor, updates: Tensor, axis: number): Tensor {
    const a = this.axisOf('ScatterElementsAdd', data, axis);
    const offAxis = (t: Tensor) => t.shape.filter((_, i) => i !== a);
    if (
      indices.dtype !== 'int64' ||
      indices.rank !== data.rank ||
      !sameShape(updates.shape, indices.shape) ||
      updates.dtype !== data.dtype ||
      !sameShape(offAxis(indices), offAxis(data))
    ) {
      this.fail(
        'ScatterElementsAdd',
        [data, indices, updates],
        `indices (int64) and updates must share a shape that matches data off axis ${a}`,
      );
    }
    return this.one('ScatterElementsAdd', [data, indices, updates], { axis: a }, data.dtype, data.shape);
  }

  zeros(shape: Shape, dtype: FloatDType = 'float32'): Tensor {
    return this.expand(this.scalar(0, dtype), shape);
  }
}
