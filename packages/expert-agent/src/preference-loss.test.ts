import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GopoLossConfigSchema } from './gopo-config.js';
import {
  buildPreferencePairs,
  gopoPairwiseLoss,
  groupAdvantages,
  groupRelativeLoss,
  type TrajectoryLogProbs,
} from './preference-loss.js';

/** Float64 central differences of f at x along each coordinate. */
function numericGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xp = x.slice();
    const xm = x.slice();
    xp[i]! += h;
    xm[i]! -= h;
    g[i] = (f(xp) - f(xm)) / (2 * h);
  }
  return g;
}

function expectGradClose(analytic: Float64Array, numeric: Float64Array) {
  for (let i = 0; i < analytic.length; i++) {
    const denom = Math.max(1e-8, Math.abs(analytic[i]!) + Math.abs(numeric[i]!));
    expect(Math.abs(analytic[i]! - numeric[i]!) / denom, `coordinate ${i}`).toBeLessThan(1e-6);
  }
}

describe('preference pairs', () => {
  it('keeps ordered pairs whose reward gap exceeds the margin', () => {
    expect(buildPreferencePairs([0.9, 0.5, 0.52], 0.05)).toEqual([
      { chosen: 0, rejected: 1 },
      { chosen: 0, rejected: 2 },
    ]);
    expect(buildPreferencePairs([0.3, 0.3], 0)).toEqual([]);
  });
});

describe('pairwise GOPO loss', () => {
  const cfg = GopoLossConfigSchema.parse({ beta: 0.5 });

  it('matches a hand-computed value', () => {
    // D_0 = -1 - (-2) = 1, D_1 = -3 - (-2) = -1; z = 0.5 * 2 = 1; L = -log sigmoid(1) = log(1 + e^-1)
    const lp: TrajectoryLogProbs = { policy: [-1, -3], reference: [-2, -2], turns: [2, 2] };
    const r = gopoPairwiseLoss(lp, [{ chosen: 0, rejected: 1 }], cfg);
    expect(r.loss).toBeCloseTo(Math.log1p(Math.exp(-1)), 14);
    const s = 1 / (1 + Math.exp(-1));
    expect(r.grad[0]).toBeCloseTo(-(1 - s) * 0.5, 14);
    expect(r.grad[1]).toBeCloseTo((1 - s) * 0.5, 14);
    expect(r.metrics['rewards/accuracies']).toBe(1);
    expect(r.metrics['rewards/margins']).toBeCloseTo(1, 14);
  });

  it('has exact gradients (float64 central differences) in every configuration', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -20, max: 0, noNaN: true }), { minLength: 3, maxLength: 6 }),
        fc.boolean(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0.05, max: 2, noNaN: true }),
        (policy, lengthNormalize, nllWeight, beta) => {
          const n = policy.length;
          const reference = policy.map((p, i) => p + Math.sin(i));
          const turns = policy.map((_, i) => 1 + (i % 4));
          const pairs = buildPreferencePairs(
            policy.map((_, i) => Math.cos(3 * i)),
            0.1,
          );
          const c = { beta, lengthNormalize, nllWeight };
          const f = (x: Float64Array) => gopoPairwiseLoss({ policy: x, reference, turns }, pairs, c).loss;
          const x = Float64Array.from(policy);
          expectGradClose(
            gopoPairwiseLoss({ policy: x, reference, turns }, pairs, c).grad,
            numericGrad(f, x),
          );
          expect(n).toBeGreaterThan(0);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('falls when the chosen trajectory becomes more likely', () => {
    const ref = [-2, -2];
    const lossAt = (p0: number) =>
      gopoPairwiseLoss({ policy: [p0, -2], reference: ref, turns: [1, 1] }, [{ chosen: 0, rejected: 1 }], cfg)
        .loss;
    expect(lossAt(-1)).toBeLessThan(lossAt(-2));
    expect(lossAt(-2)).toBeCloseTo(Math.log(2), 14);
  });
});

describe('group-relative variant', () => {
  it('normalises advantages within a group', () => {
    const a = groupAdvantages([1, 2, 3], 0);
    expect(Array.from(a).reduce((x, y) => x + y, 0)).toBeCloseTo(0, 14);
    expect(a[2]).toBeCloseTo(1 / Math.sqrt(2 / 3), 12);
  });

  it('has exact gradients, including clipped decisions', () => {
    const old = [-1.0, -0.5, -2.0, -1.2];
    const ref = [-1.1, -0.7, -1.5, -1.0];
    const adv = [1.0, -0.5, 2.0, -1.5];
    const cfg = { clipEps: 0.2, klCoef: 0.1 };
    const x = Float64Array.from([-0.5, -0.6, -2.4, -1.25]); // decision 0 (ratio e^0.5, A > 0) is bound by the clip
    const f = (v: Float64Array) =>
      groupRelativeLoss({ logp: v, oldLogp: old, refLogp: ref, advantage: adv }, cfg).loss;
    const r = groupRelativeLoss({ logp: x, oldLogp: old, refLogp: ref, advantage: adv }, cfg);
    expect(r.metrics['policy/clip_frac']).toBe(0.25);
    expectGradClose(r.grad, numericGrad(f, x));
  });
});
