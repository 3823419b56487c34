import {
  type DecideOptions,
  type ReplyPolicy,
  RolloutBatchSchema,
  type StrategyPolicy,
  shopSopDefault,
} from '@gopo/dialogue';
import {
  generateWorld,
  historyStrategyPolicy,
  oracleStrategyPolicy,
  ShopEnv,
  templateReplyPolicy,
  uniformStrategyPolicy,
} from '@gopo/envs';
import { describe, expect, it } from 'vitest';
import { assembleBatch } from './batch.js';
import { type EpisodeJob, EpisodeResultSchema, runEpisodes } from './episodes.js';
import { InProcessPool } from './worker-pool.js';

const world = generateWorld({ items: 120, users: 30 });
const sop = shopSopDefault();
const makeEnv = () => new ShopEnv({ maxTurns: 8 }, { world, sop });

/** `scenarios` scenarios of `group` samples each, every job with its own stream. */
function jobs(scenarios: number, group: number, greedy = false): EpisodeJob[] {
  return Array.from({ length: scenarios * group }, (_, i) => ({
    id: `job-${i}`,
    seed: 100 + Math.floor(i / group),
    scenario: `sc-${Math.floor(i / group)}`,
    group: Math.floor(i / group),
    sample: i % group,
    streamSeed: 7919 * i + 13,
    greedy,
  }));
}

/** A policy that records what it is handed and bumps its version on every call. */
function spy(inner: StrategyPolicy, options: { privileged?: boolean; versioned?: boolean } = {}) {
  const calls: { states: number; options: DecideOptions }[] = [];
  const policy: StrategyPolicy & { version: number } = {
    name: `spy-${inner.name}`,
    strategies: inner.strategies,
    version: 0,
    ...(options.privileged ? { privileged: true } : {}),
    async decide(states, o) {
      calls.push({ states: states.length, options: o });
      const out = await inner.decide(states, o);
      if (options.versioned) policy.version++;
      return out;
    },
  };
  return { policy, calls };
}

