/**
 * Lowers a Graph to an ONNX ModelProto (opset 23). Only nodes that reach a graph output are
 * emitted. Ops whose attributes ONNX takes as tensor inputs (axes, shapes, slice bounds) get int64
 * initializers. Where ORT's CPU EP has no float64 kernel (Erf, and Gelu which expands to Erf) the
 * float64 form is emitted as standard ops (a series evaluation of erf accurate to ~1e-11).
 *
 * Symbolic dims become dim_param on graph inputs and outputs. Where an op needs a symbolic dim as a
 * value (a Reshape target, a Slice bound, an Expand shape) it is read from the shape of a graph
 * input that declares the symbol (Shape with start/end) and combined with Mul/Add/Concat; Reshape
 * uses ONNX's `0` (copy the input dim) and `-1` (infer) where they suffice. Fully static graphs
 * emit exactly what they did before symbolic dims existed.
 */
import { type Dim, dimTerms, isStaticDim, isStaticShape } from './dims.js';
import {
  type ConstData,
  type DType,
  type FloatDType,
  type Graph,
  isFloat,
  isLastAxesSwap,
  type Node,
  numel,
  type OpAttrs,
  type OpType,
  type Shape,
  sameShape,
  type Tensor,
} from './graph.js';
import { hiddenPadding, MIN_MATVEC_SUM_ROWS } from './layout.js';
import {
  type AttributeProtoJson,
  encodeModel,
  type ModelProtoJson,
  type NodeProtoJson,
  ONNX_ATTR_TYPE,
  ONNX_DATA_TYPE,
  type TensorProtoJson,
  type ValueInfoJson,
} from './onnx-proto.js';
import type { ProviderName } from './runtime.js';

export const OPSET = 23;
export const IR_VERSION = 10;

export interface EmitOptions {
  /** Parameters baked into the model as initializers instead of graph inputs (frozen or exported weights). */
  paramValues?: ReadonlyMap<string, ConstData>;
  /** The model's doc string (export). */
  docString?: string;
  /**
   * The execution provider that will run the model: ops it has no kernel for are spelled out in
   * standard ops it has (see MISSING_KERNELS), so ORT does not move their tensors to the CPU, and
   * on 'cpu' Gemm operands are padded off 4 KiB row strides. Unset: a portable model (export).
   */
  provider?: ProviderName;
}

/**
 * Ops each provider lacks a kernel for, which the emitter spells out instead. ORT's webgpu EP
 * (1.30) has Softmax but no LogSoftmax: left as is, the [tokens, vocab] log-softmax of the loss ran
 * on the CPU, its input and output copied across the bus every step.
 */
const MISSING_KERNELS: Readonly<Record<ProviderName, ReadonlySet<OpType>>> = {
  cpu: new Set(),
  webgpu: new Set(['LogSoftmax']),
  cuda: new Set(),
};

export interface EmittedModel {
  bytes: Uint8Array;
  /** Graph inputs the caller must feed, in order (symbolic dims as their names). */
  inputs: { name: string; dtype: DType; shape: Shape }[];
  outputs: { name: string; dtype: DType; shape: Shape }[];
  nodeCount: number;
}

