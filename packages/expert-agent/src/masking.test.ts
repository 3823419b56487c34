import { Rng } from '@gopo/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maskedLogSoftmax, NoAdmissibleStrategyError, rankAdmissible, sampleMasked } from './masking.js';

const logitsAndMask = fc.integer({ min: 1, max: 13 }).chain((n) =>
  fc.tuple(
    fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: n, maxLength: n }),
    fc.array(fc.boolean(), { minLength: n, maxLength: n }).filter((m) => m.some(Boolean)),
  ),
);

describe('SOP masking', () => {
  it('puts all probability on admissible strategies and sums to one', () => {
    fc.assert(
      fc.property(logitsAndMask, ([logits, mask]) => {
        const lp = maskedLogSoftmax(logits, mask);
        let total = 0;
        lp.forEach((v, i) => {
          if (!mask[i]) expect(v).toBe(Number.NEGATIVE_INFINITY);
          else total += Math.exp(v);
        });
        expect(total).toBeCloseTo(1, 12);
      }),
    );
  });

  it('matches a hand-computed case', () => {
    // admissible logits 1 and 3: p = e^1/(e^1+e^3), e^3/(e^1+e^3)
    const lp = maskedLogSoftmax([1, 2, 3], [true, false, true]);
    const z = Math.log(Math.E + Math.E ** 3);
    expect(lp[0]).toBeCloseTo(1 - z, 14);
    expect(lp[2]).toBeCloseTo(3 - z, 14);
    expect(rankAdmissible([1, 2, 3], [true, false, true])).toEqual([2, 0]);
    expect(rankAdmissible([5, 5, 1], [true, true, true])).toEqual([0, 1, 2]);
  });

  it('never samples an inadmissible strategy, and samples in proportion', () => {
    fc.assert(
      fc.property(
        logitsAndMask,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        ([logits, mask], u) => {
          const i = sampleMasked(maskedLogSoftmax(logits, mask), u);
          expect(mask[i]).toBe(true);
        },
      ),
    );
    const rng = Rng.fromSeed(3);
    const lp = maskedLogSoftmax([0, Math.log(3), 9], [true, true, false]);
    const counts = [0, 0, 0];
    for (let k = 0; k < 20000; k++) counts[sampleMasked(lp, rng.float())]!++;
    expect(counts[2]).toBe(0);
    expect(counts[1]! / counts[0]!).toBeGreaterThan(2.8);
    expect(counts[1]! / counts[0]!).toBeLessThan(3.2);
  });

  it('refuses an empty admissible set', () => {
    expect(() => maskedLogSoftmax([1, 2], [false, false])).toThrow(NoAdmissibleStrategyError);
    expect(() => rankAdmissible([1], [false])).toThrow(NoAdmissibleStrategyError);
  });
});
