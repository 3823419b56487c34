import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GopoLossConfigSchema } from './gopo-config.js';
import {
  buildPreferencePairs,
  gopoPairwiseLoss,
  gopoTokenPairwiseLoss,
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

describe('token-level GOPO loss (loss.preference "token")', () => {
  it('matches a hand-computed 2-decision case, and differs from the trajectory loss on it', () => {
    // Chosen: log-ratios d = (-1 + 1.5, -2 + 1.5) = (0.5, -0.5); rejected (three decisions, the third
    // past the aligned positions): d = (-2 + 1.5, -1 + 1.5, -3 + 1) = (-0.5, 0.5, -2). beta 0.5:
    //   z_1 = 0.5 (0.5 + 0.5) = 0.5, z_2 = 0.5 (-0.5 - 0.5) = -0.5
    //   L = (1/2) [log(1 + e^-0.5) + log(1 + e^0.5)] = 0.25 + log(1 + e^-0.5)   (log(1+e^x) = x + log(1+e^-x))
    //   dL/dlogpi_chosen,t = (1/2) * 0.5 * -(1 - sigmoid(z_t)) = -sigmoid(-z_t) / 4, with sigmoid(0.5) =
    //   0.6224593312: -0.0943851672 and -0.1556148328; rejected: the opposite, 0 for its third decision
    const lp = {
      policy: [
        [-1, -2],
        [-2, -1, -3],
      ],
      reference: [
        [-1.5, -1.5],
        [-1.5, -1.5, -1],
      ],
    };
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    const r = gopoTokenPairwiseLoss(lp, [{ chosen: 0, rejected: 1 }], { beta: 0.5, nllWeight: 0 });
    expect(r.loss).toBeCloseTo(0.25 + Math.log1p(Math.exp(-0.5)), 14);
    expect(r.loss).toBeCloseTo(0.7240769841801067, 14);
    expect(r.grad[0]![0]).toBeCloseTo(-sig(-0.5) / 4, 14);
    expect(r.grad[0]![1]).toBeCloseTo(-sig(0.5) / 4, 14);
    expect(r.grad[0]![0]).toBeCloseTo(-0.0943851672, 10);
    expect(r.grad[0]![1]).toBeCloseTo(-0.1556148328, 10);
    expect(Array.from(r.grad[1]!)).toEqual([-r.grad[0]![0]!, -r.grad[0]![1]!, 0]);
    // mean margin (0.5 - 0.5) / 2 = 0: not counted as correct
    expect(r.metrics['rewards/margins']).toBeCloseTo(0, 14);
    expect(r.metrics['rewards/accuracies']).toBe(0);
    // The trajectory loss sees sums 0 and -2: z = 0.5 * 2 = 1, L = log(1 + e^-1).
    const sums = (x: number[][]) => x.map((row) => row.reduce((a, b) => a + b, 0));
    const trajectory = gopoPairwiseLoss(
      { policy: sums(lp.policy), reference: sums(lp.reference), turns: [2, 3] },
      [{ chosen: 0, rejected: 1 }],
      { beta: 0.5, lengthNormalize: false, nllWeight: 0 },
    );
    expect(trajectory.loss).toBeCloseTo(Math.log1p(Math.exp(-1)), 14);
  });

  it('adds the NLL of the preferred trajectory: nllWeight * -(sum logpi) / T on each of its decisions', () => {
    const lp = { policy: [[-1, -2], [-2]], reference: [[-1, -2], [-2]] };
    const r = gopoTokenPairwiseLoss(lp, [{ chosen: 0, rejected: 1 }], { beta: 1, nllWeight: 0.4 });
    // d = 0 everywhere: one aligned position with z = 0, log 2; NLL 0.4 * 3 / 2 = 0.6
    expect(r.loss).toBeCloseTo(Math.log(2) + 0.6, 14);
    expect(r.grad[0]![1]).toBeCloseTo(-0.2, 14); // past the aligned position: the NLL term only
    expect(r.grad[0]![0]).toBeCloseTo(-0.5 - 0.2, 14);
    expect(r.grad[1]![0]).toBeCloseTo(0.5, 14);
  });

  it('leaves out a pair with an empty trajectory; no pairs give zero', () => {
    const lp = { policy: [[-1], [], [-2]], reference: [[-1.2], [], [-1]] };
    const both = gopoTokenPairwiseLoss(
      lp,
      [
        { chosen: 0, rejected: 1 },
        { chosen: 0, rejected: 2 },
      ],
      { beta: 1, nllWeight: 0 },
    );
    const one = gopoTokenPairwiseLoss(lp, [{ chosen: 0, rejected: 2 }], { beta: 1, nllWeight: 0 });
    expect(both.loss).toBeCloseTo(one.loss, 14);
    expect(gopoTokenPairwiseLoss(lp, [], { beta: 1, nllWeight: 0 }).loss).toBe(0);
  });

  it('has exact gradients (float64 central differences)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: -8, max: 0, noNaN: true }), { minLength: 0, maxLength: 4 }), {
          minLength: 3,
          maxLength: 5,
        }),
        // 0, or large enough that the NLL-only gradients past the aligned positions stay well above
        // the differences' rounding (a weight of 1e-14 makes them noise for the relative test)
        fc.oneof(fc.constant(0), fc.double({ min: 0.05, max: 1, noNaN: true })),
        fc.double({ min: 0.05, max: 2, noNaN: true }),
        (policy, nllWeight, beta) => {
          const reference = policy.map((row, i) => row.map((p, t) => p + Math.sin(i + 3 * t)));
          const pairs = buildPreferencePairs(
            policy.map((_, i) => Math.cos(3 * i)),
            0.1,
          );
          const c = { beta, nllWeight };
          const flat = Float64Array.from(policy.flat());
          const unflat = (x: Float64Array) => {
            const rows: number[][] = [];
            let at = 0;
            for (const row of policy) {
              rows.push(Array.from(x.subarray(at, at + row.length)));
              at += row.length;
            }
            return rows;
          };
          const f = (x: Float64Array) =>
            gopoTokenPairwiseLoss({ policy: unflat(x), reference }, pairs, c).loss;
          const r = gopoTokenPairwiseLoss({ policy, reference }, pairs, c);
          expectGradClose(Float64Array.from(r.grad.flatMap((g) => Array.from(g))), numericGrad(f, flat));
        },
      ),
      { numRuns: 50 },
    );
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
