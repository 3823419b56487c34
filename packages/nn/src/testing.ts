/**
 * Test helpers shared by this package's tests and by packages built on it: an all-close check and
 * the gradient check that compares autodiff against float64 central finite differences.
 */
import { Rng } from '@gopo/core';
import { gradients } from './autodiff.js';
import { emitModel } from './emit.js';
import { type DType, Graph, numel, type StaticShape, type Tensor } from './graph.js';
import { ParamStore } from './params.js';
import { getSession, type HostTensor } from './runtime.js';
import { type BatchSpec, Forward } from './trainer.js';

export interface AllCloseResult {
  ok: boolean;
  maxAbsError: number;
  worstIndex: number;
  actual: number;
  expected: number;
}

/** Elementwise |a - e| <= atol + rtol |e| (numpy's allclose). */
export function allClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: { rtol?: number; atol?: number } = {},
): AllCloseResult {
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-8;
  if (actual.length !== expected.length)
    throw new Error(`allClose: lengths differ (${actual.length} vs ${expected.length})`);
  let worst = -1;
  let worstExcess = 0;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const err = Math.abs(a - e);
    if (Number.isNaN(a) !== Number.isNaN(e))
      return { ok: false, maxAbsError: Number.NaN, worstIndex: i, actual: a, expected: e };
    maxAbs = Math.max(maxAbs, err);
    const excess = err - (atol + rtol * Math.abs(e));
    if (excess > worstExcess || (worst < 0 && excess > 0)) {
      worst = i;
      worstExcess = excess;
    }
  }
  const w = Math.max(worst, 0);
  return {
    ok: worst < 0,
    maxAbsError: maxAbs,
    worstIndex: w,
    actual: actual[w] as number,
    expected: expected[w] as number,
  };
}

/** Throws with the worst element when `actual` and `expected` are not all close. */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: { rtol?: number; atol?: number; what?: string } = {},
): void {
  const r = allClose(actual, expected, options);
  if (!r.ok) {
    throw new Error(
      `${options.what ?? 'values'} not close at [${r.worstIndex}]: ${r.actual} vs ${r.expected} (max abs error ${r.maxAbsError}, rtol ${options.rtol ?? 1e-5}, atol ${options.atol ?? 1e-8})`,
    );
  }
}

export interface GradCheckInput {
  name: string;
  shape: StaticShape;
  dtype?: 'float64' | 'int64' | 'bool';
  /** Fixed values; random normal (float) when absent. Required for int64/bool inputs. */
  values?: ArrayLike<number>;
  /** Whether to check the gradient for this input (float64 only); default true for floats. */
  wrt?: boolean;
}

export interface GradCheckResult {
  /** Worst relative error per checked input. */
  errors: Record<string, number>;
  maxRelError: number;
  evaluations: number;
}

/**
 * Checks autodiff gradients of `build` against float64 central differences. The scalar checked is
 * sum(f(x) * R) with a fixed random R, so every output element matters with a distinct weight.
 * Relative error per element is |a - n| / max(|a|, |n|, 1e-3 * max|n| + 1e-10): the floor keeps
 * elements whose true gradient is ~0 from turning round-off into large ratios.
 */
