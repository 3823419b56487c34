import {
  type AgentState,
  type ScoredSession,
  type SessionRewardFn,
  SHOP_STRATEGIES,
  type StrategyPolicy,
  shopSopDefault,
} from '@gopo/dialogue';
import {
  generateWorld,
  historyStrategyPolicy,
  ShopEnv,
  templateReplyPolicy,
  uniformStrategyPolicy,
} from '@gopo/envs';
import { loadDefaultTokenizer, type Tokenizer } from '@gopo/lm';
import { MetricsConfigSchema } from '@gopo/rewards';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { sequenceRewardFn } from '../../rewards.js';
import type { EpisodeJob } from '../../rollout/episodes.js';
import { InProcessPool } from '../../rollout/worker-pool.js';
import { CaseBank, type MementoCase } from './case-bank.js';
import { agentCaseState } from './case-state.js';
import { MementoPolicy } from './memento-policy.js';
import { StateEmbedder } from './state-embedding.js';

const S = SHOP_STRATEGIES.length;
let tokenizer: Tokenizer;
beforeAll(async () => {
  tokenizer = await loadDefaultTokenizer();
});

/** A reward that is never called (banks built by hand). */
const noReward: SessionRewardFn = {
  name: 'none',
  async score(): Promise<ScoredSession[]> {
    throw new Error('not used');
  },
};

const SOP_STATES = ['opening', 'need_known', 'item_chosen', 'order_located'];
const FACTS = [
  'customer: need not stated',
  'customer: purchase; headphones',
  'customer: return refund; order o-0001',
];

function agentState(sop: number, fact: number, admissible: readonly boolean[]): AgentState {
  return {
    sessionId: 's',
    domain: 'shop',
    turns: [],
    sopState: SOP_STATES[sop]!,
    admissible,
    facts: [FACTS[fact]!],
  };
}

/** A strategy policy that always takes the first admissible strategy. */
const firstAdmissible: StrategyPolicy = {
  name: 'first',
  strategies: SHOP_STRATEGIES,
  version: 0,
  async decide(states) {
    return states.map((s) => {
      const action = s.admissible.indexOf(true);
      return {
        action,
        logProbs: s.admissible.map((_, a) => (a === action ? 0 : Number.NEGATIVE_INFINITY)),
        ranking: s.admissible.flatMap((ok, a) => (ok ? [a] : [])),
      };
    });
  },
};

const maskArb = fc.array(fc.boolean(), { minLength: S, maxLength: S }).filter((m) => m.some(Boolean));

const caseArb = fc
  .record({
    sop: fc.integer({ min: 0, max: SOP_STATES.length - 1 }),
    fact: fc.integer({ min: 0, max: FACTS.length - 1 }),
    mask: maskArb,
    pick: fc.nat(),
    episode: fc.integer({ min: 0, max: 9 }),
    scenario: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ sop, fact, mask, pick, episode, scenario }) => {
    const admissible = mask.flatMap((ok, a) => (ok ? [a] : []));
    return { sop, fact, mask, strategy: admissible[pick % admissible.length]!, episode, scenario };
  });

