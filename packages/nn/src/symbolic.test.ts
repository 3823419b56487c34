/**
 * Symbolic dims: shape inference through the op constructors, emission (dim_param, run-time shape
 * arithmetic), the feed check, the autodiff guard, and one compiled Forward serving every batch
 * size and sequence length with the same results as per-shape graphs.
 */
import { Rng } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { gradients } from './autodiff.js';
import { emitModel } from './emit.js';
import { FeedError, GraphBuildError } from './errors.js';
import { Graph, SLICE_END, type Tensor } from './graph.js';
import { type TransformerConfig, transformerLM } from './modules.js';
import { decodeModel } from './onnx-proto.js';
import { ParamStore } from './params.js';
import { getSession, type HostTensor, sessionCacheSize } from './runtime.js';
import { assertAllClose } from './testing.js';
import { type BatchSpec, Forward } from './trainer.js';

const f32 = (dims: number[], rng = Rng.fromSeed(1, 'x')): HostTensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal()),
});
const ids = (b: number, t: number, vocab: number, seed = 0): HostTensor => {
  const rng = Rng.fromSeed(seed, `ids ${b}x${t}`);
  return {
    dtype: 'int64',
    dims: [b, t],
    data: BigInt64Array.from({ length: b * t }, () => BigInt(Math.floor(rng.float() * vocab))),
  };
};

