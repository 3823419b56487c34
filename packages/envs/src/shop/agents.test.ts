import { Rng, UsageError } from '@gopo/core';
import { type AgentState, type StrategyDecision, type StrategyPolicy, shopSopDefault } from '@gopo/dialogue';
import { describe, expect, it } from 'vitest';
import {
  cautiousStrategyPolicy,
  HISTORY_MIX,
  hastyStrategyPolicy,
  historyStrategyPolicy,
  oracleStrategyPolicy,
  shopStrategyPolicies,
  templateReplyPolicy,
  templateStrategyPolicy,
  uniformStrategyPolicy,
} from './agents.js';
import { ShopEnv } from './env.js';
import { understand } from './nlu.js';

const env = new ShopEnv({ world: { items: 120, users: 30 }, maxTurns: 10 });
const sop = shopSopDefault();

/**
 * Plays `sessions` sessions with `policy` (its own uniforms, the privileged channel when it declares
 * it) and the template replies, calling `check` on every decision before it is played.
 */
async function play(
  policy: StrategyPolicy,
  sessions: number,
  check: (state: AgentState, d: StrategyDecision) => void,
): Promise<number> {
  const rng = Rng.fromSeed(3, policy.name);
  let turns = 0;
  for (let s = 0; s < sessions; s++) {
    env.reset(200 + s, { sessionId: `${policy.name}-${s}` });
    while (!env.done) {
      const state = env.agentState();
      const [d] = await policy.decide([state], {
        greedy: false,
        uniforms: [rng.float()],
        ...(policy.privileged ? { privileged: [env.privileged()] } : {}),
      });
      check(state, d!);
      const strategy = sop.strategies[d!.action]!;
      const [text] = await templateReplyPolicy.reply([{ state, strategy, seed: rng.int(1e9) }]);
      env.step({ strategy, text: text!, ranking: d!.ranking.map((i) => sop.strategies[i]!) });
      turns++;
    }
    expect(env.session().outcome.sop_violations).toBe(0);
  }
  return turns;
}

describe('scripted shop strategy policies', () => {
  it.each(shopStrategyPolicies.names())(
    '%s only chooses admissible strategies, with a valid distribution and ranking',
    async (name) => {
      const policy = shopStrategyPolicies.get(name);
      expect(policy.strategies).toEqual(sop.strategies);
      const turns = await play(policy, 30, (state, d) => {
        const admissible = state.admissible.flatMap((ok, i) => (ok ? [i] : []));
        expect(
          state.admissible[d.action],
          `${name} chose ${sop.strategies[d.action]} in ${state.sopState}`,
        ).toBe(true);
        expect([...d.ranking].sort((x, y) => x - y)).toEqual(admissible);
        // most probable first; a point decision puts its action first
        for (let r = 1; r < d.ranking.length; r++)
          expect(d.logProbs[d.ranking[r - 1]!]!).toBeGreaterThanOrEqual(d.logProbs[d.ranking[r]!]!);
        if (d.logProbs[d.action] === 0) expect(d.ranking[0]).toBe(d.action);
        d.logProbs.forEach((lp, i) => {
          if (!state.admissible[i]) expect(lp).toBe(Number.NEGATIVE_INFINITY);
        });
        expect(admissible.reduce((p, i) => p + Math.exp(d.logProbs[i]!), 0)).toBeCloseTo(1, 10);
      });
      expect(turns).toBeGreaterThan(60);
    },
  );

  it('only the oracle reads the privileged channel, and it cannot act without it', async () => {
    expect(oracleStrategyPolicy.privileged).toBe(true);
    for (const name of shopStrategyPolicies.names())
      if (name !== 'oracle') expect(shopStrategyPolicies.get(name).privileged, name).toBeFalsy();
    env.reset(1);
    const state = env.agentState();
    await expect(oracleStrategyPolicy.decide([state], { greedy: true, uniforms: [0] })).rejects.toThrow(
      UsageError,
    );
    const [d] = await oracleStrategyPolicy.decide([state], {
      greedy: true,
      uniforms: [0],
      privileged: [env.privileged()],
    });
    expect(sop.strategies[d!.action]).toBe(env.privileged().reference.strategy);
  });

  it('scripted agents refuse a state without the shop view (a logged session) with a clear error', async () => {
    env.reset(2);
    const { view: _, ...logged } = env.agentState();
    await expect(templateStrategyPolicy.decide([logged], { greedy: true, uniforms: [0] })).rejects.toThrow(
      /agent view/,
    );
  });
});