describe('MementoPolicy', () => {
  it('never picks a strategy the SOP does not admit (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(caseArb, { maxLength: 30 }),
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 10, maxLength: 10 }),
        fc.array(
          fc.record({
            sop: fc.integer({ min: 0, max: SOP_STATES.length - 1 }),
            fact: fc.integer({ min: 0, max: FACTS.length - 1 }),
            mask: maskArb,
            u: fc.double({ min: 0, max: 0.999999, noNaN: true }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.boolean(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        fc.constantFrom('prior' as const, 'override' as const),
        async (cases, rewards, queries, greedy, minEvidence, uniformBase, decision) => {
          const bank = new CaseBank(SHOP_STRATEGIES, new StateEmbedder(tokenizer));
          const filed: MementoCase[] = cases.map((c, i) => ({
            // an episode's scenario is that of its first case
            episode: `e${c.episode}`,
            scenario: `sc${cases.find((x) => x.episode === c.episode)!.scenario}`,
            turn: i,
            state: agentCaseState(agentState(c.sop, c.fact, c.mask)),
            mask: c.mask,
            strategy: SHOP_STRATEGIES[c.strategy]!,
            reward: rewards[c.episode]!,
            status: 'success',
          }));
          bank.add(filed);
          const policy = await MementoPolicy.create({
            base: uniformBase ? uniformStrategyPolicy : firstAdmissible,
            reward: noReward,
            bank,
            config: { minEvidence, minSimilarity: 0, decision },
          });
          const states = queries.map((q) => agentState(q.sop, q.fact, q.mask));
          const decisions = await policy.decide(states, { greedy, uniforms: queries.map((q) => q.u) });
          decisions.forEach((d, k) => {
            const mask = states[k]!.admissible;
            expect(mask[d.action]).toBe(true);
            d.logProbs.forEach((lp, a) => {
              if (!mask[a]) expect(lp).toBe(Number.NEGATIVE_INFINITY);
            });
            expect(d.logProbs.reduce((s, lp) => s + Math.exp(lp), 0)).toBeCloseTo(1, 9);
            expect(d.ranking.every((a) => mask[a])).toBe(true);
            expect([...d.ranking].sort((a, b) => a - b)).toEqual(mask.flatMap((ok, a) => (ok ? [a] : [])));
          });
          expect(policy.stats.memory + policy.stats.fallback).toBe(states.length);
        },
      ),
      { numRuns: 60, seed: 20 },
    );
  });

  it('takes the strategy the evidence supports, and steers the base policy off one it judges bad', async () => {
    const all = Array<boolean>(S).fill(true);
    const good = SHOP_STRATEGIES.indexOf('recommend');
    const bad = 0; // firstAdmissible's choice
    const state = agentState(1, 1, all);
    const text = agentCaseState(state);
    const make = (strategy: number, reward: number, episode: string): MementoCase => ({
      episode,
      scenario: 'sc',
      turn: 1,
      state: text,
      mask: all,
      strategy: SHOP_STRATEGIES[strategy]!,
      reward,
      status: 'success',
    });
    const bank = new CaseBank(SHOP_STRATEGIES, new StateEmbedder(tokenizer));
    bank.add([make(good, 1, 'a'), make(bad, 0, 'b')]);
    const policy = await MementoPolicy.create({
      base: firstAdmissible,
      reward: noReward,
      bank,
      config: { decision: 'override' },
    });
    const [d] = await policy.decide([state], { greedy: true, uniforms: [0.5] });
    expect(d!.action).toBe(good);
    expect(policy.stats).toEqual({ memory: 1, fallback: 0, steered: 0 });

    // Only a bad case near the state (a good one elsewhere sets the baseline, 0.5): memory has nothing
    // to recommend, the base policy decides, and is moved off the strategy the evidence judged bad.
    const far = agentState(3, 2, all);
    const badOnly = new CaseBank(SHOP_STRATEGIES, new StateEmbedder(tokenizer));
    badOnly.add([
      { ...make(bad, 0, 'b'), scenario: 's0' },
      { ...make(good, 1, 'g'), scenario: 's1', state: agentCaseState(far) },
    ]);
    expect(badOnly.positive(0)).toBe(false);
    const steered = await MementoPolicy.create({
      base: firstAdmissible,
      reward: noReward,
      bank: badOnly,
      config: { decision: 'override' },
    });
    const lonely = agentState(0, 0, all); // like neither case: the base policy's choice stands
    const [near, farAway, alone] = await steered.decide([state, far, lonely], {
      greedy: true,
      uniforms: [0.5, 0.5, 0.5],
    });
    expect(near!.action).toBe(1); // the first of the base ranking that is not judged bad
    expect(near!.ranking.at(-1)).toBe(bad);
    expect(farAway!.action).toBe(good);
    expect(alone!.action).toBe(bad);
    expect(steered.stats).toEqual({ memory: 1, fallback: 2, steered: 1 });
  });

  it('prior: reweights the base distribution by confidence-weighted evidence (hand-computed)', async () => {
    const all = Array<boolean>(S).fill(true);
    const state = agentState(1, 1, all);
    const text = agentCaseState(state);
    const good = SHOP_STRATEGIES.indexOf('recommend');
    // Base: uniform over the S strategies. One positive case of `good` (score 1 before any scorer
    // fit) and one of strategy 0 in a losing episode (score 0); the episodes share a scenario, so
    // the scenario mean is 0.5 and exactly the first is positive.
    const bank = new CaseBank(SHOP_STRATEGIES, new StateEmbedder(tokenizer));
    const make = (strategy: number, reward: number, episode: string): MementoCase => ({
      episode,
      scenario: 'sc',
      turn: 1,
      state: text,
      mask: all,
      strategy: SHOP_STRATEGIES[strategy]!,
      reward,
      status: 'success',
    });
    bank.add([make(good, 1, 'a'), make(0, 0, 'b')]);
    const uniformBase: StrategyPolicy = {
      name: 'uniform-base',
      strategies: SHOP_STRATEGIES,
      version: 0,
      async decide(states) {
        return states.map(() => ({
          action: 0,
          logProbs: Array<number>(S).fill(-Math.log(S)),
          ranking: Array.from({ length: S }, (_, a) => a),
        }));
      },
    };
    const policy = await MementoPolicy.create({
      base: uniformBase,
      reward: noReward,
      bank,
      config: { decision: 'prior', memoryWeight: 4, priorCount: 4 },
    });
    const [d] = await policy.decide([state], { greedy: true, uniforms: [0.5] });
    // bonus(good) = 4 * (1 - 0.5) * 1/(1+4) = 0.4; bonus(0) = -0.4; others 0.
    const z = Math.exp(0.4) + Math.exp(-0.4) + (S - 2);
    expect(Math.exp(d!.logProbs[good]!)).toBeCloseTo(Math.exp(0.4) / z, 12);
    expect(Math.exp(d!.logProbs[0]!)).toBeCloseTo(Math.exp(-0.4) / z, 12);
    expect(Math.exp(d!.logProbs[1]!)).toBeCloseTo(1 / z, 12);
    expect(d!.action).toBe(good);
    expect(d!.ranking[0]).toBe(good);
    expect(d!.ranking.at(-1)).toBe(0);
    expect(policy.stats).toEqual({ memory: 1, fallback: 0, steered: 1 });
  });

  it('plays shop episodes through the InProcessPool; the bank grows by one case per decision', async () => {
    const world = generateWorld({ items: 120, users: 30 });
    const sop = shopSopDefault();
    const makeEnv = () => new ShopEnv({ maxTurns: 8 }, { world, sop });
    const policy = await MementoPolicy.create({
      base: historyStrategyPolicy,
      reward: sequenceRewardFn(MetricsConfigSchema.parse({})),
      tokenizer,
      config: {
        refitEvery: 24,
        minCasesToFit: 24,
        scorer: { stepsPerFit: 10, queriesPerFit: 32, batchSize: 16 },
      },
    });
    const jobs = (from: number, n: number): EpisodeJob[] =>
      Array.from({ length: n }, (_, i) => ({
        id: `ep-${from + i}`,
        seed: 500 + ((from + i) % 3),
        scenario: `sc-${(from + i) % 3}`,
        group: (from + i) % 3,
        sample: Math.floor((from + i) / 3),
        streamSeed: 31 * (from + i) + 7,
        greedy: false,
      }));
    const pool = new InProcessPool({ strategy: policy, reply: templateReplyPolicy }, makeEnv, 2);
    const seen: string[] = [];
    const first = await pool.run(jobs(0, 6), {
      onEpisode: policy.recorder,
      onTurn: (t) => seen.push(agentCaseState(t.state)),
    });
    const decisions = first.reduce((s, r) => s + r.decisions.length, 0);
    // episodes that ended early were filed while the others still played
    expect(policy.bank.size).toBeGreaterThan(0);
    expect(policy.bank.size).toBeLessThan(decisions);
    await policy.flush();
    expect(policy.bank.size).toBe(decisions);
    expect(policy.bank.episodeCount).toBe(6);
    // a filed case holds the state text the policy retrieved with when it decided
    const filed = Array.from({ length: decisions }, (_, i) => policy.bank.case(i).state);
    expect(filed.sort()).toEqual(seen.sort());
    expect(policy.bank.case(0).episode).toMatch(/^ep-/);

    const second = await pool.run(jobs(6, 6), { onEpisode: policy.recorder });
    await policy.flush();
    const total = decisions + second.reduce((s, r) => s + r.decisions.length, 0);
    expect(policy.bank.size).toBe(total);
    expect(policy.stats.memory + policy.stats.fallback).toBe(total);
    expect(policy.stats.memory).toBeGreaterThan(0);
    expect(policy.scorer.fits).toBeGreaterThan(0);
    expect(policy.version).toBe(policy.scorer.fits);
    for (const r of [...first, ...second]) for (const d of r.decisions) expect(d.mask[d.action]).toBe(true);
  });
});
