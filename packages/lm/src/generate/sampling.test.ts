import { Rng } from '@gopo/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { streamableText } from './generate.js';
import { applyRepetitionPenalty, argmax, filteredDistribution, kthLargest, sampleNext } from './sampling.js';

const softmax = (xs: number[], t = 1) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp((x - m) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

describe('filteredDistribution', () => {
  const logits = [1, 3, 2, 0.5, 3];

  it('temperature rescales the softmax (hand-computed)', () => {
    const d = filteredDistribution(logits, { temperature: 2, topK: 0, topP: 1 });
    expect(d.ids).toEqual([1, 4, 2, 0, 3]); // ties keep id order
    const want = softmax(logits, 2);
    d.ids.forEach((id, i) => {
      expect(d.probs[i]).toBeCloseTo(want[id] as number, 12);
    });
  });

  it('top-k keeps the k largest (and ties with the k-th), renormalised', () => {
    const d = filteredDistribution(logits, { temperature: 1, topK: 1, topP: 1 });
    expect(d.ids).toEqual([1, 4]); // 3 and 3 tie
    expect(d.probs).toEqual([0.5, 0.5]);
    const d3 = filteredDistribution(logits, { temperature: 1, topK: 3, topP: 1 });
    expect(d3.ids).toEqual([1, 4, 2]);
    const e = Math.exp(-1);
    expect(d3.probs[2]).toBeCloseTo(e / (2 + e), 12);
  });

  it('top-p keeps the smallest prefix reaching p', () => {
    // probs of [ln 6, ln 3, ln 1] are 0.6, 0.3, 0.1
    const l = [Math.log(6), Math.log(3), Math.log(1)];
    expect(filteredDistribution(l, { temperature: 1, topK: 0, topP: 0.5 }).ids).toEqual([0]);
    expect(filteredDistribution(l, { temperature: 1, topK: 0, topP: 0.6 }).ids).toEqual([0]);
    const d = filteredDistribution(l, { temperature: 1, topK: 0, topP: 0.85 });
    expect(d.ids).toEqual([0, 1]);
    expect(d.probs[0]).toBeCloseTo(2 / 3, 12);
    expect(filteredDistribution(l, { temperature: 1, topK: 0, topP: 0.95 }).ids).toEqual([0, 1, 2]);
  });

  it('always keeps at least one token and sums to 1 (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 1, maxLength: 40 }),
        fc.double({ min: 0.05, max: 5, noNaN: true }),
        fc.nat(10),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (l, temperature, topK, topP) => {
          const d = filteredDistribution(l, { temperature, topK, topP });
          expect(d.ids.length).toBeGreaterThanOrEqual(1);
          expect(Math.abs(d.probs.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
          if (topK > 0) expect(d.ids.length).toBeLessThanOrEqual(l.length);
          // kept ids are the most likely ones
          const minKept = Math.min(...d.ids.map((i) => l[i] as number));
          l.forEach((v, i) => {
            if (!d.ids.includes(i)) expect(v).toBeLessThanOrEqual(minKept);
          });
        },
      ),
    );
  });
});

describe('repetition penalty and greedy', () => {
  it('divides positive and multiplies negative logits of seen ids, once each', () => {
    const l = Float32Array.of(2, -2, 4, 1);
    applyRepetitionPenalty(l, [0, 1, 1, 1], 2);
    expect([...l]).toEqual([1, -4, 4, 1]);
  });

  it('greedy is argmax after the penalty, lowest id on ties', () => {
    expect(argmax([1, 5, 5, 2])).toBe(1);
    const rng = Rng.fromSeed(0);
    const opts = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 3 };
    expect(sampleNext(Float32Array.of(1, 2.5, 2), [], opts, rng)).toBe(1);
    expect(sampleNext(Float32Array.of(1, 2.5, 2), [1], opts, rng)).toBe(2);
  });

  it('draws follow the filtered distribution and a seed reproduces them', () => {
    const l = [0, 1, 2, 3, -1];
    const opts = { temperature: 0.7, topK: 3, topP: 0.9, repetitionPenalty: 1 };
    const d = filteredDistribution(l, opts);
    const draw = (seed: number) => {
      const rng = Rng.fromSeed(seed);
      return Array.from({ length: 20_000 }, () => sampleNext(Float32Array.from(l), [], opts, rng));
    };
    const xs = draw(5);
    expect(draw(5)).toEqual(xs);
    d.ids.forEach((id, i) => {
      const freq = xs.filter((x) => x === id).length / xs.length;
      expect(Math.abs(freq - (d.probs[i] as number))).toBeLessThan(0.015);
    });
    for (const x of xs) expect(d.ids).toContain(x);
  });
});

describe('streamableText', () => {
  it('holds back a partial character and any suffix that may start a stop string', () => {
    expect(streamableText('hello wor', ['world'])).toBe('hello ');
    expect(streamableText('hello w', ['xyz', 'wx'])).toBe('hello ');
    expect(streamableText('abc\uFFFD', [])).toBe('abc');
    expect(streamableText('abc', ['c!'])).toBe('ab');
    expect(streamableText('abc', ['zz'])).toBe('abc');
  });
});

describe('kthLargest and large vocabularies', () => {
  it('finds the k-th largest value (property, against a sort)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 60 }),
        fc.nat(),
        (xs, r) => {
          const k = 1 + (r % xs.length);
          expect(kthLargest(xs, k)).toBe([...xs].sort((a, b) => b - a)[k - 1]);
        },
      ),
    );
  });

  it('top-p over 150 K ids keeps the same nucleus as a full sort', () => {
    const rng = Rng.fromSeed(2);
    const l = Float32Array.from({ length: 150_000 }, () => rng.normal() * 3);
    const opts = { temperature: 0.9, topK: 0, topP: 0.9 };
    const d = filteredDistribution(l, opts);
    const order = Array.from(l.keys()).sort((a, b) => (l[b] as number) - (l[a] as number) || a - b);
    const w = order.map((i) => Math.exp(((l[i] as number) - (l[order[0] as number] as number)) / 0.9));
    const total = w.reduce((a, b) => a + b, 0);
    let cum = 0;
    let cut = 0;
    while (cum < 0.9) cum += (w[cut++] as number) / total;
    expect(d.ids).toEqual(order.slice(0, cut));
  });
});
