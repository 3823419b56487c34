/**
 * The rollout engine: plays episodes in lockstep so that every turn makes one batched strategy call
 * and one batched reply call for all live dialogues. Each episode draws its sampling uniforms and
 * reply seeds from its own stream (seeded by the job), so an episode's trajectory does not depend on
 * which episodes share its batch, how many run at once, or which worker runs it.
 */
import { Rng } from '@gopo/core';
import {
  type AgentState,
  type DecisionRecord,
  type DialogueEnv,
  decisionStateText,
  type ReplyPolicy,
  type Session,
  SessionSchema,
  type StrategyPolicy,
} from '@gopo/dialogue';
import { z } from 'zod';

/** One episode to play: which scenario, and where it belongs in the batch. */
export const EpisodeJobSchema = z
  .object({
    id: z.string().min(1).describe('session id of the episode (unique in a batch)'),
    seed: z.number().int().describe('scenario seed: the same seed replays the same customer'),
    scenario: z.string().min(1).describe('scenario id; episodes of one scenario form a group'),
    group: z.number().int().min(0).describe('group index in the batch'),
    sample: z.number().int().min(0).describe('index of this episode within its group'),
    streamSeed: z.number().int().describe("seed of the episode's own sampling stream"),
    greedy: z.boolean().describe('take the most probable strategy instead of sampling'),
  })
  .strict();
export type EpisodeJob = z.infer<typeof EpisodeJobSchema>;

/** A played episode: its log line and its decisions, tagged with the policy version that acted. */
export const EpisodeResultSchema = z.object({
  job: EpisodeJobSchema,
  policyVersion: z.number().int(),
  session: SessionSchema,
  /** `trajectory` is 0 here; assembling a batch renumbers it. */
  decisions: z.array(
    z.object({
      trajectory: z.number().int(),
      turn: z.number().int(),
      state: z.string(),
      mask: z.array(z.boolean()),
      action: z.number().int(),
      behaviorLogProb: z.number().nullable(),
      refLogProb: z.number().nullable(),
      reward: z.number().nullable(),
    }),
  ),
});
export type EpisodeResult = z.infer<typeof EpisodeResultSchema>;

/** The two policies an episode runs with. */
export interface EpisodeRoles {
  readonly strategy: StrategyPolicy;
  readonly reply: ReplyPolicy;
}

export interface RunEpisodesOptions {
  /** Dialogues stepped at once (the batch of every policy call); new episodes start as others end. */
  readonly maxLive?: number;
  /** Called as each episode finishes (progress). */
  readonly onEpisode?: (result: EpisodeResult) => void;
  /** Called on every agent turn with what the agents saw and did (CS phases collect states here). */
  readonly onTurn?: (turn: TurnRecord) => void;
}

/** One agent turn as it was played. */
export interface TurnRecord {
  readonly job: EpisodeJob;
  readonly state: AgentState;
  readonly strategy: string;
  readonly reply: string;
}

interface Live {
  readonly job: EpisodeJob;
  /** The policy version when the episode started (a pipelined trainer may update mid-batch). */
  readonly version: number;
  readonly env: DialogueEnv;
  readonly rng: Rng;
  readonly decisions: DecisionRecord[];
}

/**
 * Plays `jobs` to the end in environments from `makeEnv` and returns the results in job order. All
 * jobs of one call share `greedy`; a log-prob of -Infinity is recorded as null.
 */
export async function runEpisodes(
  jobs: readonly EpisodeJob[],
  roles: EpisodeRoles,
  makeEnv: () => DialogueEnv,
  options: RunEpisodesOptions = {},
): Promise<EpisodeResult[]> {
  if (jobs.length === 0) return [];
  const greedy = jobs[0]!.greedy;
  if (jobs.some((j) => j.greedy !== greedy))
    throw new RangeError('runEpisodes: every job of one call must share `greedy`');
  const maxLive = Math.max(1, options.maxLive ?? 64);
  const strategies = roles.strategy.strategies;
  const results: (EpisodeResult | undefined)[] = new Array(jobs.length);
  const envs: DialogueEnv[] = [];
  const live: (Live & { index: number })[] = [];
  let next = 0;
  const start = () => {
    while (live.length < maxLive && next < jobs.length) {
      const job = jobs[next]!;
      const env = envs.pop() ?? makeEnv();
      if (env.strategies.join(',') !== strategies.join(','))
        throw new RangeError(
          `the strategy policy's set (${strategies.join(', ')}) is not the environment's (${env.strategies.join(', ')})`,
        );
      env.reset(job.seed, { sessionId: job.id });
      live.push({
        job,
        version: roles.strategy.version,
        env,
        rng: Rng.fromSeed(job.streamSeed, 'episode'),
        decisions: [],
        index: next,
      });
      next++;
    }
  };
  start();
  while (live.length > 0) {
    const states: AgentState[] = live.map((l) => l.env.agentState());
    const uniforms = live.map((l) => l.rng.float());
    const privileged = roles.strategy.privileged ? live.map((l) => l.env.privileged()) : undefined;
    const decisions = await roles.strategy.decide(states, {
      greedy,
      uniforms,
      ...(privileged ? { privileged } : {}),
    });
    // Checked before any reply is written: a masked policy's inadmissible move is never executed, not
    // even by the CS Agent. A policy that declares itself unmasked may make one: the environment
    // executes it and decides its cost (sopEnforcement), and the turn logs the violation.
    const masked = roles.strategy.masked !== false;
    decisions.forEach((d, k) => {
      if (d.action < 0 || d.action >= strategies.length || !Number.isInteger(d.action))
        throw new RangeError(`${roles.strategy.name} chose action ${d.action}, outside its strategy set`);
      if (masked && !states[k]!.admissible[d.action])
        throw new RangeError(
          `${roles.strategy.name} chose ${strategies[d.action]}, which the SOP does not admit in state ${states[k]!.sopState}`,
        );
    });
    const replies = await roles.reply.reply(
      live.map((l, k) => ({
        state: states[k]!,
        strategy: strategies[decisions[k]!.action]!,
        seed: l.rng.int(2 ** 31),
      })),
    );
    live.forEach((l, k) => {
      const d = decisions[k]!;
      const state = states[k]!;
      const lp = d.logProbs[d.action]!;
      l.decisions.push({
        trajectory: 0,
        turn: state.turns.length,
        state: decisionStateText(state.sopState, state.facts),
        mask: [...state.admissible],
        action: d.action,
        behaviorLogProb: Number.isFinite(lp) ? lp : null,
        refLogProb: null,
        reward: null,
      });
      options.onTurn?.({ job: l.job, state, strategy: strategies[d.action]!, reply: replies[k]! });
      l.env.step({
        strategy: strategies[d.action]!,
        text: replies[k]!,
        ranking: d.ranking.map((i) => strategies[i]!),
      });
    });
    for (let k = live.length - 1; k >= 0; k--) {
      const l = live[k]!;
      if (!l.env.done) continue;
      const result: EpisodeResult = {
        job: l.job,
        policyVersion: l.version,
        session: l.env.session() as Session,
        decisions: l.decisions,
      };
      results[l.index] = result;
      options.onEpisode?.(result);
      envs.push(l.env);
      live.splice(k, 1);
    }
    start();
  }
  return results as EpisodeResult[];
}
