/**
 * The one batch type every trainer phase passes along (rollout -> scoring -> reference -> update ->
 * report), after verl's DataProto: per strategy decision what the policy saw and did, per trajectory
 * the session log line and its reward. It is plain JSON-able data, so a rollout worker on another
 * machine can send it as it is.
 */
import { z } from 'zod';
import { SessionSchema } from './log-schema.js';
import type { Sop } from './sop.js';
import { StrategyNameSchema } from './strategies.js';

/** Log-probs that are not known (a logged decision has no behaviour log-prob) are null in JSON. */
const LogProbSchema = z.number().max(0).nullable();

export const DecisionRecordSchema = z.object({
  trajectory: z.number().int().min(0).describe('index of the trajectory in the batch'),
  turn: z.number().int().min(0).describe("index in the session's turns of the agent turn it produced"),
  state: z
    .string()
    .describe('the decision state as the Expert Agent reads it (decisionStateText: SOP state and facts)'),
  mask: z.array(z.boolean()).describe('SOP admissibility over the strategy set'),
  action: z.number().int().min(0).describe('index of the chosen strategy'),
  behaviorLogProb: LogProbSchema.describe('log pi_behaviour(action | state) when it was sampled'),
  refLogProb: LogProbSchema.describe('log pi_ref(action | state), filled by the reference phase'),
  reward: z.number().nullable().describe('per-decision reward (CS phases), null when not scored'),
});
export type DecisionRecord = z.infer<typeof DecisionRecordSchema>;

export const TrajectoryRecordSchema = z.object({
  scenario: z.string().min(1).describe('scenario id: trajectories of one scenario form a group'),
  group: z.number().int().min(0).describe('group index (preference pairs are formed within a group)'),
  session: SessionSchema.describe('the trajectory as a Mgshop-style log line'),
  reward: z.number().nullable().describe('sequence reward R(tau), null before scoring'),
  rewardParts: z.record(z.string(), z.number()).describe('named reward terms (tse, gre, esndcg, ...)'),
  policyVersion: z.number().int().min(-1).describe('version of the policy that acted (-1: a logged session)'),
});
export type TrajectoryRecord = z.infer<typeof TrajectoryRecordSchema>;

export const RolloutBatchSchema = z
  .object({
    strategies: z.array(StrategyNameSchema).min(1).describe('the strategy set actions and masks index'),
    trajectories: z.array(TrajectoryRecordSchema),
    decisions: z.array(DecisionRecordSchema),
  })
  .superRefine((b, ctx) => {
    b.decisions.forEach((d, i) => {
      const t = b.trajectories[d.trajectory];
      if (!t) {
        ctx.addIssue({ code: 'custom', path: ['decisions', i, 'trajectory'], message: 'no such trajectory' });
        return;
      }
      if (d.mask.length !== b.strategies.length)
        ctx.addIssue({
          code: 'custom',
          path: ['decisions', i, 'mask'],
          message: `mask has ${d.mask.length} entries for ${b.strategies.length} strategies`,
        });
      const turn = t.session.turns[d.turn];
      // An inadmissible action is one an unmasked policy took (StrategyPolicy.masked false): the
      // environment executed it, so its turn must log the SOP violation.
      if (!d.mask[d.action] && !(turn?.role === 'agent' && turn.sop_violation === true))
        ctx.addIssue({
          code: 'custom',
          path: ['decisions', i, 'action'],
          message: `action ${b.strategies[d.action] ?? d.action} is not admissible and its turn logs no SOP violation`,
        });
      if (turn?.role !== 'agent')
        ctx.addIssue({ code: 'custom', path: ['decisions', i, 'turn'], message: 'not an agent turn' });
    });
  });
export type RolloutBatch = z.infer<typeof RolloutBatchSchema>;

/**
 * The state text of one decision: the SOP state, then the facts, one per line. The Expert Agent reads
 * this block right before it picks the strategy, on the simulator and on logs alike.
 */
export function decisionStateText(sopState: string, facts: readonly string[]): string {
  return [`sop: ${sopState}`, ...facts].join('\n');
}

