import { UsageError } from '@gopo/core';
import { ChatTemplate } from '@gopo/lm';
import { describe, expect, it } from 'vitest';
import { handTrajectory, rowOf, STRATEGIES, shopTokenizer } from '../test/fixtures.js';
import { ExpertEncoder } from './encoder.js';
import { packRows, roundUp } from './rows.js';

describe('packRows', () => {
  const S = STRATEGIES.length;
  const setup = async () => {
    const tokenizer = await shopTokenizer();
    const encoder = new ExpertEncoder(new ChatTemplate(tokenizer), STRATEGIES, 1024);
    const ts = [handTrajectory(1, { agentTurns: 3 }), handTrajectory(2, { agentTurns: 1 })];
    return { pad: tokenizer.padId, ts, items: ts.map((t) => rowOf(encoder, t)) };
  };

  it('lays out ids, attention, flat positions, masks, actions and weights, padding rows and slots last', async () => {
    const { pad, ts, items } = await setup();
    const T = roundUp(Math.max(...items.map((i) => i.encoded.ids.length)), 16);
    const D = 3;
    const r = packRows(items, { rows: 3, seqLen: T, slots: D }, S, pad, 'float64');
    expect(r.ids.dims).toEqual([3, T]);
    expect(r.mask.dims).toEqual([3, D, S]);
    expect(r.weights.dtype).toBe('float64');
    const ids = Array.from(r.ids.data as BigInt64Array, Number);
    const att = Array.from(r.attention.data as Uint8Array);
    items.forEach((it, b) => {
      const n = it.encoded.ids.length;
      expect(ids.slice(b * T, b * T + n)).toEqual(it.encoded.ids);
      expect(ids.slice(b * T + n, (b + 1) * T).every((x) => x === pad)).toBe(true);
      expect(att.slice(b * T, (b + 1) * T)).toEqual([...Array(T).keys()].map((i) => (i < n ? 1 : 0)));
    });
    // the padding row attends its first token only (a softmax row is never empty)
    expect(att.slice(2 * T)).toEqual([...Array(T).keys()].map((i) => (i === 0 ? 1 : 0)));
    expect(Array.from(r.weights.data as Float64Array)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(r.turns.data as Float64Array)).toEqual([3, 1, 0]);
    const pos = Array.from(r.positions.data as BigInt64Array, Number);
    const act = Array.from(r.actions.data as BigInt64Array, Number);
    const mask = r.mask.data as Uint8Array;
    for (let b = 0; b < 3; b++)
      for (let k = 0; k < D; k++) {
        const slot = b * D + k;
        const m = Array.from(mask.subarray(slot * S, (slot + 1) * S), Boolean);
        const real = b < 2 && k < items[b]!.actions.length;
        if (real) {
          expect(pos[slot]).toBe(b * T + items[b]!.encoded.positions[k]!);
          expect(act[slot]).toBe(ts[b]!.decisions[k]!.action);
          expect(m).toEqual(ts[b]!.decisions[k]!.mask);
        } else {
          // padding slots read their row's first token and admit strategy 0 only: finite, weighted out
          expect(pos[slot]).toBe(b * T);
          expect(m).toEqual(STRATEGIES.map((_, s) => s === 0));
        }
      }
  });

  it('keeps the first `slots` decisions of a longer trajectory', async () => {
    const { pad, items } = await setup();
    const r = packRows(items, { rows: 2, seqLen: 256, slots: 2 }, S, pad);
    expect(Array.from(r.turns.data as Float32Array)).toEqual([2, 1]);
    expect(Array.from(r.weights.data as Float32Array)).toEqual([1, 1, 1, 0]);
  });

  it('refuses more trajectories than rows and sequences longer than seqLen', async () => {
    const { pad, items } = await setup();
    expect(() => packRows(items, { rows: 1, seqLen: 256, slots: 3 }, S, pad)).toThrow(UsageError);
    expect(() => packRows(items, { rows: 2, seqLen: 8, slots: 3 }, S, pad)).toThrow(/does not fit 8/);
  });
});
