import { describe, expect, it } from 'vitest';
import { GRAD_RULES, gradients, NO_GRADIENT } from './autodiff.js';
import type { Graph, OpType, Tensor } from './graph.js';
import { allClose, checkGradient, type GradCheckInput } from './testing.js';

type Case = { build: (g: Graph, x: Tensor[]) => Tensor; inputs: GradCheckInput[]; h?: number };
const f = (name: string, ...shape: number[]): GradCheckInput => ({ name, shape });
const pos = (name: string, ...shape: number[]): GradCheckInput => ({
  name,
  shape,
  values: Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => 0.5 + ((i * 37) % 11) / 7),
});
const x0 = (x: Tensor[]) => x[0] as Tensor;
const x1 = (x: Tensor[]) => x[1] as Tensor;

/**
 * One case per op type (typed over OpType, so a new op without a case does not compile). Every
 * case runs in float64. ORT's CPU EP has no float64 Erf kernel (nor Gelu, which it expands to Erf):
 * the emitter lowers float64 Erf/Gelu to standard ops (erf series, |err| ~1e-11),
 * which the checks below cover.
 */
const CASES: { [K in OpType]: Case | 'no-gradient' } = {
  MatMul: { build: (g, x) => g.matmul(x0(x), x1(x)), inputs: [f('a', 2, 3, 4), f('b', 4, 5)] },
  Gemm: {
    build: (g, x) => g.gemm(x0(x), x1(x), x[2] as Tensor, { transA: true, transB: true }),
    inputs: [f('a', 4, 3), f('b', 5, 4), f('c', 5)],
  },
  Add: { build: (g, x) => g.add(x0(x), x1(x)), inputs: [f('a', 2, 3), f('b', 3)] },
  Sub: { build: (g, x) => g.sub(x0(x), x1(x)), inputs: [f('a', 2, 1), f('b', 2, 3)] },
  Mul: { build: (g, x) => g.mul(x0(x), x1(x)), inputs: [f('a', 2, 3), f('b', 1, 3)] },
  Div: { build: (g, x) => g.div(x0(x), x1(x)), inputs: [f('a', 2, 3), pos('b', 3)] },
  Pow: { build: (g, x) => g.pow(x0(x), x1(x)), inputs: [pos('a', 2, 3), f('b', 3)] },
  Max: { build: (g, x) => g.max(x0(x), x1(x)), inputs: [f('a', 2, 3), f('b', 3)] },
  Min: { build: (g, x) => g.min(x0(x), x1(x)), inputs: [f('a', 2, 3), f('b', 2, 3)] },
  Neg: { build: (g, x) => g.neg(x0(x)), inputs: [f('a', 3)] },
  Sqrt: { build: (g, x) => g.sqrt(x0(x)), inputs: [pos('a', 2, 3)] },
  Exp: { build: (g, x) => g.exp(x0(x)), inputs: [f('a', 2, 3)] },
  Log: { build: (g, x) => g.log(x0(x)), inputs: [pos('a', 2, 3)] },
  Tanh: { build: (g, x) => g.tanh(x0(x)), inputs: [f('a', 2, 3)] },
  Sigmoid: { build: (g, x) => g.sigmoid(x0(x)), inputs: [f('a', 2, 3)] },
  Relu: { build: (g, x) => g.relu(x0(x)), inputs: [f('a', 2, 3)] },
  Abs: { build: (g, x) => g.abs(x0(x)), inputs: [f('a', 2, 3)] },
  Erf: { build: (g, x) => g.erf(x0(x)), inputs: [f('a', 2, 3)] },
  Gelu: { build: (g, x) => g.add(g.gelu(x0(x), 'none'), g.gelu(x0(x), 'tanh')), inputs: [f('a', 2, 4)] },
  Silu: { build: (g, x) => g.silu(x0(x)), inputs: [f('a', 2, 3)] },
  Softmax: { build: (g, x) => g.softmax(x0(x), 1), inputs: [f('a', 2, 4, 3)] },
  LogSoftmax: { build: (g, x) => g.logSoftmax(x0(x), -1), inputs: [f('a', 2, 5)] },
  TargetLogProb: {
    build: (g, x) => g.mul(g.targetLogProb(x0(x), x[2] as Tensor), x1(x)),
    inputs: [
      f('logits', 2, 3, 5),
      f('w', 2, 3),
      { name: 'targets', shape: [2, 3], dtype: 'int64', values: [4, 0, 2, 2, 1, 4] },
    ],
  },
  ReduceSum: { build: (g, x) => g.reduceSum(x0(x), [0, 2]), inputs: [f('a', 2, 3, 4)] },
  ReduceMean: { build: (g, x) => g.reduceMean(x0(x), [1], true), inputs: [f('a', 2, 3, 4)] },
  ReduceMax: { build: (g, x) => g.reduceMax(x0(x), [-1]), inputs: [f('a', 3, 4)] },
  ReduceSumSquare: { build: (g, x) => g.reduceSumSquare(x0(x), [1]), inputs: [f('a', 2, 3, 2)] },
  Reshape: {
    build: (g, x) => g.mul(g.reshape(x0(x), [3, -1]), x1(x)),
    inputs: [f('a', 2, 3, 2), f('b', 3, 4)],
  },
  Transpose: { build: (g, x) => g.transpose(x0(x), [2, 0, 1]), inputs: [f('a', 2, 3, 4)] },
  Unsqueeze: {
    build: (g, x) => g.mul(g.unsqueeze(x0(x), [1]), x1(x)),
    inputs: [f('a', 2, 3), f('b', 2, 4, 3)],
  },
  Squeeze: { build: (g, x) => g.squeeze(x0(x), [1]), inputs: [f('a', 2, 1, 3)] },
  Concat: { build: (g, x) => g.concat([x0(x), x1(x), x0(x)], 1), inputs: [f('a', 2, 3), f('b', 2, 2)] },
  Split: {
    build: (g, x) => {
      const [p, , r] = g.split(x0(x), [1, 2, 2], 1);
      return g.mul(p as Tensor, r as Tensor);
    },
    inputs: [f('a', 3, 5)],
  },
  Slice: {
    build: (g, x) => g.add(g.slice(x0(x), [1, 0], [3, 4], [0, 1], [1, 2]), g.slice(x0(x), [0, 1], [2, 3])),
    inputs: [f('a', 4, 4)],
  },
  Gather: {
    build: (g, x) => g.add(g.gather(x0(x), x1(x), 0), g.reshape(g.gather(x0(x), x1(x), 1), [2, 2, 4])),
    inputs: [f('a', 4, 4), { name: 'idx', shape: [2, 2], dtype: 'int64', values: [3, 1, 3, 0] }],
  },
  Where: {
    build: (g, x) => g.where(x0(x), x1(x), x[2] as Tensor),
    inputs: [
      { name: 'c', shape: [2, 3], dtype: 'bool', values: [1, 0, 0, 1, 1, 0] },
      f('a', 2, 3),
      f('b', 3),
    ],
  },
  Expand: { build: (g, x) => g.expand(x0(x), [2, 3, 4]), inputs: [f('a', 3, 1)] },
  // A float32 round trip is linear, so a large step has no truncation error and swamps float32 rounding.
  Cast: {
    build: (g, x) => g.cast(g.mul(g.cast(x0(x), 'float32'), 3), 'float64'),
    inputs: [f('a', 3)],
    h: 1e-2,
  },
  LayerNorm: {
    build: (g, x) => g.layerNorm(x0(x), x1(x), x[2] as Tensor, 1e-5, -1),
    inputs: [f('x', 3, 5), f('s', 5), f('b', 5)],
  },
  RMSNorm: { build: (g, x) => g.rmsNorm(x0(x), x1(x), 1e-6, 1), inputs: [f('x', 2, 2, 3), f('s', 2, 3)] },
  Identity: { build: (g, x) => g.identity(x0(x)), inputs: [f('a', 2)] },
  StopGradient: {
    build: (g, x) => g.mul(g.stopGradient(x1(x)), x0(x)),
    inputs: [f('a', 3), { name: 'b', shape: [3], wrt: false }],
  },
  ScatterNDAdd: 'no-gradient',
  ScatterElementsAdd: 'no-gradient',
  Equal: 'no-gradient',
  Less: 'no-gradient',
  Greater: 'no-gradient',
  Not: 'no-gradient',
  And: 'no-gradient',
  Sign: 'no-gradient',
};