describe('runEpisodes', () => {
  it.each([
    ['uniform', uniformStrategyPolicy],
    ['history', historyStrategyPolicy],
  ])(
    "%s: an episode's trajectory does not depend on maxLive, job order or the other jobs",
    async (_, strategy) => {
      const all = jobs(4, 3);
      const roles = { strategy, reply: templateReplyPolicy };
      const ref = await runEpisodes(all, roles, makeEnv, { maxLive: 64 });
      // the samples of a scenario differ (else the streams would not matter)
      expect(
        new Set(ref.slice(0, 3).map((r) => JSON.stringify(r.decisions.map((d) => d.action)))).size,
      ).toBeGreaterThan(1);
      for (const maxLive of [1, 3]) expect(await runEpisodes(all, roles, makeEnv, { maxLive })).toEqual(ref);
      const reversed = await runEpisodes(all.slice().reverse(), roles, makeEnv, { maxLive: 5 });
      expect(reversed.reverse()).toEqual(ref);
      const odd = all.filter((_, i) => i % 2 === 1);
      expect(await runEpisodes(odd, roles, makeEnv, { maxLive: 2 })).toEqual(
        ref.filter((_, i) => i % 2 === 1),
      );
    },
  );

  it('hands the privileged channel only to policies that declare it', async () => {
    const plain = spy(uniformStrategyPolicy);
    await runEpisodes(jobs(3, 2), { strategy: plain.policy, reply: templateReplyPolicy }, makeEnv, {
      maxLive: 4,
    });
    expect(plain.calls.length).toBeGreaterThan(3);
    for (const c of plain.calls) {
      expect(c.options.privileged).toBeUndefined();
      expect(Object.keys(c.options).sort()).toEqual(['greedy', 'uniforms']);
    }
    // A policy that forgets to declare it cannot act as the oracle.
    const undeclared = spy(oracleStrategyPolicy);
    await expect(
      runEpisodes(jobs(1, 1), { strategy: undeclared.policy, reply: templateReplyPolicy }, makeEnv),
    ).rejects.toThrow(/privileged channel/);

    const oracle = spy(oracleStrategyPolicy, { privileged: true });
    const results = await runEpisodes(
      jobs(3, 2, true),
      { strategy: oracle.policy, reply: templateReplyPolicy },
      makeEnv,
      {
        maxLive: 4,
      },
    );
    for (const c of oracle.calls) expect(c.options.privileged).toHaveLength(c.states);
    // the oracle acts on what it reads: its actions are the logged references
    for (const r of results)
      for (const d of r.decisions) {
        const turn = r.session.turns[d.turn]!;
        expect(turn.role === 'agent' && turn.reference?.strategy).toBe(sop.strategies[d.action]);
      }
  });

  it('tags each result with the policy version at the start of its episode', async () => {
    const all = jobs(2, 2);
    const sequential = spy(uniformStrategyPolicy, { versioned: true });
    const results = await runEpisodes(
      all,
      { strategy: sequential.policy, reply: templateReplyPolicy },
      makeEnv,
      {
        maxLive: 1,
      },
    );
    let calls = 0;
    for (const r of results) {
      expect(r.policyVersion).toBe(calls);
      calls += r.decisions.length;
    }
    expect(sequential.policy.version).toBe(calls);
    const together = spy(uniformStrategyPolicy, { versioned: true });
    const batched = await runEpisodes(
      all,
      { strategy: together.policy, reply: templateReplyPolicy },
      makeEnv,
    );
    expect(batched.map((r) => r.policyVersion)).toEqual([0, 0, 0, 0]);
    expect(together.policy.version).toBeGreaterThan(0);
  });

  it('an inadmissible action is an error naming the policy, the strategy and the SOP state, before any reply', async () => {
    const rogue: StrategyPolicy = {
      name: 'rogue',
      strategies: sop.strategies,
      version: 0,
      async decide(states) {
        return states.map((s) => {
          const action = s.admissible.indexOf(false);
          return { action, logProbs: s.admissible.map(() => 0), ranking: [action] };
        });
      },
    };
    const env = makeEnv();
    env.reset(100);
    const { sopState, admissible } = env.agentState();
    const name = sop.strategies[admissible.indexOf(false)]!;
    const replies: string[] = [];
    const reply: ReplyPolicy = {
      name: 'spy',
      async reply(requests) {
        replies.push(...requests.map((r) => r.strategy));
        return templateReplyPolicy.reply(requests);
      },
    };
    await expect(runEpisodes(jobs(1, 1), { strategy: rogue, reply }, makeEnv)).rejects.toThrow(
      `rogue chose ${name}, which the SOP does not admit in state ${sopState}`,
    );
    expect(replies).toEqual([]);
  });

  it.each(['block', 'penalize'] as const)(
    'an unmasked policy (masked: false) may choose an inadmissible strategy: it is played and the session logs the violation (sopEnforcement %s)',
    async (sopEnforcement) => {
      // The first inadmissible strategy on the first turn, then whatever the history policy does.
      let first = true;
      const unmasked: StrategyPolicy = {
        name: 'unmasked',
        strategies: sop.strategies,
        version: 0,
        masked: false,
        async decide(states, options) {
          const base = await historyStrategyPolicy.decide(states, options);
          if (!first) return base;
          first = false;
          return states.map((s) => {
            const action = s.admissible.indexOf(false);
            return {
              action,
              logProbs: s.admissible.map(() => -Math.log(s.admissible.length)),
              ranking: [action],
            };
          });
        },
      };
      const makeEnvWith = () => new ShopEnv({ maxTurns: 8, sopEnforcement }, { world, sop });
      const env = makeEnvWith();
      env.reset(100);
      const { admissible } = env.agentState();
      const [r] = await runEpisodes(
        jobs(1, 1),
        { strategy: unmasked, reply: templateReplyPolicy },
        makeEnvWith,
      );
      const turn = r!.session.turns.find((t) => t.role === 'agent')!;
      expect(turn.role === 'agent' && turn.strategy).toBe(sop.strategies[admissible.indexOf(false)]);
      expect(turn.role === 'agent' && turn.sop_violation).toBe(true);
      expect(r!.session.outcome.sop_violations).toBeGreaterThanOrEqual(1);
      // The decision keeps the SOP's admissibility (its action outside it) and a finite behaviour log-prob.
      expect(r!.decisions[0]!.mask[r!.decisions[0]!.action]).toBe(false);
      expect(r!.decisions[0]!.behaviorLogProb).toBeCloseTo(-Math.log(admissible.length), 12);
      // The batch schema accepts it (the turn logs the violation) and refuses the same action unlogged.
      const batch = assembleBatch([r!], sop.strategies);
      RolloutBatchSchema.parse(batch);
      const unlogged = structuredClone(batch);
      const t = unlogged.trajectories[0]!.session.turns[unlogged.decisions[0]!.turn]!;
      if (t.role === 'agent') t.sop_violation = false;
      expect(() => RolloutBatchSchema.parse(unlogged)).toThrow(/logs no SOP violation/);
    },
  );

  it('results and their assembled batch pass the schemas; groups and trajectories line up', async () => {
    const all = jobs(3, 2);
    const results = await runEpisodes(
      all,
      { strategy: historyStrategyPolicy, reply: templateReplyPolicy },
      makeEnv,
    );
    for (const r of results) EpisodeResultSchema.parse(r);
    const scores = results.map((_, i) => ({ total: i / 10, parts: { tse: i / 20 } }));
    const batch = RolloutBatchSchema.parse(assembleBatch(results, sop.strategies, scores));
    expect(batch.trajectories.map((t) => t.group)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(batch.trajectories[3]!.reward).toBe(0.3);
    expect(batch.decisions).toHaveLength(results.reduce((n, r) => n + r.decisions.length, 0));
    for (const d of batch.decisions) {
      const turn = batch.trajectories[d.trajectory]!.session.turns[d.turn]!;
      expect(turn.role === 'agent' && turn.strategy).toBe(sop.strategies[d.action]);
    }
    // unscored, every reward is null and still valid
    RolloutBatchSchema.parse(assembleBatch(results, sop.strategies));
  });
});

describe('InProcessPool', () => {
  it('plays greedy and sampled jobs of one call in their own batches and returns them in job order', async () => {
    const all = jobs(3, 2).map((j, i) => ({ ...j, greedy: i % 3 === 0 }));
    const roles = { strategy: historyStrategyPolicy, reply: templateReplyPolicy };
    const results = await new InProcessPool(roles, makeEnv, 2).run(all);
    expect(results.map((r) => r.job)).toEqual(all);
    for (const greedy of [true, false]) {
      const part = all.filter((j) => j.greedy === greedy);
      expect(results.filter((r) => r.job.greedy === greedy)).toEqual(await runEpisodes(part, roles, makeEnv));
    }
  });
});