describe('shape inference with symbolic dims', () => {
  it('broadcasting: a symbol matches itself and 1; anything else names op, module path and shapes', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'seq', 8]);
    expect(g.add(x, g.input('b', 'float32', [8])).shape).toEqual(['batch', 'seq', 8]);
    expect(g.mul(x, g.input('m', 'float32', ['batch', 1, 1])).shape).toEqual(['batch', 'seq', 8]);
    expect(g.add(g.input('one', 'float32', [1, 1, 8]), x).shape).toEqual(['batch', 'seq', 8]);
    const five = g.input('five', 'float32', [5, 8]);
    expect(() => g.scope('blocks', () => g.scope('0', () => g.add(x, five)))).toThrow(
      'blocks.0: Add [batch,seq,8] x [5,8]: shapes do not broadcast (axis -2: seq vs 5; a symbolic dim only matches itself or 1)',
    );
    const other = g.input('other', 'float32', ['rows', 8]);
    expect(() => g.sub(x, other)).toThrow(GraphBuildError);
    expect(() => g.sub(x, other)).toThrow(/Sub \[batch,seq,8\] x \[rows,8\]: .*seq vs rows/);
    expect(() => g.where(g.input('c', 'bool', ['seq']), x, 0)).toThrow(/Where .*seq vs 8/);
  });

  it('MatMul and Gemm contract matching dims only, and carry symbolic batch dims', () => {
    const g = new Graph();
    const q = g.input('q', 'float32', ['batch', 2, 'seq', 4]);
    const k = g.input('k', 'float32', ['batch', 2, 4, 'seq']);
    expect(g.matmul(q, k).shape).toEqual(['batch', 2, 'seq', 'seq']);
    expect(() => g.matmul(q, q)).toThrow(
      /MatMul \[batch,2,seq,4\] x \[batch,2,seq,4\]: inner dimensions differ \(4 vs seq\)/,
    );
    const a = g.input('a', 'float32', ['n', 3]);
    expect(g.gemm(a, g.input('w', 'float32', [5, 3]), null, { transB: true }).shape).toEqual(['n', 5]);
    expect(g.gemm(a, a, null, { transA: true }).shape).toEqual([3, 3]);
    expect(() => g.gemm(a, a, null)).toThrow(/Gemm \[n,3\] x \[n,3\]: inner dimensions differ \(3 vs n\)/);
    expect(() => g.gemm(a, g.input('v', 'float32', ['m', 5]), null)).toThrow(
      /Gemm .*inner dimensions differ \(3 vs m\)/,
    );
  });

  it('reductions, softmax, transpose, unsqueeze, gather and cast keep the symbols in place', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'seq', 6]);
    expect(g.reduceSum(x, [1]).shape).toEqual(['batch', 6]);
    expect(g.reduceMean(x, [-1], true).shape).toEqual(['batch', 'seq', 1]);
    expect(g.softmax(x, 1).shape).toEqual(['batch', 'seq', 6]);
    expect(g.transpose(x, [2, 0, 1]).shape).toEqual([6, 'batch', 'seq']);
    expect(g.unsqueeze(x, [1]).shape).toEqual(['batch', 1, 'seq', 6]);
    const table = g.input('table', 'float32', [10, 4]);
    expect(g.gather(table, g.input('ids', 'int64', ['batch', 'seq'])).shape).toEqual(['batch', 'seq', 4]);
    expect(g.cast(x, 'float64').shape).toEqual(['batch', 'seq', 6]);
    expect(() => g.squeeze(x, [1])).toThrow(/Squeeze .*not all size 1/);
  });

  it('concat adds dims along the axis, split needs a static axis', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'seq', 6]);
    const y = g.input('y', 'float32', ['batch', 3, 6]);
    expect(g.concat([x, y], 1).shape).toEqual(['batch', 'seq+3', 6]);
    expect(g.concat([x, x], -1).shape).toEqual(['batch', 'seq', 12]);
    expect(g.split(x, [2, 4], 2).map((t) => t.shape)).toEqual([
      ['batch', 'seq', 2],
      ['batch', 'seq', 4],
    ]);
    expect(() => g.split(x, [1, 1], 1)).toThrow(/Split \[batch,seq,6\]: axis 1 is symbolic \(seq\)/);
    expect(() => g.concat([x, g.input('z', 'float32', [2, 'seq', 6])], 2)).toThrow(/Concat/);
  });

  it('slice: negative and to-the-end bounds on symbolic axes, symbolic bounds on static ones', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'seq', 6]);
    expect(g.slice(x, [-1], [SLICE_END], [1]).shape).toEqual(['batch', 1, 6]);
    expect(g.slice(x, [0], [-1], [1]).shape).toEqual(['batch', 'seq-1', 6]);
    expect(g.slice(x, [1], [SLICE_END], [1]).shape).toEqual(['batch', 'seq-1', 6]);
    expect(g.slice(x, [2, 1], [4, SLICE_END], [2, 1]).shape).toEqual(['batch', 'seq-1', 2]);
    expect(() => g.slice(x, [0], [3], [1])).toThrow(
      /Slice \[batch,seq,6\]: end 3 on symbolic axis 1 \(seq\): use a negative end or SLICE_END/,
    );
    const table = g.constant(new Float32Array(32), 'float32', [16, 2]);
    expect(g.slice(table, [0], ['seq'], [0]).shape).toEqual(['seq', 2]);
    expect(g.slice(table, [16 - 1], [16], [0]).shape).toEqual([1, 2]);
    expect(() => g.slice(x, [-1], [-1], [1])).toThrow(/empty slice/);
  });

  it('reshape and expand: polynomial element counts, -1 inference and clear refusals', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'seq', 6]);
    const flat = g.reshape(x, [-1, 6]);
    expect(flat.shape).toEqual(['batch*seq', 6]);
    expect(g.reshape(flat, ['batch', 'seq', 2, 3]).shape).toEqual(['batch', 'seq', 2, 3]);
    expect(g.reshape(x, ['batch', -1]).shape).toEqual(['batch', '6*seq']);
    expect(g.reshape(x, ['seq', 'batch', 6]).shape).toEqual(['seq', 'batch', 6]);
    expect(() => g.reshape(x, ['batch', 'seq', 4])).toThrow(
      /Reshape \[batch,seq,6\] x \[batch,seq,4\]: cannot reshape 6\*batch\*seq elements/,
    );
    expect(() => g.reshape(x, ['batch', -1, 4])).toThrow(/cannot reshape/);
    expect(() => g.reshape(x, ['batch', 'seq/2', 12])).toThrow(/Reshape .*cannot read dim "seq\/2"/);
    const bias = g.input('bias', 'float32', [1, 1, 6]);
    expect(g.expand(bias, ['batch', 'seq', 6]).shape).toEqual(['batch', 'seq', 6]);
    expect(() => g.expand(x, [2, 'seq', 6])).toThrow(/Expand .*does not broadcast/);
  });

  it('inputs take positive integers or symbol names; constants and parameters are static', () => {
    const g = new Graph();
    expect(() => g.input('x', 'float32', ['batch size', 2])).toThrow(
      /input "x": dim "batch size" must be a positive integer or a symbol name/,
    );
    expect(() => g.input('y', 'float32', [0, 2])).toThrow(/dim 0 must be a positive integer/);
    expect(() => g.constant(new Float32Array(2), 'float32', ['n'])).toThrow(
      /a constant needs a static shape/,
    );
  });

  it('attention with a symbolic sequence needs maxSeqLen, and says so', () => {
    const g = new Graph();
    const x = g.input('ids', 'int64', ['batch', 'seq']);
    expect(() =>
      g.scope('lm', () => transformerLM(g, x, { vocabSize: 7, dModel: 4, numLayers: 1, numHeads: 1 })),
    ).toThrow(/lm\.model\.layers\.0\.self_attn: attention : sequence dim "seq" is symbolic: set maxSeqLen/);
  });

  it('autodiff refuses symbolic training graphs with a clear message', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 3]);
    const w = g.param('w', [3, 2]);
    const loss = g.reduceSum(g.matmul(x, w));
    expect(() => gradients(loss, [w])).toThrow(
      /gradients \[batch,3\]: input "x" has symbolic dims: training graphs are compiled per shape/,
    );
  });
});