export async function checkGradient(
  build: (g: Graph, inputs: Tensor[]) => Tensor,
  inputs: readonly GradCheckInput[],
  options: {
    seed?: number;
    h?: number /** Std of the random values given to parameters the build creates. */;
    paramScale?: number;
  } = {},
): Promise<GradCheckResult> {
  const rng = Rng.fromSeed(options.seed ?? 0, 'gradcheck');
  const h = options.h ?? 1e-6;
  const values: HostTensor[] = inputs.map((spec) => {
    const dtype: DType = spec.dtype ?? 'float64';
    const n = numel(spec.shape);
    if (dtype === 'float64')
      return {
        dtype,
        dims: spec.shape,
        data: Float64Array.from({ length: n }, (_, i) =>
          spec.values ? (spec.values[i] as number) : rng.normal(),
        ),
      };
    if (!spec.values) throw new Error(`checkGradient: ${dtype} input ${spec.name} needs values`);
    const vals = spec.values;
    if (dtype === 'int64')
      return {
        dtype,
        dims: spec.shape,
        data: BigInt64Array.from({ length: n }, (_, i) => BigInt(vals[i] as number)),
      };
    return { dtype, dims: spec.shape, data: Uint8Array.from({ length: n }, (_, i) => (vals[i] ? 1 : 0)) };
  });

  const g = new Graph({ name: 'gradcheck' });
  const ts = inputs.map((s) => g.input(s.name, s.dtype ?? 'float64', s.shape));
  const out = build(g, ts);
  // Parameters created by the build (modules) are checked like inputs, with values of a size that
  // exercises every nonlinearity (the usual 0.02 init would make most of them near-linear).
  const paramScale = options.paramScale ?? 0.5;
  const all: GradCheckInput[] = [...inputs];
  for (const [name, { spec }] of g.params) {
    if (spec.dtype !== 'float64') throw new Error(`checkGradient: parameter ${name} must be float64`);
    const n = numel(spec.shape);
    const base = spec.init.kind === 'ones' ? 1 : 0;
    const vals = Float64Array.from({ length: n }, () => base + (base ? 0.1 : paramScale) * rng.normal());
    all.push({ name, shape: spec.shape, values: vals });
    values.push({ dtype: 'float64', dims: spec.shape, data: vals });
    ts.push(g.params.get(name)?.tensor as Tensor);
  }
  if (out.dtype !== 'float64') throw new Error(`checkGradient: output must be float64, got ${out.dtype}`);
  const weights = g.constant(
    Float64Array.from({ length: out.size }, () => rng.normal()),
    'float64',
    out.shape,
  );
  const loss = g.reduceSum(g.mul(out, weights));
  const checked = all
    .map((s, i) => ((s.dtype ?? 'float64') === 'float64' && s.wrt !== false ? i : -1))
    .filter((i) => i >= 0);
  const grads = gradients(
    loss,
    checked.map((i) => ts[i] as Tensor),
  );
  g.output('loss', loss);
  const lossOnly = emitModel(g, { provider: 'cpu' });
  for (const [k, i] of checked.entries()) g.output(`grad_${all[i]?.name}`, grads[k] as Tensor);
  const full = emitModel(g, { provider: 'cpu' });

  const feeds = () => Object.fromEntries(all.map((s, i) => [s.name, values[i] as HostTensor]));
  const analytic = await (await getSession(full, { intraOpThreads: 1 })).run(feeds());
  const fwd = await getSession(lossOnly, { intraOpThreads: 1 });
  const evalLoss = async () => ((await fwd.run(feeds())).loss as HostTensor).data[0] as number;

  const errors: Record<string, number> = {};
  let evaluations = 0;
  for (const i of checked) {
    const spec = all[i] as GradCheckInput;
    const data = (values[i] as HostTensor).data as Float64Array;
    const numeric = new Float64Array(data.length);
    for (let j = 0; j < data.length; j++) {
      const x0 = data[j] as number;
      const step = h * Math.max(1, Math.abs(x0));
      data[j] = x0 + step;
      const up = await evalLoss();
      data[j] = x0 - step;
      const down = await evalLoss();
      data[j] = x0;
      numeric[j] = (up - down) / (2 * step);
      evaluations += 2;
    }
    const a = (analytic[`grad_${spec.name}`] as HostTensor).data as Float64Array;
    let scale = 0;
    for (const v of numeric) scale = Math.max(scale, Math.abs(v));
    const floor = 1e-3 * scale + 1e-10;
    let worst = 0;
    for (let j = 0; j < a.length; j++) {
      const av = a[j] as number;
      const nv = numeric[j] as number;
      worst = Math.max(worst, Math.abs(av - nv) / Math.max(Math.abs(av), Math.abs(nv), floor));
    }
    errors[spec.name] = worst;
  }
  return { errors, maxRelError: Math.max(0, ...Object.values(errors)), evaluations };
}

/** The batch spec of concrete feeds (each input's dtype and dims). */
export function batchSpecOf(feeds: Readonly<Record<string, HostTensor>>): BatchSpec {
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, { dtype: v.dtype, shape: v.dims }]));
}

/**
 * Builds `model` over inputs shaped like `feeds` (one ORT thread), runs it once and returns every
 * output as float64: how a loss graph is compared with its float64 host reference in a test.
 */
export async function runForwardOnce(
  feeds: Readonly<Record<string, HostTensor>>,
  model: (g: Graph, x: Readonly<Record<string, Tensor>>) => Record<string, Tensor>,
  store = new ParamStore(),
): Promise<Record<string, Float64Array>> {
  const f = await Forward.create(model, batchSpecOf(feeds), store, { intraOpThreads: 1 });
  const out = await f.run(feeds);
  return Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Float64Array.from(v.data as Float64Array)]),
  );
}