describe('historyStrategyPolicy', () => {
  const pick = async (p: StrategyPolicy, state: AgentState, u: number) =>
    (await p.decide([state], { greedy: false, uniforms: [u] }))[0]!.action;

  /**
   * A state of a simulated session where the archetypes (the uniform one drawing at `u`) take at
   * least three different actions, and the action each archetype takes there.
   */
  async function distinctiveState(): Promise<{ state: AgentState; u: number; by: Record<string, number> }> {
    for (let s = 0; s < 60; s++) {
      env.reset(400 + s);
      while (!env.done) {
        const state = env.agentState();
        const scripted = {
          cautious: await pick(cautiousStrategyPolicy, state, 0.5),
          hasty: await pick(hastyStrategyPolicy, state, 0.5),
          template: await pick(templateStrategyPolicy, state, 0.5),
        };
        for (const u of [0.15, 0.35, 0.55, 0.75, 0.95]) {
          const by = { ...scripted, uniform: await pick(uniformStrategyPolicy, state, u) };
          if (new Set(Object.values(by)).size >= 3) return { state, u, by };
        }
        const strategy = sop.strategies[scripted.cautious]!;
        const [text] = await templateReplyPolicy.reply([{ state, strategy, seed: s }]);
        env.step({ strategy, text: text! });
      }
    }
    throw new Error('no state separates the archetypes');
  }

  it('follows the HISTORY_MIX shares over many sessions, and slips to a uniform move on low draws', async () => {
    const { state, u, by } = await distinctiveState();
    const n = 800; // the warm start's default number of history sessions
    // session ids as the warm start names its history sessions
    const states = Array.from({ length: n }, (_, i) => ({
      ...state,
      sessionId: `history-${String(i).padStart(5, '0')}`,
    }));
    const frequencies = async (uniform: number) => {
      const decisions = await historyStrategyPolicy.decide(states, {
        greedy: false,
        uniforms: states.map(() => uniform),
      });
      const counts = new Map<number, number>();
      for (const d of decisions) counts.set(d.action, (counts.get(d.action) ?? 0) + 1 / n);
      return counts;
    };
    // each action is taken by the archetypes that take it, in their shares
    const expected = new Map<number, number>();
    for (const [archetype, share] of HISTORY_MIX)
      expected.set(by[archetype]!, (expected.get(by[archetype]!) ?? 0) + share);
    const got = await frequencies(u);
    expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
    // within four binomial standard deviations
    for (const [action, share] of expected)
      expect(Math.abs(got.get(action)! - share), sop.strategies[action]).toBeLessThan(
        4 * Math.sqrt((share * (1 - share)) / n),
      );
    // a draw under 0.1 is a slip: the scripted archetypes play the uniform move at u * 10 instead
    const slip = 0.07;
    const slipped = await frequencies(slip);
    const mostly = await pick(uniformStrategyPolicy, state, slip * 10);
    const other = await pick(uniformStrategyPolicy, state, slip);
    if (mostly === other) expect(slipped.get(mostly)).toBeCloseTo(1, 10);
    else expect(Math.abs(slipped.get(mostly)! - 0.9)).toBeLessThan(4 * Math.sqrt(0.09 / n));
  });
});

describe('templateReplyPolicy', () => {
  it('writes replies that the NLU reads as the commanded strategy, the same for the same seed', async () => {
    const misses: string[] = [];
    let checked = 0;
    const rng = Rng.fromSeed(4, 'reply');
    for (let s = 0; s < 15; s++) {
      env.reset(600 + s);
      while (!env.done) {
        const state = env.agentState();
        const requests = sop.strategies.map((strategy, k) => ({ state, strategy, seed: s * 100 + k }));
        const replies = await templateReplyPolicy.reply(requests);
        expect(await templateReplyPolicy.reply(requests)).toEqual(replies);
        replies.forEach((text, k) => {
          checked++;
          if (understand(text).strategy !== sop.strategies[k]) misses.push(`${sop.strategies[k]}: ${text}`);
        });
        const action = state.admissible.indexOf(true, rng.int(state.admissible.length));
        const strategy = sop.strategies[action === -1 ? state.admissible.indexOf(true) : action]!;
        env.step({ strategy, text: replies[sop.strategies.indexOf(strategy)]! });
      }
    }
    expect(checked).toBeGreaterThan(500);
    expect(misses).toEqual([]);
  });
});