describe('emission with symbolic dims', () => {
  it('writes dim_param on inputs and outputs and lowers reshapes with 0 / -1 or run-time shapes', async () => {
    const g = new Graph({ name: 'sym' });
    const x = g.input('x', 'float32', ['batch', 'seq', 6]);
    const flat = g.reshape(x, [-1, 6]); // [-1, 6]: one symbolic entry is inferred
    const y = g.reshape(g.mul(flat, 2), ['batch', 'seq', 2, 3]); // two symbols: read from x's shape
    const z = g.reshape(y, ['batch', 'seq', 6]); // same leading symbols: copied with 0
    g.output('y', y);
    g.output('z', z);
    const emitted = emitModel(g);
    expect(emitted.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: ['batch', 'seq', 6] }]);
    const m = decodeModel(emitted.bytes);
    const dims = (vi: (typeof m.graph.input)[number]) =>
      vi.type.tensorType.shape.dim.map((d) =>
        'dimParam' in d && d.dimParam ? d.dimParam : Number((d as { dimValue: number }).dimValue),
      );
    expect(dims(m.graph.input[0] as (typeof m.graph.input)[number])).toEqual(['batch', 'seq', 6]);
    expect(m.graph.output.map(dims)).toEqual([
      ['batch', 'seq', 2, 3],
      ['batch', 'seq', 6],
    ]);
    const ops = m.graph.node.map((n) => n.opType);
    // Only batch is read from x's shape: seq is the Reshape's one inferred (-1) entry.
    expect(ops.filter((o) => o === 'Shape')).toHaveLength(1);
    const inits = new Map(m.graph.initializer.map((t) => [t.name, t]));
    const targetOf = (i: number) => {
      const name = (m.graph.node.filter((n) => n.opType === 'Reshape')[i]?.input[1] ?? '') as string;
      const t = inits.get(name);
      return t ? Array.from(new BigInt64Array(new Uint8Array(t.rawData).buffer), Number) : name;
    };
    expect(targetOf(0)).toEqual([-1, 6]);
    expect(targetOf(2)).toEqual([0, 0, 6]);
    expect(typeof targetOf(1)).toBe('string'); // computed: Concat(Shape(x)[0:1], [-1, 2, 3])

    const s = await getSession(emitted);
    for (const [b, t] of [
      [1, 1],
      [2, 5],
      [3, 2],
    ] as const) {
      const input = f32([b, t, 6]);
      const out = await s.run({ x: input });
      expect(out.y?.dims).toEqual([b, t, 2, 3]);
      expect(out.z?.dims).toEqual([b, t, 6]);
      assertAllClose(
        (out.z as HostTensor).data as Float32Array,
        Array.from(input.data as Float32Array, (v) => v * 2),
      );
    }
  });

  it('slices a table built for a maximum length to the run-time length', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'seq']);
    const table = g.constant(
      Float32Array.from({ length: 8 }, (_, i) => i * 10),
      'float32',
      [8],
    );
    g.output('y', g.add(x, g.slice(table, [0], ['seq'], [0])));
    g.output('last', g.slice(x, [-1], [SLICE_END], [1]));
    g.output('tail', g.slice(x, [1], [SLICE_END], [1]));
    const s = await getSession(emitModel(g));
    const out = await s.run({
      x: { dtype: 'float32', dims: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
    });
    expect(Array.from(out.y?.dims ?? [])).toEqual([2, 3]);
    expect(Array.from((out.y as HostTensor).data as Float32Array)).toEqual([1, 12, 23, 4, 15, 26]);
    expect(Array.from((out.last as HostTensor).data as Float32Array)).toEqual([3, 6]);
    expect(Array.from((out.tail as HostTensor).data as Float32Array)).toEqual([2, 3, 5, 6]);
  });
});

