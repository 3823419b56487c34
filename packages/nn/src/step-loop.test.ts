import { describe, expect, it } from 'vitest';
import { emitModel } from './emit.js';
import { Graph } from './graph.js';
import { getSession, type HostTensor } from './runtime.js';
import { stepLoopModel } from './step-loop.js';

const f32 = (dims: number[], values: number[]): HostTensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from(values),
});

/** A "step" with state s [2] and per-step input a [2]: s' = s * a + 1, reporting sum(s'). */
function toyStep(stateShape: readonly (number | string)[] = [2]) {
  const g = new Graph({ name: 'toy_step' });
  const s = g.input('s', 'float32', stateShape as number[]);
  const a = g.input('a', 'float32', stateShape as number[]);
  const next = g.add(g.mul(s, a), 1);
  g.output('new:s', next);
  g.output('total', g.reduceSum(next));
  return emitModel(g);
}

describe('stepLoopModel', () => {
  it('carries new:X into X, stacks per-step inputs and other outputs, and matches K single runs', async () => {
    const step = toyStep();
    const loop = stepLoopModel(step, 3);
    expect(loop.inputs.map((i) => [i.name, i.shape])).toEqual([
      ['s', [2]],
      ['steps:a', [3, 2]],
    ]);
    expect(loop.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['new:s', [2]],
      ['steps:total', [3]],
    ]);
    const single = await getSession(step, { intraOpThreads: 1 });
    const multi = await getSession(loop, { intraOpThreads: 1 });
    const as = [
      [2, 3],
      [0.5, -1],
      [4, 0.25],
    ];
    let s = f32([2], [1, 2]);
    const totals: number[] = [];
    for (const a of as) {
      const r = await single.run({ s, a: f32([2], a) });
      s = r['new:s'] as HostTensor;
      totals.push(Number((r.total as HostTensor).data[0]));
    }
    const r = await multi.run({ s: f32([2], [1, 2]), 'steps:a': f32([3, 2], as.flat()) });
    expect([...((r['new:s'] as HostTensor).data as Float32Array)]).toEqual([...(s.data as Float32Array)]);
    expect([...((r['steps:total'] as HostTensor).data as Float32Array)]).toEqual(totals);
    // By hand: s = [1,2] -> [3,7] -> [2.5,-6] -> [11,-0.5].
    expect([...(s.data as Float32Array)]).toEqual([11, -0.5]);
  });

  it('refuses symbolic shapes, mismatched carries and a non-positive step count', () => {
    expect(() => stepLoopModel(toyStep(['n']), 2)).toThrow(/"s" has symbolic dims/);
    const g = new Graph({ name: 'bad' });
    const s = g.input('s', 'float32', [2]);
    g.output('new:s', g.reduceSum(s, [0], true));
    expect(() => stepLoopModel(emitModel(g), 2)).toThrow(
      /step output "new:s" is float32\[1\] but input "s" is float32\[2\]/,
    );
    const h = new Graph({ name: 'orphan' });
    h.output('new:t', h.neg(h.input('s', 'float32', [2])));
    expect(() => stepLoopModel(emitModel(h), 2)).toThrow(/"new:t" has no input "t"/);
    expect(() => stepLoopModel(toyStep(), 0)).toThrow(/positive integer, got 0/);
  });
});
