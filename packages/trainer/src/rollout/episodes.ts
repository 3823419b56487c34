/**
 * The rollout engine: plays episodes in lockstep so that every turn makes one batched strategy call
 * and one batched reply call for all live dialogues. Each episode draws its sampling uniforms and
 * reply seeds from its own stream (seeded by the job), so an episode's trajectory does not depend on
 * which episodes share its batch, how many run at once, or which worker runs it.
 *
 * Two kinds of roles play: the hierarchical pair (a strategy policy picks, the CS Agent writes for
 * that strategy) and a flat agent (FlatRoles: it writes the reply with no strategy command, and the
 * action's strategy is the one a judge reads in the reply).
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
  type StrategyJudge,
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

/** The two policies an episode runs with (the hierarchical roles). */
export interface HierarchicalRoles {
  readonly kind?: 'hierarchical';
  readonly strategy: StrategyPolicy;
  readonly reply: ReplyPolicy;
}

/**
 * A flat agent with no strategy layer (the flat PPO baseline): `reply` writes every reply from the
 * state alone (its requests carry NO_STRATEGY_COMMAND), `detect` reads the strategy each reply
 * performs, and that detected strategy is the action the environment executes and logs, so SOP
 * compliance is measured on what the reply does. A reply in which `detect` reads no move is logged
 * as `fallbackStrategy` when the SOP admits it there, else as the first admissible strategy: a reply
 * that performs no recognisable move breaks no SOP rule (the CS phases' compliance rule too).
 */
export interface FlatRoles {
  readonly kind: 'flat';
  readonly reply: ReplyPolicy;
  readonly detect: StrategyJudge;
  /** The environment's strategy set. */
  readonly strategies: readonly string[];
  readonly fallbackStrategy: string;
  /** Version of the weights behind the replies (tags rollouts). */
  readonly version: number;
}

export type EpisodeRoles = HierarchicalRoles | FlatRoles;

/** The strategy field of a flat agent's reply requests: there is no command to follow. */
export const NO_STRATEGY_COMMAND = '';

/** The strategy a flat agent's reply is logged with (FlatRoles). */
export function flatActionStrategy(
  detected: string | null,
  state: AgentState,
  strategies: readonly string[],
  fallback: string,
): string {
  if (detected !== null && strategies.includes(detected)) return detected;
  const f = strategies.indexOf(fallback);
  if (f >= 0 && state.admissible[f]) return fallback;
  const first = state.admissible.indexOf(true);
  return strategies[first >= 0 ? first : Math.max(f, 0)]!;
}

/** One turn's moves for every live dialogue: strategy indices, rankings, log-probs and replies. */
interface TurnMoves {
  readonly actions: number[];
  readonly rankings: (readonly string[] | undefined)[];
  readonly logProbs: (number | null)[];
  readonly replies: string[];
  /** Flat roles: what the judge read in each reply (null: no move). */
  readonly detected?: (string | null)[];
}

async function hierarchicalMoves(
  roles: HierarchicalRoles,
  live: readonly Live[],
  states: readonly AgentState[],
  greedy: boolean,
): Promise<TurnMoves> {
  const strategies = roles.strategy.strategies;
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
  return {
    actions: decisions.map((d) => d.action),
    rankings: decisions.map((d) => d.ranking.map((i) => strategies[i]!)),
    logProbs: decisions.map((d) => {
      const lp = d.logProbs[d.action]!;
      return Number.isFinite(lp) ? lp : null;
    }),
    replies,
  };
}

async function flatMoves(
  roles: FlatRoles,
  live: readonly Live[],
  states: readonly AgentState[],
): Promise<TurnMoves> {
  // The uniform a strategy policy would draw is drawn and unused, so a flat episode's reply seeds come
  // from the same stream positions as a hierarchical one's.
  for (const l of live) l.rng.float();
  const replies = await roles.reply.reply(
    live.map((l, k) => ({ state: states[k]!, strategy: NO_STRATEGY_COMMAND, seed: l.rng.int(2 ** 31) })),
  );
  const detected = await roles.detect.judge(replies);
  const actions = states.map((s, k) =>
    roles.strategies.indexOf(
      flatActionStrategy(detected[k] ?? null, s, roles.strategies, roles.fallbackStrategy),
    ),
  );
  return {
    actions,
    rankings: states.map(() => undefined),
    logProbs: states.map(() => null),
    replies,
    detected,
  };
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
  /** Flat roles only: the strategy the judge read in the reply (null: none; `strategy` is then the fallback). */
  readonly detected?: string | null;
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
  const strategies = roles.kind === 'flat' ? roles.strategies : roles.strategy.strategies;
  const version = () => (roles.kind === 'flat' ? roles.version : roles.strategy.version);
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
        version: version(),
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
    const moves =
      roles.kind === 'flat'
        ? await flatMoves(roles, live, states)
        : await hierarchicalMoves(roles, live, states, greedy);
    live.forEach((l, k) => {
      const action = moves.actions[k]!;
      const state = states[k]!;
      const ranking = moves.rankings[k];
      l.decisions.push({
        trajectory: 0,
        turn: state.turns.length,
        state: decisionStateText(state.sopState, state.facts),
        mask: [...state.admissible],
        action,
        behaviorLogProb: moves.logProbs[k]!,
        refLogProb: null,
        reward: null,
      });
      options.onTurn?.({
        job: l.job,
        state,
        strategy: strategies[action]!,
        reply: moves.replies[k]!,
        ...(moves.detected ? { detected: moves.detected[k] ?? null } : {}),
      });
      l.env.step({
        strategy: strategies[action]!,
        text: moves.replies[k]!,
        ...(ranking ? { ranking } : {}),
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