describe('feed check with symbolic dims', () => {
  const build = async () => {
    const g = new Graph();
    const a = g.input('ids', 'int64', ['batch', 'seq']);
    const m = g.input('mask', 'bool', ['batch', 'seq']);
    const s = g.input('scale', 'float32', [1, 'seq']);
    g.output('y', g.where(m, g.mul(g.cast(a, 'float32'), s), 0));
    return getSession(emitModel(g));
  };
  const i64 = (dims: number[]): HostTensor => ({
    dtype: 'int64',
    dims,
    data: new BigInt64Array(dims.reduce((p, d) => p * d, 1)),
  });
  const bool = (dims: number[]): HostTensor => ({
    dtype: 'bool',
    dims,
    data: new Uint8Array(dims.reduce((p, d) => p * d, 1)).fill(1),
  });

  it('accepts any size for a symbol, the same size wherever it appears', async () => {
    const s = await build();
    for (const [b, t] of [
      [1, 4],
      [3, 2],
    ] as const) {
      const out = await s.run({ ids: i64([b, t]), mask: bool([b, t]), scale: f32([1, t]) });
      expect(out.y?.dims).toEqual([b, t]);
    }
  });

  it('a symbol bound to two values is a FeedError naming inputs, dim, symbol and both values', async () => {
    const s = await build();
    const run = () => s.run({ ids: i64([2, 4]), mask: bool([2, 4]), scale: f32([1, 5]) });
    await expect(run()).rejects.toThrow(FeedError);
    await expect(run()).rejects.toThrow(
      'graph input "scale" dim 1 (symbol "seq") is 5, but input "ids" dim 1 set "seq" = 4 in the same run',
    );
    await expect(s.run({ ids: i64([2, 4]), mask: bool([2, 4]), scale: f32([2, 4]) })).rejects.toThrow(
      'graph input "scale" expects float32[1,seq], got float32[2,4] (dim 0 is 2, not 1)',
    );
    await expect(s.run({ ids: i64([2, 4, 1]), mask: bool([2, 4]), scale: f32([1, 4]) })).rejects.toThrow(
      'graph input "ids" expects int64[batch,seq], got int64[2,4,1]',
    );
  });
});