/** Variants beyond one case per op, where a rule or its emission takes another path. */
const EXTRA_CASES: Record<string, Case> = {
  // Over 256+ rows the CPU emitter sums the scale and bias gradients with a ones-row MatMul.
  'LayerNorm over 300 rows of a 3-D input': {
    build: (g, x) => g.layerNorm(x0(x), x1(x), x[2] as Tensor, 1e-5, -1),
    inputs: [f('x', 3, 100, 4), f('s', 4), f('b', 4)],
  },
  'RMSNorm over 300 rows of a 3-D input': {
    build: (g, x) => g.rmsNorm(x0(x), x1(x), 1e-6, -1),
    inputs: [f('x', 3, 100, 4), f('s', 4)],
  },
  // Two normalised axes: mean(gxhat * xhat) is a ReduceMean, not a matrix-vector product.
  'LayerNorm over two normalised axes': {
    build: (g, x) => g.layerNorm(x0(x), x1(x), x[2] as Tensor, 1e-5, 1),
    inputs: [f('x', 2, 3, 4), f('s', 3, 4), f('b', 3, 4)],
  },
};

describe('gradient rules', () => {
  for (const [op, c] of Object.entries(CASES)) {
    if (c === 'no-gradient') {
      it(`${op} is marked as having no gradient`, () => expect(GRAD_RULES[op as OpType]).toBe(NO_GRADIENT));
      continue;
    }
    it(`${op} matches float64 central differences`, async () => {
      const r = await checkGradient(c.build, c.inputs, c.h ? { h: c.h } : {});
      expect(r.maxRelError).toBeLessThan(1e-4);
    });
  }
  for (const [name, c] of Object.entries(EXTRA_CASES)) {
    it(`${name} matches float64 central differences`, async () => {
      const r = await checkGradient(c.build, c.inputs, c.h ? { h: c.h } : {});
      expect(r.maxRelError).toBeLessThan(1e-4);
    });
  }

  it('detects a wrong gradient (the harness can fail)', async () => {
    // Autodiff of stopGradient(x) * 2x gives 2x while finite differences see 4x: the check must fail.
    const wrong = await checkGradient((g, x) => g.mul(g.stopGradient(x0(x)), g.mul(x0(x), 2)), [f('a', 3)]);
    expect(wrong.maxRelError).toBeGreaterThan(0.4);
  });

  it('accumulates fan-out and prunes branches that need no gradient', async () => {
    const { Graph } = await import('./graph.js');
    const g = new Graph();
    const a = g.input('a', 'float32', [3]);
    const b = g.input('b', 'float32', [3]);
    const loss = g.reduceSum(g.add(g.mul(a, a), g.exp(b)));
    const before = g.nodes.length;
    const [da] = gradients(loss, [a]);
    expect(da?.shape).toEqual([3]);
    // Exp's backward needs nothing from b's side: no node of the new part consumes the Exp output.
    const added = g.nodes.slice(before);
    expect(added.some((n) => n.inputs.some((t) => t.producer?.op === 'Exp'))).toBe(false);
  });

  it('float32 backward paths that float64 lowers differently agree with the float64 result', async () => {
    // float64 LayerNorm spells its mean and 1/std out as standard ops; float32 takes them from ORT's
    // LayerNormalization outputs. Both feed the same backward rule: the gradients must agree.
    const { Graph } = await import('./graph.js');
    const { emitModel } = await import('./emit.js');
    const { getSession } = await import('./runtime.js');
    const shape = [3, 4, 8];
    const n = shape.reduce((p, d) => p * d, 1);
    const xs = Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 2 + 0.3);
    const ws = Array.from({ length: n }, (_, i) => Math.cos(i * 0.9));
    const scale = Array.from({ length: 8 }, (_, i) => 0.5 + i / 8);
    const grads = async (dtype: 'float32' | 'float64') => {
      const g = new Graph();
      const x = g.input('x', dtype, shape);
      const w = g.input('w', dtype, shape);
      const s = g.input('s', dtype, [8]);
      const b = g.input('b', dtype, [8]);
      const loss = g.reduceSum(g.mul(g.layerNorm(x, s, b, 1e-5, -1), w));
      const [dx, ds, db] = gradients(loss, [x, s, b]) as [Tensor, Tensor, Tensor];
      g.output('dx', dx);
      g.output('ds', ds);
      g.output('db', db);
      const Arr = dtype === 'float32' ? Float32Array : Float64Array;
      const feed = (v: number[], dims: number[]) => ({ dtype, dims, data: Arr.from(v) });
      const session = await getSession(emitModel(g));
      const out = await session.run({
        x: feed(xs, shape),
        w: feed(ws, shape),
        s: feed(scale, [8]),
        b: feed(scale, [8]),
      });
      return ['dx', 'ds', 'db'].map((k) => Array.from((out[k] as { data: ArrayLike<number> }).data));
    };
    const [f32, f64] = [await grads('float32'), await grads('float64')];
    for (const [i, a] of f32.entries()) {
      const r = allClose(a, f64[i] as number[], { rtol: 1e-4, atol: 1e-5 });
      expect(r.ok, `output ${i}: ${r.actual} vs ${r.expected}`).toBe(true);
    }
  });

  it('tanh-GELU backward in float32 is within 6e-6 of float64 from the tails to x = 0', async () => {
    const { Graph } = await import('./graph.js');
    const { emitModel } = await import('./emit.js');
    const { getSession } = await import('./runtime.js');
    // Signed zeros, tiny values, the saturated tails and a dense sweep of [-8, 8]; near s = 1 the
    // cancellation in s (1 - s) x w costs ~30 ulp (worst 3.5e-6, at x ~ 5.1).
    const xs = [0, -0, 1e-30, -1e-30, 1e-7, -20, -9, 9, 20];
    for (let i = 0; i <= 1600; i++) xs.push(-8 + i / 100);
    const c = Math.sqrt(2 / Math.PI);
    const exact = (v: number) => {
      const t = Math.tanh(c * (v + 0.044715 * v ** 3));
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
    };
    const g = new Graph();
    const x = g.input('x', 'float32', [xs.length]);
    const [dx] = gradients(g.reduceSum(g.gelu(x, 'tanh')), [x]) as [Tensor];
    g.output('dx', dx);
    const out = await (await getSession(emitModel(g))).run({
      x: { dtype: 'float32', dims: [xs.length], data: Float32Array.from(xs) },
    });
    const got = Array.from((out.dx as { data: Float32Array }).data);
    expect(got[0]).toBe(0.5);
    expect(got[1]).toBe(0.5);
    const err = got.map((d, i) => Math.abs(d - exact(Math.fround(xs[i] as number))));
    const worst = err.indexOf(Math.max(...err));
    expect(Math.max(...err), `x = ${xs[worst]}: ${got[worst]} vs ${exact(xs[worst] as number)}`).toBeLessThan(
      6e-6,
    );
    expect(got.every(Number.isFinite)).toBe(true);
  });

  it('fuses the target-log-prob backward into the output head Gemm, also when logits have other uses', async () => {
    const targets = { name: 't', shape: [2, 3], dtype: 'int64' as const, values: [4, 0, 2, 2, 1, 4] };
    const head = (g: Graph, x: Tensor[]) =>
      g.reshape(g.gemm(g.reshape(x0(x), [6, 4]), x1(x), null, { transB: true }), [2, 3, 5]);
    const only = await checkGradient(
      (g, x) => g.mul(g.targetLogProb(head(g, x), x[2] as Tensor), 1.5),
      [f('a', 2, 3, 4), f('w', 5, 4), targets],
    );
    expect(only.maxRelError).toBeLessThan(1e-4);
    const shared = await checkGradient(
      (g, x) => {
        const logits = head(g, x);
        return g.add(g.targetLogProb(logits, x[2] as Tensor), g.reduceSum(g.mul(logits, logits), [-1]));
      },
      [f('a', 2, 3, 4), f('w', 5, 4), targets],
    );
    expect(shared.maxRelError).toBeLessThan(1e-4);
    // A float64 vocabulary of 512 has 4 KiB rows: over 512 tokens the input gradient contracts over
    // a padded copy of the softmax (the CPU emitter's Gemm padding).
    const wide = await checkGradient(
      (g, x) => g.targetLogProb(g.gemm(x0(x), x1(x), null, { transB: true }), x[2] as Tensor),
      [
        f('a', 512, 2),
        { name: 'w', shape: [512, 2], wrt: false },
        {
          name: 't',
          shape: [512],
          dtype: 'int64',
          values: Array.from({ length: 512 }, (_, i) => (i * 37) % 512),
        },
      ],
    );
    expect(wide.errors.a).toBeLessThan(1e-4);
    // The fused form subtracts the one-hot from the softmax in place and both Gemms contract that
    // one [N, V] tensor: no gathers or scatters of W rows, no other [N, V] output.
    const { Graph } = await import('./graph.js');
    const g = new Graph();
    const a = g.input('a', 'float32', [6, 4]);
    const w = g.input('w', 'float32', [5, 4]);
    const t = g.input('t', 'int64', [6]);
    const loss = g.reduceSum(g.targetLogProb(g.gemm(a, w, null, { transB: true }), t));
    const before = g.nodes.length;
    gradients(loss, [a, w]);
    const backward = g.nodes.slice(before);
    expect(backward.filter((n) => ['Gather', 'ScatterNDAdd'].includes(n.op))).toEqual([]);
    const full = backward.filter((n) => n.outputs.some((o) => o.size === 30) && n.op !== 'Reshape');
    expect(full.map((n) => n.op)).toEqual(['Softmax', 'ScatterElementsAdd']);
    const q = full[1]?.outputs[0];
    expect(backward.filter((n) => n.op === 'Gemm' && n.inputs[0] === q)).toHaveLength(2);
  });
});
