import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  generationReward,
  overlap,
  progressiveRewards,
  todReward,
  understandingReward,
} from './step-rewards.js';

describe('step rewards (Du et al. 2024)', () => {
  it('Ru, Rg and Rtod by hand', () => {
    const sv = overlap(
      ['area=east', 'stars=4', 'parking=yes', 'type=hotel'],
      ['area=east', 'stars=4', 'stars=5'],
    );
    expect(sv).toEqual({ truth: 4, hit: 2 });
    // rho_u = exp(-alpha * 2/4); Ru = 2 * rho_u / 4
    expect(understandingReward(sv, 1)).toBeCloseTo((2 * Math.exp(-0.5)) / 4, 14);
    expect(understandingReward(sv, 0)).toBeCloseTo(0.5, 14);
    const s = overlap(['phone', 'address'], ['phone']);
    expect(generationReward(s, 2)).toBeCloseTo(Math.exp(-2 * 0.5) / 2, 14);
    // Rtod = (2 e^{-0.5} + 1 e^{-1}) / (4 + 2)
    expect(todReward(sv, s, 1, 2)).toBeCloseTo((2 * Math.exp(-0.5) + Math.exp(-1)) / 6, 14);
    expect(todReward({ truth: 0, hit: 0 }, { truth: 0, hit: 0 }, 1, 1)).toBe(0);
    expect(understandingReward(overlap(['a'], ['a']), 3)).toBe(1);
  });

  it('progressive per-token rewards arrive as counts grow and sum to the final reward', () => {
    const r = progressiveRewards({
      truthSlots: ['a=1', 'b=2'],
      truthRequests: ['phone'],
      marks: [
        { token: 1, kind: 'slot', key: 'a=1' },
        { token: 3, kind: 'request', key: 'phone' },
        { token: 3, kind: 'slot', key: 'wrong=9' },
      ],
      numTokens: 5,
      alpha: 1,
      beta: 1,
      reward: 'tod',
    });
    // after token 1: (1 * e^{-1/2} + 0) / 3; after token 3: (e^{-1/2} + 1) / 3
    expect(Array.from(r)).toEqual([
      0,
      expect.closeTo(Math.exp(-0.5) / 3, 14),
      0,
      expect.closeTo(1 / 3, 14),
      0,
    ]);
  });

  it('progressive rewards telescope for any marks', () => {
    const keys = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            token: fc.nat(20),
            kind: fc.constantFrom('slot' as const, 'request' as const),
            key: fc.constantFrom(...keys),
          }),
        ),
        fc.integer({ min: 1, max: 15 }),
        (marks, numTokens) => {
          const input = {
            truthSlots: ['a', 'b'],
            truthRequests: ['c'],
            marks,
            numTokens,
            alpha: 0.7,
            beta: 1.3,
            reward: 'tod' as const,
          };
          const total = progressiveRewards(input).reduce((x, y) => x + y, 0);
          const slots = overlap(
            ['a', 'b'],
            marks.filter((m) => m.kind === 'slot').map((m) => m.key),
          );
          const reqs = overlap(
            ['c'],
            marks.filter((m) => m.kind === 'request').map((m) => m.key),
          );
          return Math.abs(total - todReward(slots, reqs, 0.7, 1.3)) < 1e-12;
        },
      ),
    );
  });
});