describe('Forward with symbolic batch and sequence dims', () => {
  const cfg: TransformerConfig = {
    vocabSize: 13,
    dModel: 8,
    numLayers: 2,
    numHeads: 2,
    numKvHeads: 1,
    maxSeqLen: 12,
  };
  const model = (c: TransformerConfig) => (g: Graph, b: Readonly<Record<string, Tensor>>) => ({
    logits: transformerLM(g, b.ids as Tensor, c, { keyMask: b.mask as Tensor }),
  });
  const maskOf = (b: number, t: number): HostTensor => ({
    dtype: 'bool',
    dims: [b, t],
    // Right padding of different lengths per row: every row keeps at least its first token.
    data: Uint8Array.from({ length: b * t }, (_, i) => (i % t <= t - 1 - (Math.floor(i / t) % t) ? 1 : 0)),
  });

  it('one session serves batch 1, 3 and 8 at several lengths, equal to per-shape graphs', async () => {
    const store = new ParamStore();
    const spec: BatchSpec = {
      ids: { dtype: 'int64', shape: ['batch', 'seq'] },
      mask: { dtype: 'bool', shape: ['batch', 'seq'] },
    };
    const before = sessionCacheSize();
    const fwd = await Forward.create(model(cfg), spec, store, { intraOpThreads: 1 });
    expect(sessionCacheSize()).toBe(before + 1);
    for (const [b, t] of [
      [1, 5],
      [3, 12],
      [8, 1],
      [3, 7],
    ] as const) {
      const batch = { ids: ids(b, t, cfg.vocabSize), mask: maskOf(b, t) };
      const got = (await fwd.run(batch)).logits as HostTensor;
      expect(got.dims).toEqual([b, t, cfg.vocabSize]);
      const fixed = await Forward.create(
        model({ ...cfg, maxSeqLen: undefined }),
        { ids: { dtype: 'int64', shape: [b, t] }, mask: { dtype: 'bool', shape: [b, t] } },
        store,
        { intraOpThreads: 1 },
      );
      const want = (await fixed.run(batch)).logits as HostTensor;
      assertAllClose(got.data as Float32Array, want.data as Float32Array, { rtol: 1e-5, atol: 1e-5 });
    }
    // The symbolic session was compiled once; each static shape added its own.
    expect(sessionCacheSize()).toBe(before + 5);
    await expect(fwd.run({ ids: ids(2, 13, cfg.vocabSize), mask: maskOf(2, 13) })).rejects.toThrow();
  });

  it('float64: a symbolic-dims transformer forward equals the static one (RoPE, causal, GQA, positions)', async () => {
    const c64: TransformerConfig = {
      ...cfg,
      dtype: 'float64',
      norm: 'layernorm',
      mlp: 'gelu',
      tieEmbeddings: true,
    };
    const withPositions = (c: TransformerConfig) => (g: Graph, b: Readonly<Record<string, Tensor>>) => ({
      logits: transformerLM(g, b.ids as Tensor, c, { positions: b.pos as Tensor }),
      plain: g.scope('plain', () => transformerLM(g, b.ids as Tensor, { ...c, numLayers: 1 })),
    });
    const store = new ParamStore();
    const fwd = await Forward.create(
      withPositions({ ...c64, maxPositions: 16 }),
      { ids: { dtype: 'int64', shape: ['batch', 'seq'] }, pos: { dtype: 'int64', shape: ['batch', 'seq'] } },
      store,
    );
    for (const [b, t] of [
      [2, 6],
      [1, 11],
    ] as const) {
      const pos: HostTensor = {
        dtype: 'int64',
        dims: [b, t],
        data: BigInt64Array.from({ length: b * t }, (_, i) =>
          BigInt((i % t) + ((Math.floor(i / t) * 3) % 5)),
        ),
      };
      const batch = { ids: ids(b, t, cfg.vocabSize, 7), pos };
      const got = await fwd.run(batch);
      const fixed = await Forward.create(
        withPositions({ ...c64, maxPositions: 16, maxSeqLen: undefined }),
        { ids: { dtype: 'int64', shape: [b, t] }, pos: { dtype: 'int64', shape: [b, t] } },
        store,
      );
      const want = await fixed.run(batch);
      for (const k of ['logits', 'plain']) {
        expect(got[k]?.dtype).toBe('float64');
        assertAllClose(got[k]?.data as Float64Array, want[k]?.data as Float64Array, {
          rtol: 1e-12,
          atol: 1e-12,
          what: k,
        });
      }
    }
  });
});
