import { Rng } from '@gopo/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultMetricsConfig } from './config.js';
import {
  esndcgFromScores,
  esndcgMonteCarlo,
  esndcgOfTurns,
  esndcgScore,
  type JudgedTurn,
  judgedTurns,
} from './esndcg.js';
import { agent, session, user } from './testing/sessions.js';

const cfg = defaultMetricsConfig().esndcg; // p_ref 0.8, p_down 0.7, k 5
const L = Math.log2;

describe('ESNDCG golden cases', () => {
  it('matches a hand computation over two judged turns', () => {
    const s = session('purchase', [
      user([]),
      agent('recommend', {
        ranking: ['recommend', 'compare', 'clarify'],
        reference: 'recommend',
        acceptable: ['compare'],
      }),
      user([]),
      agent('greet'), // no reference: not a judged turn, t does not advance
      agent('clarify', { ranking: ['clarify', 'recommend'], reference: 'recommend' }),
    ]);
    // turn 1: DCG = 3/log2 2 + 0.7 * 1/log2 3 + 0.49 * 0 = 3.441651 = IDCG
    // turn 2: DCG = 0 + 0.7 * 3/log2 3 = 1.324953; IDCG = 3
    const d1 = 3 + 0.7 / L(3);
    const expected = (d1 + 0.8 * ((0.7 * 3) / L(3))) / (d1 + 0.8 * 3);
    expect(esndcgScore(s, cfg)).toBeCloseTo(expected, 12);
    expect(esndcgScore(s, cfg)).toBeCloseTo(0.7706059, 6);
  });

  it('uses the logged strategy when there is no ranking, cuts at k, ignores duplicates', () => {
    const s = session('purchase', [agent('compare', { reference: 'recommend', acceptable: ['compare'] })]);
    expect(esndcgScore(s, cfg)).toBeCloseTo(1 / (3 + 0.7 / L(3)), 12);
    const turns: JudgedTurn[] = [{ ranking: ['a', 'a', 'b', 'c'], reference: 'c', acceptable: [] }];
    // ranking a, b, c: c at rank 3 -> 0.49 * 3 / log2 4
    expect(esndcgOfTurns(turns, cfg)).toBeCloseTo((0.49 * 3) / 2 / 3, 12);
    expect(esndcgOfTurns(turns, { ...cfg, k: 2 })).toBe(0);
  });

  it('a session without references has no ESNDCG', () => {
    expect(esndcgScore(session('purchase', []), cfg)).toBeNaN();
    expect(
      esndcgScore(session('purchase', [user([]), agent('greet', { ranking: ['greet'] })]), cfg),
    ).toBeNaN();
  });

  it('ties in probabilities get the mean gain of the positions they span', () => {
    // recommend (ref, gain 3) tied with clarify (gain 0) at ranks 1-2: each gets gain 1.5
    const v = esndcgFromScores(
      [
        {
          scores: { recommend: 0.4, clarify: 0.4, compare: 0.2 },
          reference: 'recommend',
          acceptable: ['compare'],
        },
      ],
      cfg,
    );
    const dcg = 1.5 + (0.7 * 1.5) / L(3) + (0.49 * 1) / 2;
    expect(v).toBeCloseTo(dcg / (3 + 0.7 / L(3)), 12);
    // without ties it equals the ranking form
    const untied = esndcgFromScores(
      [
        {
          scores: { recommend: 0.5, clarify: 0.3, compare: 0.2 },
          reference: 'recommend',
          acceptable: ['compare'],
        },
      ],
      cfg,
    );
    expect(untied).toBeCloseTo(
      esndcgOfTurns(
        [{ ranking: ['recommend', 'clarify', 'compare'], reference: 'recommend', acceptable: ['compare'] }],
        cfg,
      ),
      12,
    );
  });
});

const STRATS = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
const turnArb = fc.record({
  ranking: fc.uniqueArray(fc.constantFrom(...STRATS), { maxLength: 7 }),
  reference: fc.constantFrom(...STRATS),
  acceptable: fc.uniqueArray(fc.constantFrom(...STRATS), { maxLength: 3 }),
});

describe('ESNDCG properties and the Monte-Carlo estimator', () => {
  it('lies in [0, 1], and is 1 for the ideal ranking', () => {
    fc.assert(
      fc.property(fc.array(turnArb, { minLength: 1, maxLength: 6 }), (turns) => {
        const v = esndcgOfTurns(turns, cfg);
        const ideal = turns.map((t) => ({
          ...t,
          ranking: [t.reference, ...t.acceptable.filter((x) => x !== t.reference)],
        }));
        return v >= 0 && v <= 1 + 1e-12 && Math.abs(esndcgOfTurns(ideal, cfg) - 1) < 1e-12;
      }),
    );
  });

  it('moving the reference up a ranking never lowers it', () => {
    fc.assert(
      fc.property(turnArb, fc.nat(6), (t, pos) => {
        const others = t.ranking.filter((x) => x !== t.reference);
        const at = Math.min(pos, others.length);
        const lower = [...others.slice(0, at), t.reference, ...others.slice(at)];
        const higher = [
          ...others.slice(0, Math.max(0, at - 1)),
          t.reference,
          ...others.slice(Math.max(0, at - 1)),
        ];
        return (
          esndcgOfTurns([{ ...t, ranking: higher }], cfg) >=
          esndcgOfTurns([{ ...t, ranking: lower }], cfg) - 1e-12
        );
      }),
    );
  });

  it('the Monte-Carlo estimate agrees with the closed form within 4 standard errors', () => {
    const s = session('purchase', [
      agent('clarify', {
        ranking: ['clarify', 'recommend', 'compare'],
        reference: 'recommend',
        acceptable: ['compare'],
      }),
      agent('compare', { ranking: ['compare', 'greet', 'close', 'recommend'], reference: 'recommend' }),
      agent('recommend', {
        ranking: ['recommend'],
        reference: 'recommend',
        acceptable: ['compare', 'clarify'],
      }),
    ]);
    const closed = esndcgScore(s, cfg);
    const mc = esndcgMonteCarlo(judgedTurns(s), cfg, Rng.fromSeed(7), 40_000);
    expect(mc.stderr).toBeGreaterThan(0);
    expect(mc.stderr).toBeLessThan(0.01);
    expect(Math.abs(mc.value - closed)).toBeLessThan(4 * mc.stderr);
    // and on random sessions
    fc.assert(
      fc.property(fc.array(turnArb, { minLength: 1, maxLength: 4 }), fc.nat(), (turns, seed) => {
        const est = esndcgMonteCarlo(turns, cfg, Rng.fromSeed(seed), 4000);
        const c = esndcgOfTurns(turns, cfg);
        return Math.abs(est.value - c) <= 5 * est.stderr + 1e-9;
      }),
      { numRuns: 40 },
    );
  });
});