function rawBytes(data: ConstData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorProto(name: string, dtype: DType, dims: readonly number[], data: ConstData): TensorProtoJson {
  return { name, dims: [...dims], dataType: ONNX_DATA_TYPE[dtype], rawData: rawBytes(data) };
}

export function valueInfo(name: string, dtype: DType, shape: Shape): ValueInfoJson {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DATA_TYPE[dtype],
        shape: { dim: shape.map((d) => (isStaticDim(d) ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Where a symbol's run-time value can be read: a graph input and the axis that declares it. */
export type SymbolSources = ReadonlyMap<string, { input: string; axis: number }>;

const ints = (name: string, v: readonly number[]): AttributeProtoJson => ({
  name,
  type: ONNX_ATTR_TYPE.INTS,
  ints: [...v],
});
const int = (name: string, v: number): AttributeProtoJson => ({ name, type: ONNX_ATTR_TYPE.INT, i: v });
const float = (name: string, v: number): AttributeProtoJson => ({ name, type: ONNX_ATTR_TYPE.FLOAT, f: v });
const str = (name: string, v: string): AttributeProtoJson => ({
  name,
  type: ONNX_ATTR_TYPE.STRING,
  s: new TextEncoder().encode(v),
});

/** Nodes that (transitively) produce one of `roots`. */
export function liveNodes(graph: Graph, roots: readonly Tensor[]): Node[] {
  const live = new Set<Node>();
  const stack = roots.map((t) => t.producer).filter((n): n is Node => n !== null);
  while (stack.length > 0) {
    const n = stack.pop() as Node;
    if (live.has(n)) continue;
    live.add(n);
    for (const t of n.inputs) if (t.producer && !live.has(t.producer)) stack.push(t.producer);
  }
  return graph.nodes.filter((n) => live.has(n));
}

class Lowering {
  readonly nodes: NodeProtoJson[] = [];
  readonly initializers: TensorProtoJson[] = [];
  private readonly constCache = new Map<string, string>();
  private readonly dimCache = new Map<string, string>();
  private counter = 0;

  private readonly padCache = new Map<string, string>();

  constructor(
    private readonly sources: SymbolSources = new Map(),
    private readonly missing: ReadonlySet<OpType> = new Set(),
    /** Emitting for ORT's CPU kernels: Gemm operands off 4 KiB strides, leading sums as MatMul. */
    private readonly forCpu = false,
    /** Tensors read only by MatMul nodes (a last-axes swap of one can fold into the MatMul). */
    private readonly readByMatmulOnly: ReadonlySet<Tensor> = new Set(),
  ) {}

  /**
   * The input to emit for a Transpose. ORT folds a bare swap of the last two axes into the MatMul
   * that reads it (FusedMatMul with transB), but its transpose optimizer first merges a Transpose of
   * a Transpose into one node, whose composed permutation no longer folds: the backward's V^T and
   * K (from the forward's K^T) were copied in full. A same-shape Reshape between the two keeps them
   * apart (ORT leaves it in place and it moves no data), so the swap folds.
   */
  transposeInput(n: Node, inp: string): string {
    const [x] = n.inputs as [Tensor];
    const { perm } = n.attrs as OpAttrs['Transpose'];
    const out = n.outputs[0] as Tensor;
    if (
      !this.forCpu ||
      !isLastAxesSwap(perm) ||
      x.producer?.op !== 'Transpose' ||
      !this.readByMatmulOnly.has(out)
    )
      return inp;
    return this.tmp('Reshape', n.name, [inp, this.reshapeTarget(x.shape, x.shape)]);
  }

  /**
   * On the CPU, a Gemm whose A is read row by row (no transA) over a contraction whose rows are a
   * multiple of 4 KiB gets A and B zero-padded along the contraction (see paddedWidth): a copy of A
   * costs far less than the L1 set conflicts it removes. One padded copy serves every Gemm that
   * reads the same A (q/k/v projections).
   */
  strideSafeGemmInputs(n: Node, inp: readonly string[], attrs: OpAttrs['Gemm']): string[] {
    const [a] = n.inputs as [Tensor];
    const k = a.shape[1] as Dim;
    if (!this.forCpu || attrs.transA || !isStaticDim(k)) return [...inp];
    // Few rows (a decode step, a small batch) make the Gemm memory-bound on B, and copying B would
    // cost more than the conflicts do: hiddenPadding pads only row counts known to be large.
    const pad = hiddenPadding(a, k);
    if (pad === 0) return [...inp];
    // Gemm operands are float (the builder checks).
    const dtype = a.dtype as FloatDType;
    const padAlong = (name: string, axis: 0 | 1) => {
      const key = `${name}|${axis}`;
      let hit = this.padCache.get(key);
      if (!hit) {
        const pads = axis === 1 ? [0, 0, 0, pad] : [0, 0, pad, 0];
        hit = this.tmp('Pad', n.name, [name, this.constI64(pads), this.constScalar(0, dtype)]);
        this.padCache.set(key, hit);
      }
      return hit;
    };
    return [padAlong(inp[0] as string, 1), padAlong(inp[1] as string, attrs.transB ? 1 : 0), ...inp.slice(2)];
  }

  /**
   * On the CPU, a sum over the leading axes of a large static float tensor (bias and norm-scale
   * gradients) as ones[1, rows] @ x[rows, cols]; false (nothing emitted) when it does not apply.
   */
  leadingSumAsMatmul(n: Node, x: string, out: string): boolean {
    const [t] = n.inputs as [Tensor];
    const { axes } = n.attrs as OpAttrs['ReduceSum'];
    if (!this.forCpu || !isStaticShape(t.shape) || !isFloat(t.dtype)) return false;
    if (axes.length === 0 || axes.length >= t.rank || axes.some((ax, i) => ax !== i)) return false;
    const rows = numel(t.shape.slice(0, axes.length));
    if (rows < MIN_MATVEC_SUM_ROWS) return false;
    const cols = numel(t.shape.slice(axes.length));
    const dtype = t.dtype as FloatDType;
    const ones = this.tmp('Expand', n.name, [this.constScalar(1, dtype), this.constI64([1, rows])]);
    const x2 = this.tmp('Reshape', n.name, [x, this.constI64([rows, cols])]);
    const sum = this.tmp('MatMul', n.name, [ones, x2]);
    this.node('Reshape', n.name, [sum, this.constI64(n.outputs[0]?.shape as number[])], [out]);
    return true;
  }

  /** x - logsumexp(x) along `axis` (max-shifted) from Reduce/Exp/Log ops; returns [z, lse] names. */
  logSoftmaxParts(base: string, x: string, axis: number): [string, string] {
    const axes = this.constI64([axis]);
    const z = this.tmp('Sub', base, [x, this.tmp('ReduceMax', base, [x, axes], [int('keepdims', 1)])]);
    const sum = this.tmp('ReduceSum', base, [this.tmp('Exp', base, [z]), axes], [int('keepdims', 1)]);
    return [z, this.tmp('Log', base, [sum])];
  }

  /** An int64 [1] tensor holding the run-time value of `d`. */
  dimTensor(d: Dim): string {
    if (isStaticDim(d)) return this.constI64([d]);
    const hit = this.dimCache.get(d);
    if (hit) return hit;
    let sum: string | null = null;
    for (const { coef, symbols } of dimTerms(d)) {
      let term: string | null = null;
      for (const sym of symbols) {
        const src = this.sources.get(sym);
        if (!src)
          throw new Error(
            `symbolic dim "${sym}" is not declared by any graph input, so its value is unknown`,
          );
        let v = this.dimCache.get(sym);
        if (!v) {
          v = `dim/${sym}`;
          this.node('Shape', v, [src.input], [v], [int('start', src.axis), int('end', src.axis + 1)]);
          this.dimCache.set(sym, v);
        }
        term = term ? this.tmp('Mul', 'dim', [term, v]) : v;
      }
      if (term === null) term = this.constI64([coef]);
      else if (coef !== 1) term = this.tmp('Mul', 'dim', [term, this.constI64([coef])]);
      sum = sum ? this.tmp('Add', 'dim', [sum, term]) : term;
    }
    const out = sum ?? this.constI64([0]);
    this.dimCache.set(d, out);
    return out;
  }

  /** An int64 [n] tensor of `dims`: static runs as constants, symbolic entries computed. */
  shapeTensor(dims: readonly Dim[]): string {
    const key = `shape:${dims.join(',')}`;
    const hit = this.dimCache.get(key);
    if (hit) return hit;
    const pieces: string[] = [];
    let run: number[] = [];
    for (const d of dims) {
      if (isStaticDim(d)) {
        run.push(d);
        continue;
      }
      if (run.length > 0) pieces.push(this.constI64(run));
      run = [];
      pieces.push(this.dimTensor(d));
    }
    if (run.length > 0) pieces.push(this.constI64(run));
    const out =
      pieces.length === 1 ? (pieces[0] as string) : this.tmp('Concat', 'dim', pieces, [int('axis', 0)]);
    this.dimCache.set(key, out);
    return out;
  }

  /**
   * The Reshape target for `to` from `from`: static dims as they are, a symbolic dim equal to the
   * input's at the same index as 0 (copy), one more as -1 (infer), any others computed.
   */
  reshapeTarget(from: Shape, to: readonly Dim[]): string {
    if (isStaticShape(to)) return this.constI64(to);
    const entries: Dim[] = to.map((d, i) => (isStaticDim(d) ? d : i < from.length && from[i] === d ? 0 : d));
    const open = entries.map((d, i) => (isStaticDim(d) ? -1 : i)).filter((i) => i >= 0);
    const last = open[open.length - 1];
    if (last !== undefined) entries[last] = -1;
    return this.shapeTensor(entries);
  }

  constI64(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = `const_i64_${this.constCache.size}`;
    this.initializers.push(
      tensorProto(name, 'int64', [values.length], BigInt64Array.from(values.map(BigInt))),
    );
    this.constCache.set(key, name);
    return name;
  }

  constScalar(value: number, dtype: 'float32' | 'float64'): string {
    const key = `${dtype}:${value}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = `const_${dtype}_${this.constCache.size}`;
    this.initializers.push(
      tensorProto(name, dtype, [], dtype === 'float32' ? Float32Array.of(value) : Float64Array.of(value)),
    );
    this.constCache.set(key, name);
    return name;
  }

  node(
    opType: string,
    name: string,
    input: string[],
    output: string[],
    attribute: AttributeProtoJson[] = [],
  ): void {
    this.nodes.push({ name, opType, input, output, attribute });
  }

  /** One-output helper node with a generated output name. */
  tmp(opType: string, base: string, input: string[], attribute: AttributeProtoJson[] = []): string {
    const out = `${base}/${opType}_${this.counter++}`;
    this.node(opType, out, input, [out], attribute);
    return out;
  }

  /**
   * float64 erf from standard ops, accurate to ~1e-11: the Maclaurin series (Horner in x^2, 60
   * terms) for |x| < 3.5 and the asymptotic erfc series (13 terms) beyond.
   */
  erf64(base: string, x: string, out: string): void {
    const c = (v: number) => this.constScalar(v, 'float64');
    const cut = 3.5;
    const s = this.tmp('Sign', base, [x]);
    const a = this.tmp('Abs', base, [x]);
    const small = this.tmp('Min', base, [a, c(cut)]);
    // Horner in z = (x / cut)^2: the scaled coefficients stay above ~1e-20 (ORT's CPU kernels lose
    // double constants below ~1e-45, which the unscaled series needs).
    const y = this.tmp('Mul', base, [this.tmp('Mul', base, [small, small]), c(1 / (cut * cut))]);
    const coef = (n: number) => {
      let v = 2 / Math.sqrt(Math.PI) / (2 * n + 1);
      for (let k = 1; k <= n; k++) v *= (cut * cut) / k;
      return n % 2 === 0 ? v : -v;
    };
    let poly = c(coef(60));
    for (let n = 59; n >= 0; n--)
      poly = this.tmp('Add', base, [this.tmp('Mul', base, [poly, y]), c(coef(n))]);
    const series = this.tmp('Mul', base, [poly, small]);
    const big = this.tmp('Max', base, [a, c(cut)]);
    const inv2x2 = this.tmp('Reciprocal', base, [
      this.tmp('Mul', base, [c(2), this.tmp('Mul', base, [big, big])]),
    ]);
    let tail = c(1);
    let term = 1;
    const terms: number[] = [];
    for (let n = 1; n <= 12; n++) {
      term *= -(2 * n - 1);
      terms.push(term);
    }
    // sum_n term_n * inv^n by Horner from the highest power.
    let h = c(terms[11] as number);
    for (let n = 10; n >= 0; n--)
      h = this.tmp('Add', base, [this.tmp('Mul', base, [h, inv2x2]), c(terms[n] as number)]);
    tail = this.tmp('Add', base, [c(1), this.tmp('Mul', base, [h, inv2x2])]);
    const pref = this.tmp('Div', base, [
      this.tmp('Exp', base, [this.tmp('Neg', base, [this.tmp('Mul', base, [big, big])])]),
      this.tmp('Mul', base, [big, c(Math.sqrt(Math.PI))]),
    ]);
    const asym = this.tmp('Sub', base, [c(1), this.tmp('Mul', base, [pref, tail])]);
    const inside = this.tmp('Less', base, [a, c(cut)]);
    const mag = this.tmp('Where', base, [inside, series, asym]);
    this.node('Mul', `${base}/sign`, [s, mag], [out]);
  }

  gelu64(base: string, x: string, out: string, approximate: 'none' | 'tanh'): void {
    const c = (v: number) => this.constScalar(v, 'float64');
    let inner: string;
    if (approximate === 'tanh') {
      const x3 = this.tmp('Mul', base, [this.tmp('Mul', base, [x, x]), x]);
      const u = this.tmp('Mul', base, [
        c(Math.sqrt(2 / Math.PI)),
        this.tmp('Add', base, [x, this.tmp('Mul', base, [c(0.044715), x3])]),
      ]);
      inner = this.tmp('Tanh', base, [u]);
    } else {
      inner = `${base}/erf`;
      this.erf64(base, this.tmp('Mul', base, [x, c(Math.SQRT1_2)]), inner);
    }
    const half = this.tmp('Mul', base, [
      this.tmp('Mul', base, [x, c(0.5)]),
      this.tmp('Add', base, [c(1), inner]),
    ]);
    this.node('Identity', `${base}/out`, [half], [out]);
  }

  lower(n: Node, inp: string[], out: string[]) {
    const op = n.op as OpType;
    const a = n.attrs as OpAttrs[OpType];
    const x = n.inputs[0] as Tensor;
    switch (op) {
      case 'MatMul':
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow':
      case 'Max':
      case 'Min':
      case 'Neg':
      case 'Sqrt':
      case 'Exp':
      case 'Log':
      case 'Tanh':
      case 'Sigmoid':
      case 'Relu':
      case 'Abs':
      case 'Sign':
      case 'Where':
      case 'Equal':
      case 'Less':
      case 'Greater':
      case 'Not':
      case 'And':
      case 'Identity':
        return this.node(op, n.name, inp, out);
      case 'StopGradient':
        return this.node('Identity', n.name, inp, out);
      case 'Erf':
        if (x.dtype === 'float64') return this.erf64(n.name, inp[0] as string, out[0] as string);
        return this.node('Erf', n.name, inp, out);
      case 'Gelu': {
        const approximate = (a as OpAttrs['Gelu']).approximate;
        if (x.dtype === 'float64')
          return this.gelu64(n.name, inp[0] as string, out[0] as string, approximate);
        return this.node('Gelu', n.name, inp, out, [str('approximate', approximate)]);
      }
      case 'Silu': {
        // ORT fuses x * Sigmoid(x) into QuickGelu, which has no float64 kernel: spell it differently.
        if (x.dtype === 'float64') {
          const c = this.constScalar(1, 'float64');
          const den = this.tmp('Add', n.name, [c, this.tmp('Exp', n.name, [this.tmp('Neg', n.name, inp)])]);
          return this.node('Div', n.name, [inp[0] as string, den], out);
        }
        const s = this.tmp('Sigmoid', n.name, inp);
        return this.node('Mul', n.name, [inp[0] as string, s], out);
      }
      case 'Gemm': {
        const g = a as OpAttrs['Gemm'];
        return this.node('Gemm', n.name, this.strideSafeGemmInputs(n, inp, g), out, [
          int('transA', g.transA ? 1 : 0),
          int('transB', g.transB ? 1 : 0),
        ]);
      }
      case 'Softmax':
      case 'LogSoftmax': {
        const axis = (a as OpAttrs['Softmax']).axis;
        if (op === 'LogSoftmax' && this.missing.has('LogSoftmax')) {
          const [z, lse] = this.logSoftmaxParts(n.name, inp[0] as string, axis);
          return this.node('Sub', n.name, [z, lse], out);
        }
        return this.node(op, n.name, inp, out, [int('axis', axis)]);
      }
      case 'ReduceSum':
      case 'ReduceMean':
      case 'ReduceMax':
      case 'ReduceSumSquare': {
        if (op === 'ReduceSum' && this.leadingSumAsMatmul(n, inp[0] as string, out[0] as string)) return;
        const r = a as OpAttrs['ReduceSum'];
        return this.node(op, n.name, [...inp, this.constI64(r.axes)], out, [
          int('keepdims', r.keepdims ? 1 : 0),
        ]);
      }
      case 'Reshape':
        return this.node(
          'Reshape',
          n.name,
          [...inp, this.reshapeTarget(x.shape, (a as OpAttrs['Reshape']).shape)],
          out,
        );
      case 'Expand': {
        // Expand broadcasts: a target dim of 1 keeps the input's, which covers matching symbols.
        const target = (a as OpAttrs['Expand']).shape;
        const lead = target.length - x.rank;
        const dims = isStaticShape(target)
          ? target
          : target.map((d, i) => (!isStaticDim(d) && i >= lead && x.shape[i - lead] === d ? 1 : d));
        return this.node('Expand', n.name, [...inp, this.shapeTensor(dims)], out);
      }
      case 'Transpose':
        return this.node('Transpose', n.name, [this.transposeInput(n, inp[0] as string)], out, [
          ints('perm', (a as OpAttrs['Transpose']).perm),
        ]);
      case 'Unsqueeze':
      case 'Squeeze':
        return this.node(op, n.name, [...inp, this.constI64((a as OpAttrs['Squeeze']).axes)], out);
      case 'Concat':
        return this.node('Concat', n.name, inp, out, [int('axis', (a as OpAttrs['Concat']).axis)]);
      case 'Split': {
        const s = a as OpAttrs['Split'];
        return this.node('Split', n.name, [...inp, this.constI64(s.sizes)], out, [int('axis', s.axis)]);
      }
      case 'Slice': {
        const s = a as OpAttrs['Slice'];
        return this.node(
          'Slice',
          n.name,
          [
            ...inp,
            this.shapeTensor(s.starts),
            this.shapeTensor(s.ends),
            this.constI64(s.axes),
            this.constI64(s.steps),
          ],
          out,
        );
      }
      case 'Gather':
        return this.node('Gather', n.name, inp, out, [int('axis', (a as OpAttrs['Gather']).axis)]);
      case 'Cast':
        return this.node('Cast', n.name, inp, out, [int('to', ONNX_DATA_TYPE[(a as OpAttrs['Cast']).to])]);
      case 'LayerNorm': {
        const l = a as OpAttrs['LayerNorm'];
        if (x.dtype === 'float64' && (out[1] || out[2])) {
          // ORT's CPU kernel stashes statistics in float32 only: spell float64 mean and 1/std out.
          const axes = this.constI64(x.shape.map((_, i) => i).filter((i) => i >= l.axis));
          const mean = out[1] || `${n.name}/mean`;
          this.node('ReduceMean', `${n.name}/mean`, [inp[0] as string, axes], [mean], [int('keepdims', 1)]);
          const xc = this.tmp('Sub', n.name, [inp[0] as string, mean]);
          const variance = this.tmp(
            'ReduceMean',
            n.name,
            [this.tmp('Mul', n.name, [xc, xc]), axes],
            [int('keepdims', 1)],
          );
          const std = this.tmp('Sqrt', n.name, [
            this.tmp('Add', n.name, [variance, this.constScalar(l.epsilon, 'float64')]),
          ]);
          this.node('Reciprocal', `${n.name}/inv_std`, [std], [out[2] || `${n.name}/inv_std`]);
          return this.node(
            'LayerNormalization',
            n.name,
            inp,
            [out[0] as string],
            [int('axis', l.axis), float('epsilon', l.epsilon)],
          );
        }
        return this.node('LayerNormalization', n.name, inp, out, [
          int('axis', l.axis),
          float('epsilon', l.epsilon),
        ]);
      }
      case 'RMSNorm': {
        const l = a as OpAttrs['RMSNorm'];
        return this.node('RMSNormalization', n.name, inp, out, [
          int('axis', l.axis),
          float('epsilon', l.epsilon),
        ]);
      }
      case 'TargetLogProb': {
        // LogSoftmax, then GatherElements at the target along the last axis.
        const target = () => this.tmp('Unsqueeze', n.name, [inp[1] as string, this.constI64([-1])]);
        let picked: string;
        if (this.missing.has('LogSoftmax')) {
          // Only the target's entry is needed: gather from x - max, then subtract log-sum-exp.
          const [z, lse] = this.logSoftmaxParts(n.name, inp[0] as string, -1);
          const zt = this.tmp('GatherElements', n.name, [z, target()], [int('axis', -1)]);
          picked = this.tmp('Sub', n.name, [zt, lse]);
        } else {
          const logp = `${n.name}/logp`;
          this.node('LogSoftmax', `${n.name}/LogSoftmax`, [inp[0] as string], [logp], [int('axis', -1)]);
          picked = this.tmp('GatherElements', n.name, [logp, target()], [int('axis', -1)]);
        }
        return this.node('Squeeze', n.name, [picked, this.constI64([-1])], [out[0] as string]);
      }
      case 'ScatterNDAdd':
        return this.node('ScatterND', n.name, inp, out, [str('reduction', 'add')]);
      case 'ScatterElementsAdd':
        return this.node('ScatterElements', n.name, inp, out, [
          int('axis', (a as OpAttrs['ScatterElementsAdd']).axis),
          str('reduction', 'add'),
        ]);
    }
  }
}

function sameBytes(a: ConstData, b: ConstData): boolean {
  return Buffer.from(rawBytes(a)).equals(Buffer.from(rawBytes(b)));
}

/** Ops whose outputs after the first are optional (auxiliary values the backward reuses). */
const OPTIONAL_OUTPUTS: ReadonlySet<OpType> = new Set<OpType>(['LayerNorm']);

/** Serialises the live part of `graph` to ONNX bytes. */
export function emitModel(graph: Graph, options: EmitOptions = {}): EmittedModel {
  const outs = graph.outputs;
  if (outs.length === 0) throw new Error(`graph "${graph.name}" has no outputs`);
  const nodes = liveNodes(
    graph,
    outs.map((o) => o.tensor),
  );
  const used = new Set<Tensor>();
  for (const n of nodes) for (const t of n.inputs) used.add(t);
  for (const o of outs) used.add(o.tensor);

  const names = new Map<Tensor, string>();
  const claimed = new Set<Tensor>();
  for (const o of outs) {
    if (o.tensor.kind === 'intermediate' && !claimed.has(o.tensor)) {
      names.set(o.tensor, o.name);
      claimed.add(o.tensor);
    }
  }
  const nameOf = (t: Tensor) => names.get(t) ?? t.name;

  const inputs: EmittedModel['inputs'] = [];
  const sources = new Map<string, { input: string; axis: number }>();
  for (const t of graph.inputs) {
    if (!used.has(t)) continue;
    inputs.push({ name: t.name, dtype: t.dtype, shape: t.shape });
    t.shape.forEach((d, axis) => {
      if (!isStaticDim(d) && !sources.has(d)) sources.set(d, { input: t.name, axis });
    });
  }
  const readByMatmulOnly = new Set<Tensor>();
  const readByOther = new Set<Tensor>(outs.map((o) => o.tensor));
  for (const n of nodes)
    for (const t of n.inputs) (n.op === 'MatMul' ? readByMatmulOnly : readByOther).add(t);
  for (const t of readByOther) readByMatmulOnly.delete(t);
  const low = new Lowering(
    sources,
    MISSING_KERNELS[options.provider ?? 'cpu'],
    options.provider === 'cpu',
    readByMatmulOnly,
  );
  for (const [name, { tensor }] of graph.params) {
    if (!used.has(tensor)) continue;
    const value = options.paramValues?.get(name);
    if (value) low.initializers.push(tensorProto(name, tensor.dtype, tensor.shape as number[], value));
    else inputs.push({ name, dtype: tensor.dtype, shape: tensor.shape });
  }
  // Constants built twice under one name (RoPE tables, causal masks per layer) become one
  // initializer; ORT treats duplicate initializer names as graph inputs, which blocks constant folding.
  const constByName = new Map<string, { t: Tensor; data: ConstData }>();
  for (const [t, data] of graph.constants) {
    if (!used.has(t)) continue;
    let name = t.name;
    let k = 0;
    for (let prev = constByName.get(name); prev; prev = constByName.get(name)) {
      if (prev.t.dtype === t.dtype && sameBytes(prev.data, data) && sameShape(prev.t.shape, t.shape)) break;
      name = `${t.name}_${++k}`;
    }
    if (name !== t.name) names.set(t, name);
    if (constByName.has(name)) continue;
    constByName.set(name, { t, data });
    low.initializers.push(tensorProto(name, t.dtype, t.shape as number[], data));
  }

  // Optional outputs nobody reads are emitted as '' so ORT neither writes nor keeps them.
  for (const n of nodes) {
    const outNames = n.outputs.map((t, i) =>
      i > 0 && OPTIONAL_OUTPUTS.has(n.op) && !used.has(t) ? '' : nameOf(t),
    );
    low.lower(n, n.inputs.map(nameOf), outNames);
  }
  for (const o of outs) {
    if (nameOf(o.tensor) !== o.name) low.node('Identity', `output/${o.name}`, [nameOf(o.tensor)], [o.name]);
  }

  const model: ModelProtoJson = {
    irVersion: IR_VERSION,
    producerName: '@gopo/nn',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name: graph.name,
      node: low.nodes,
      initializer: low.initializers,
      input: inputs.map((i) => valueInfo(i.name, i.dtype, i.shape)),
      output: outs.map((o) => valueInfo(o.name, o.tensor.dtype, o.tensor.shape)),
    },
  };
  return {
    bytes: encodeModel(model),
    inputs,
    outputs: outs.map((o) => ({ name: o.name, dtype: o.tensor.dtype, shape: o.tensor.shape })),
    nodeCount: low.nodes.length,
  };
}