/** Decisions of each trajectory, in turn order. */
export function decisionsByTrajectory(batch: RolloutBatch): DecisionRecord[][] {
  const out: DecisionRecord[][] = batch.trajectories.map(() => []);
  for (const d of batch.decisions) out[d.trajectory]!.push(d);
  for (const list of out) list.sort((a, b) => a.turn - b.turn);
  return out;
}

/** Trajectory indices of each group, groups in index order. */
export function trajectoriesByGroup(batch: RolloutBatch): number[][] {
  const groups = new Map<number, number[]>();
  batch.trajectories.forEach((t, i) => {
    const list = groups.get(t.group);
    if (list) list.push(i);
    else groups.set(t.group, [i]);
  });
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
}

/** Concatenates batches of the same strategy set (trajectory indices and groups are renumbered). */
export function concatBatches(batches: readonly RolloutBatch[]): RolloutBatch {
  if (batches.length === 0) throw new RangeError('concatBatches needs at least one batch');
  const strategies = batches[0]!.strategies;
  const trajectories: TrajectoryRecord[] = [];
  const decisions: DecisionRecord[] = [];
  let groupBase = 0;
  for (const b of batches) {
    if (b.strategies.join(',') !== strategies.join(','))
      throw new RangeError('concatBatches: batches use different strategy sets');
    const base = trajectories.length;
    let maxGroup = -1;
    for (const t of b.trajectories) {
      trajectories.push({ ...t, group: t.group + groupBase });
      maxGroup = Math.max(maxGroup, t.group);
    }
    for (const d of b.decisions) decisions.push({ ...d, trajectory: d.trajectory + base });
    groupBase += maxGroup + 1;
  }
  return { strategies: [...strategies], trajectories, decisions };
}

/** Why a logged agent turn carries no decision. */
export type LoggedDecisionProblem =
  | { readonly kind: 'unlabeled'; readonly turn: number; readonly message: string }
  | {
      readonly kind: 'unknown_strategy';
      readonly turn: number;
      readonly strategy: string;
      readonly message: string;
    }
  | {
      readonly kind: 'sop_violation';
      readonly turn: number;
      readonly strategy: string;
      readonly message: string;
    };

/**
 * The decisions of a logged session, for offline training: every agent turn with a strategy of the
 * set, its SOP state and mask recomputed by replaying the SOP, its facts from the turn's `facts`
 * field when logged. Turns without a strategy, or with one outside the set, are returned as problems.
 */
export function loggedDecisions(
  session: z.infer<typeof SessionSchema>,
  sop: Sop,
  trajectory: number,
): { decisions: DecisionRecord[]; problems: LoggedDecisionProblem[] } {
  const index = new Map(sop.strategies.map((s, i) => [s, i]));
  const decisions: DecisionRecord[] = [];
  const problems: LoggedDecisionProblem[] = [];
  for (const check of sop.replay(session)) {
    const turn = session.turns[check.turn]!;
    if (check.strategy === undefined) {
      problems.push({ kind: 'unlabeled', turn: check.turn, message: 'agent turn has no strategy label' });
      continue;
    }
    const action = index.get(check.strategy);
    if (action === undefined) {
      problems.push({
        kind: 'unknown_strategy',
        turn: check.turn,
        strategy: check.strategy,
        message: `strategy "${check.strategy}" is not in the strategy set (${sop.strategies.join(', ')})`,
      });
      continue;
    }
    // An SOP violation in a log is kept as a decision only if it is admissible; the hard SOP never
    // lets the policy take it, so it cannot be a training target.
    if (check.violation) {
      problems.push({
        kind: 'sop_violation',
        turn: check.turn,
        strategy: check.strategy,
        message: `strategy "${check.strategy}" violates the SOP here`,
      });
      continue;
    }
    const facts = turn.role === 'agent' && Array.isArray(turn.facts) ? turn.facts : [];
    decisions.push({
      trajectory,
      turn: check.turn,
      state: decisionStateText(check.state, facts),
      mask: sop.strategies.map((s) => check.admissible.includes(s)),
      action,
      behaviorLogProb: null,
      refLogProb: null,
      reward: null,
    });
  }
  return { decisions, problems };
}
