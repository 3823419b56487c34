import { loadDefaultTokenizer } from '@gopo/lm';
import { beforeAll, describe, expect, it } from 'vitest';
import { StateEmbedder } from './state-embedding.js';

let embedder: StateEmbedder;
beforeAll(async () => {
  embedder = new StateEmbedder(await loadDefaultTokenizer());
});

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('StateEmbedder', () => {
  const a =
    'sop: need_known\ncustomer: purchase; headphones; budget $80\nagent turns: 1\nlast strategy: elicit_need';
  const aOtherPrice =
    'sop: need_known\ncustomer: purchase; headphones; budget $95\nagent turns: 1\nlast strategy: elicit_need';
  const b =
    'sop: order_located\ncustomer: return refund; order o-1234\nagent turns: 3\nlast strategy: check_order';

  it('is deterministic and of unit length', () => {
    const v = embedder.embed(a);
    expect(v).toHaveLength(256);
    expect(embedder.embed(a)).toEqual(v);
    expect(dot(v, v)).toBeCloseTo(1, 5);
    expect(embedder.embed('')).toEqual(new Float32Array(256));
  });

  it('puts states that differ in digits only together and other states apart', () => {
    expect(dot(embedder.embed(a), embedder.embed(aOtherPrice))).toBeCloseTo(1, 5);
    expect(dot(embedder.embed(a), embedder.embed(b))).toBeLessThan(0.5);
  });

  it('embedAll lays rows back to back', () => {
    const all = embedder.embedAll([a, b]);
    expect(all.subarray(256)).toEqual(embedder.embed(b));
  });
});
