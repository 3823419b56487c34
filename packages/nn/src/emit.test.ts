import { describe, expect, it } from 'vitest';
import { gradients } from './autodiff.js';
import { emitModel } from './emit.js';
import { Graph, type Tensor } from './graph.js';
import { crossEntropy } from './losses.js';
import { decodeModel } from './onnx-proto.js';
import { getSession, type HostTensor } from './runtime.js';
import { assertAllClose } from './testing.js';

describe('provider-aware emission', () => {
  // Logits far apart (|x| up to 1e4) so that an unshifted exp would overflow.
  const shape = [3, 4, 7];
  const n = shape.reduce((p, d) => p * d, 1);
  const x: HostTensor = {
    dtype: 'float32',
    dims: shape,
    data: Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 1e4 : Math.sin(i * 1.3) * 30)),
  };
  const t: HostTensor = {
    dtype: 'int64',
    dims: [3, 4],
    data: BigInt64Array.from({ length: 12 }, (_, i) => BigInt((i * 3) % 7)),
  };
  const build = () => {
    const g = new Graph();
    const logits = g.input('x', 'float32', shape);
    const targets = g.input('t', 'int64', [3, 4]);
    const loss = crossEntropy(g, logits, targets, { labelSmoothing: 0.1 });
    g.output('loss', loss);
    g.output('logp', g.logSoftmax(logits, -1));
    g.output('picked', g.targetLogProb(logits, targets));
    g.output('dx', gradients(loss, [logits])[0] as Tensor);
    return g;
  };

  it('spells LogSoftmax out for webgpu (no kernel there) with the same values', async () => {
    const cpu = emitModel(build());
    const webgpu = emitModel(build(), { provider: 'webgpu' });
    const ops = (m: typeof cpu) => decodeModel(m.bytes).graph.node.map((nd) => nd.opType);
    expect(ops(cpu)).toContain('LogSoftmax');
    expect(ops(webgpu)).not.toContain('LogSoftmax');
    // Both run on the CPU EP here: the spelled-out graph must compute what LogSoftmax computes.
    const [a, b] = await Promise.all(
      [cpu, webgpu].map(
        async (m) => (await getSession(m)).run({ x, t }) as Promise<Record<string, HostTensor>>,
      ),
    );
    for (const k of ['loss', 'logp', 'picked', 'dx']) {
      const [u, v] = [a?.[k]?.data as Float32Array, b?.[k]?.data as Float32Array];
      expect(u.every(Number.isFinite), k).toBe(true);
      assertAllClose(v, u, { rtol: 1e-6, atol: 1e-5, what: k });
    }
  });

  it('on cpu pads Gemm operands whose contraction rows are 4 KiB apart (512+ rows), one copy of A per reader group', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [512, 1024]);
    const few = g.input('few', 'float32', [8, 1024]);
    const w = g.input('w', 'float32', [1024, 3]);
    const ws = [0, 1, 2].map((i) => g.input(`w${i}`, 'float32', [2, 1024]));
    // Three projections of one input (transB), one plain and one transposed-A Gemm.
    for (const [i, wi] of ws.entries()) g.output(`p${i}`, g.gemm(x, wi, null, { transB: true }));
    g.output('plain', g.gemm(x, w, null));
    g.output('tA', g.gemm(x, g.input('y', 'float32', [512, 7]), null, { transA: true }));
    // Eight rows: memory-bound on B, left alone.
    g.output('fewOut', g.gemm(few, w, null));
    const portable = emitModel(g);
    const cpu = emitModel(g, { provider: 'cpu' });
    const pads = decodeModel(cpu.bytes).graph.node.filter((nd) => nd.opType === 'Pad');
    // x once, w0..w2 and w: five copies; the transposed-A Gemm reads x by columns and keeps it.
    expect(pads.length).toBe(5);
    expect(decodeModel(portable.bytes).graph.node.some((nd) => nd.opType === 'Pad')).toBe(false);
    const feed = (dims: number[], k: number): HostTensor => ({
      dtype: 'float32',
      dims,
      data: Float32Array.from({ length: dims[0]! * dims[1]! }, (_, i) => Math.sin(i * k)),
    });
    const feeds = {
      x: feed([512, 1024], 0.3),
      few: feed([8, 1024], 0.9),
      w: feed([1024, 3], 0.7),
      w0: feed([2, 1024], 1.1),
      w1: feed([2, 1024], 1.3),
      w2: feed([2, 1024], 1.7),
      y: feed([512, 7], 0.5),
    };
    const [a, b] = await Promise.all(
      [portable, cpu].map(
        async (m) => (await getSession(m)).run(feeds) as Promise<Record<string, HostTensor>>,
      ),
    );
    for (const k of ['p0', 'p1', 'p2', 'plain', 'tA', 'fewOut'])
      assertAllClose(b?.[k]?.data as Float32Array, a?.[k]?.data as Float32Array, {
        rtol: 1e-5,
        atol: 1e-5,
        what: k,
      });
  });

  it('on cpu sums over 256+ leading rows as a ones-row MatMul, with ReduceSum values (float32 and float64)', async () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const g = new Graph();
      const x = g.input('x', dtype, [4, 80, 6]);
      const y = g.input('y', dtype, [300, 2, 3]);
      const small = g.input('small', dtype, [2, 3, 4]);
      g.output('lead2', g.reduceSum(x, [0, 1]));
      g.output('lead1Keep', g.reduceSum(y, [0], true));
      g.output('inner', g.reduceSum(x, [1]));
      g.output('few', g.reduceSum(small, [0, 1]));
      const portable = emitModel(g);
      const cpu = emitModel(g, { provider: 'cpu' });
      const ops = (m: typeof cpu) => decodeModel(m.bytes).graph.node.map((nd) => nd.opType);
      // lead2 and lead1Keep become MatMuls; the inner-axis and 6-row sums stay ReduceSum.
      expect(ops(cpu).filter((o) => o === 'MatMul').length).toBe(2);
      expect(ops(cpu).filter((o) => o === 'ReduceSum').length).toBe(2);
      expect(ops(portable).filter((o) => o === 'ReduceSum').length).toBe(4);
      const feed = (dims: number[], k: number): HostTensor => {
        const v = Array.from({ length: dims.reduce((p, d) => p * d, 1) }, (_, i) => Math.sin(i * k) * 3);
        return { dtype, dims, data: dtype === 'float32' ? Float32Array.from(v) : Float64Array.from(v) };
      };
      const feeds = { x: feed([4, 80, 6], 0.3), y: feed([300, 2, 3], 0.7), small: feed([2, 3, 4], 1.1) };
      const [a, b] = await Promise.all(
        [portable, cpu].map(
          async (m) => (await getSession(m)).run(feeds) as Promise<Record<string, HostTensor>>,
        ),
      );
      for (const k of ['lead2', 'lead1Keep', 'inner', 'few']) {
        expect(b?.[k]?.dims, k).toEqual(a?.[k]?.dims);
        assertAllClose(b?.[k]?.data as Float32Array, a?.[k]?.data as Float32Array, {
          rtol: dtype === 'float32' ? 1e-5 : 1e-12,
          atol: dtype === 'float32' ? 1e-4 : 1e-12,
          what: `${dtype} ${k}`,
        });
      }
    }
  });

  it('on cpu puts a Reshape between a transposed tensor and a last-axes swap that only MatMuls read', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 5, 3, 4]);
    const p = g.input('p', 'float32', [2, 3, 6, 5]);
    const dO = g.input('dO', 'float32', [2, 3, 6, 4]);
    const v = g.transpose(x, [0, 2, 1, 3]); // [2, 3, 5, 4], also read by the first MatMul
    g.output('y', g.matmul(p, v));
    g.output('dp', g.matmul(dO, g.transpose(v, [0, 1, 3, 2])));
    // A swap that something other than a MatMul reads stays next to its producer (ORT merges the
    // two into one copy, which is then the cheaper form).
    g.output('vt', g.add(g.transpose(v, [0, 1, 3, 2]), 1));
    const portable = emitModel(g);
    const cpu = emitModel(g, { provider: 'cpu' });
    const producerOps = (m: typeof cpu) => {
      const nodes = decodeModel(m.bytes).graph.node;
      const by = new Map(nodes.flatMap((nd) => nd.output.map((o) => [o, nd.opType] as const)));
      return nodes
        .filter((nd) => nd.opType === 'Transpose')
        .map((nd) => by.get(nd.input[0] as string) ?? 'input');
    };
    expect(producerOps(portable).sort()).toEqual(['Transpose', 'Transpose', 'input']);
    expect(producerOps(cpu).sort()).toEqual(['Reshape', 'Transpose', 'input']);
    const feed = (dims: number[], k: number): HostTensor => ({
      dtype: 'float32',
      dims,
      data: Float32Array.from({ length: dims.reduce((q, d) => q * d, 1) }, (_, i) => Math.sin(i * k)),
    });
    const feeds = { x: feed([2, 5, 3, 4], 0.3), p: feed([2, 3, 6, 5], 0.7), dO: feed([2, 3, 6, 4], 1.1) };
    const [a, b] = await Promise.all(
      [portable, cpu].map(
        async (m) => (await getSession(m)).run(feeds) as Promise<Record<string, HostTensor>>,
      ),
    );
    for (const k of ['y', 'dp', 'vt']) {
      expect(b?.[k]?.dims, k).toEqual(a?.[k]?.dims);
      assertAllClose(b?.[k]?.data as Float32Array, a?.[k]?.data as Float32Array, {
        rtol: 1e-6,
        atol: 1e-6,
        what: k,
      });
    }
  });
});
