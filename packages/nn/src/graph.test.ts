import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emitModel } from './emit.js';
import { GraphBuildError } from './errors.js';
import { broadcastShapes, Graph } from './graph.js';
import { linear } from './modules.js';
import { decodeModel } from './onnx-proto.js';
import { getSession, type HostTensor } from './runtime.js';

describe('graph builder', () => {
  it('shape errors name the module path, the op and the shapes', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [16, 128, 256]);
    const w = g.input('w', 'float32', [255, 256]);
    const run = () =>
      g.scope('blocks', () =>
        g.scope('2', () => g.scope('attn', () => g.scope('q_proj', () => g.matmul(x, w)))),
      );
    expect(run).toThrow(GraphBuildError);
    expect(run).toThrow(
      'blocks.2.attn.q_proj: MatMul [16,128,256] x [255,256]: inner dimensions differ (256 vs 255)',
    );
  });

  it('rejects dtype mismatches and bad axes with the op name', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2, 3]);
    const i = g.input('i', 'int64', [2, 3]);
    expect(() => g.add(a, i)).toThrow(/Add \[2,3\] x \[2,3\]: dtypes differ \(float32 vs int64\)/);
    expect(() => g.softmax(a, 2)).toThrow(/Softmax \[2,3\]: axis 2 out of range/);
    expect(() => g.reshape(a, [4, 2])).toThrow(/Reshape/);
    expect(() => g.gather(a, a)).toThrow(/indices must be int64/);
  });

  it('names parameters and nodes after the module path (Hugging Face style)', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 4]);
    const y = g.scope('model', () =>
      g.scope('layers', () => g.scope('0', () => linear(g, 'q_proj', x, 3, { bias: true }))),
    );
    expect([...g.params.keys()]).toEqual(['model.layers.0.q_proj.weight', 'model.layers.0.q_proj.bias']);
    g.output('y', y);
    const model = decodeModel(emitModel(g).bytes);
    expect(model.graph.node.map((n) => n.name)).toContain('model.layers.0.q_proj/Gemm');
    expect(model.opsetImport[0]?.version).toBe(23);
  });

  it('broadcastShapes agrees with elementwise Add run by ORT (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        async (shape, ones) => {
          const other = shape.map((d, i) => (ones[i] ? 1 : d)).slice(shape.length > 1 && ones[2] ? 1 : 0);
          const out = broadcastShapes(shape, other);
          expect(out).toEqual(shape);
          const g = new Graph();
          const a = g.input('a', 'float64', shape);
          const b = g.input('b', 'float64', other);
          g.output('y', g.add(a, b));
          const s = await getSession(emitModel(g), { intraOpThreads: 1 });
          const n = (d: number[]) => d.reduce((p, q) => p * q, 1);
          const r = await s.run({
            a: { dtype: 'float64', dims: shape, data: new Float64Array(n(shape)) },
            b: { dtype: 'float64', dims: other, data: new Float64Array(n(other)).fill(1) },
          });
          expect((r.y as HostTensor).dims).toEqual(shape);
        },
      ),
      { numRuns: 15 },
    );
    expect(broadcastShapes([2, 3], [4, 3])).toBeNull();
  });

  it('composes transposes (and unit-axis reshapes of them) into one permutation with the same values', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 3, 1, 4]);
    const t1 = g.transpose(x, [3, 0, 2, 1]); // [4, 2, 1, 3]
    expect(g.transpose(t1, [1, 3, 2, 0])).toBe(x); // the inverse cancels: no node at all
    const moved = g.reshape(t1, [4, 1, 2, 3]); // only the size-1 axis moves: still a transpose of x
    expect(moved.producer?.op).toBe('Transpose');
    expect(moved.producer?.inputs[0]).toBe(x);
    // A bare swap of the last two axes stays a separate node (ORT folds it into a MatMul).
    const swapped = g.transpose(t1, [0, 1, 3, 2]);
    expect(swapped.producer?.inputs[0]).toBe(t1);
    g.output('moved', moved);
    g.output('swapped', swapped);
    const data = Float32Array.from({ length: 24 }, (_, i) => i);
    const r = await (await getSession(emitModel(g), { intraOpThreads: 1 })).run({
      x: { dtype: 'float32', dims: [2, 3, 1, 4], data },
    });
    // Reference: y[a][b][c][d] of transpose(x, [3, 0, 2, 1]) = x[b][d][c][a] (c is the unit axis).
    const at = (i: number, j: number, k: number) => data[i * 12 + j * 4 + k] as number;
    const want: number[] = [];
    for (let a = 0; a < 4; a++)
      for (let b = 0; b < 2; b++) for (let d = 0; d < 3; d++) want.push(at(b, d, a));
    expect(Array.from((r.moved as HostTensor).data as Float32Array)).toEqual(want);
    const wantSwapped: number[] = [];
    for (let a = 0; a < 4; a++)
      for (let b = 0; b < 2; b++) for (let d = 0; d < 3; d++) wantSwapped.push(at(b, d, a));
    expect(Array.from((r.swapped as HostTensor).data as Float32Array)).toEqual(wantSwapped);
  });

  it('scatterElementsAdd adds updates along an axis, duplicates accumulating, and names bad shapes', async () => {
    const g = new Graph();
    const data = g.input('data', 'float32', [3, 4]);
    const idx = g.input('idx', 'int64', [3, 2]);
    const upd = g.input('upd', 'float32', [3, 2]);
    g.output('y', g.scatterElementsAdd(data, idx, upd, -1));
    const session = await getSession(emitModel(g));
    const d = Float32Array.from({ length: 12 }, (_, i) => i / 4);
    const ix = [0, 3, 2, 2, 1, 0];
    const u = [1, 2, 3, 4, 5, 6];
    const out = await session.run({
      data: { dtype: 'float32', dims: [3, 4], data: d },
      idx: { dtype: 'int64', dims: [3, 2], data: BigInt64Array.from(ix.map(BigInt)) },
      upd: { dtype: 'float32', dims: [3, 2], data: Float32Array.from(u) },
    });
    // Row r of the 3x4 data gets u at columns ix (row 1 has column 2 twice: 3 + 4).
    const expected = Array.from(d, (x, i) => {
      const [r, c] = [Math.floor(i / 4), i % 4];
      return Math.fround(
        x + [0, 1].reduce((s, j) => s + (ix[r * 2 + j] === c ? (u[r * 2 + j] as number) : 0), 0),
      );
    });
    expect(Array.from((out.y as HostTensor).data as Float32Array)).toEqual(expected);
    const h = new Graph();
    const a = h.input('a', 'float32', [3, 4]);
    expect(() =>
      h.scatterElementsAdd(a, h.input('i', 'int64', [2, 1]), h.input('u', 'float32', [2, 1]), 1),
    ).toThrow(/ScatterElementsAdd \[3,4\] x \[2,1\] x \[2,1\]: .*matches data off axis 1/);
  });

  it('emits constants built twice under one name once, and keeps same-named different ones apart', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2]);
    const c1 = g.constant(Float32Array.of(1, 2), 'float32', [2], 'table');
    const c2 = g.constant(Float32Array.of(1, 2), 'float32', [2], 'table');
    const c3 = g.constant(Float32Array.of(5, 7), 'float32', [2], 'table');
    g.output('y', g.add(g.add(g.mul(x, c1), c2), c3));
    const model = emitModel(g);
    const inits = decodeModel(model.bytes).graph.initializer.map((t) => t.name);
    expect(inits.filter((n) => n.startsWith('table'))).toHaveLength(2);
    expect(new Set(inits).size).toBe(inits.length);
    const r = await (await getSession(model, { intraOpThreads: 1 })).run({
      x: { dtype: 'float32', dims: [2], data: Float32Array.of(10, 100) },
    });
    expect(Array.from((r.y as HostTensor).data as Float32Array)).toEqual([10 + 1 + 5, 200 + 2 + 7]);
  });
});
