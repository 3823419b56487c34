/**
 * One Expert Agent update on a scored rollout batch (DESIGN.md 4.6): the frozen reference fills in
 * log pi_ref for every decision, preference pairs are formed within each group from the sequence
 * rewards, and the compiled GOPO step (pairwise or group-relative) runs over minibatches of groups.
 */
import { GopoError, type Rng, UsageError } from '@gopo/core';
import { decisionsByTrajectory, type RolloutBatch, trajectoriesByGroup } from '@gopo/dialogue';
import type { HostTensor } from '@gopo/nn';
import type { ExpertAgent } from './expert-agent.js';
import type { ExpertUpdater } from './expert-updater.js';
import type { GopoLossConfig } from './gopo-config.js';
import { buildPreferencePairs, groupAdvantages } from './preference-loss.js';
import type { RowInput, RowShape } from './rows.js';

/** A trajectory of the batch as the graphs read it, with its kept decisions' records. */
export interface TrajectoryRows extends RowInput {
  /** Index of the trajectory in the batch. */
  readonly trajectory: number;
  /** Per kept decision: behaviour and reference log-probs (NaN when unknown). */
  readonly behavior: readonly number[];
  readonly reference: readonly number[];
}

/** Encodes every trajectory of the batch for `agent` (decisions past its window are dropped). */
export function encodeBatch(agent: ExpertAgent, batch: RolloutBatch): TrajectoryRows[] {
  if (batch.strategies.join(',') !== agent.strategies.join(','))
    throw new UsageError(
      `the batch's strategy set (${batch.strategies.join(', ')}) is not the agent's (${agent.strategies.join(', ')})`,
    );
  return decisionsByTrajectory(batch).map((decisions, trajectory) => {
    const encoded = agent.encoder.encode(batch.trajectories[trajectory]!.session.turns, decisions);
    const kept = encoded.decisions.map((k) => decisions[k]!);
    const outside = kept.find((d) => !d.mask[d.action]);
    if (agent.masked && outside)
      throw new UsageError(
        `trajectory ${trajectory} took ${batch.strategies[outside.action]}, which its SOP mask does not admit (rollouts of an unmasked policy): a masked agent gives it no probability; score such a batch with an agent whose sopMasking is false`,
      );
    return {
      trajectory,
      encoded,
      masks: kept.map((d) => d.mask),
      actions: kept.map((d) => d.action),
      behavior: kept.map((d) => d.behaviorLogProb ?? Number.NaN),
      reference: kept.map((d) => d.refLogProb ?? Number.NaN),
    };
  });
}

/**
 * The batch with `refLogProb` of every decision scored by `reference` (decisions past the window
 * keep null), plus each decision's full distribution under it for monitors.
 */
export async function withReferenceLogProbs(
  batch: RolloutBatch,
  reference: ExpertAgent,
): Promise<RolloutBatch> {
  const rows = encodeBatch(reference, batch);
  const logps = await reference.decisionLogProbs(rows);
  const byTrajectory = decisionsByTrajectory(batch);
  const filled = new Map<object, number>();
  rows.forEach((row, i) => {
    const decisions = byTrajectory[row.trajectory]!;
    row.encoded.decisions.forEach((k, j) => {
      const d = decisions[k]!;
      filled.set(d, logps[i]![j]![d.action]!);
    });
  });
  return {
    ...batch,
    decisions: batch.decisions.map((d) => {
      const lp = filled.get(d);
      return lp === undefined ? d : { ...d, refLogProb: lp };
    }),
  };
}

export interface GopoUpdateOptions {
  /** Groups per optimizer step (the updater's rows must hold groupsPerStep x group size). */
  readonly groupsPerStep: number;
  /** Passes over the batch. */
  readonly epochs: number;
  /** Shuffles the order of groups each epoch. */
  readonly rng: Rng;
  /** Called after every step with its loss and metrics. */
  readonly onStep?: (metrics: Record<string, number>) => void;
  /** Non-finite steps in a row that are undone before the update stops with an error. */
  readonly maxRollbacks: number;
}

/** Training stopped: too many non-finite steps in a row (each was rolled back first). */
export class NonFiniteTrainingError extends GopoError {
  constructor(
    readonly rollbacks: number,
    readonly lastStep: Record<string, number>,
  ) {
    super(
      `${rollbacks} optimizer steps in a row had a non-finite loss or gradient (last loss ${lastStep.loss}, grad norm ${lastStep.grad_norm}); each was rolled back, the weights are the last good ones. Lower update.lr or loss.beta.`,
    );
  }
}

export interface GopoUpdateResult {
  readonly steps: number;
  /** Preference pairs in the batch (pairwise mode). */
  readonly pairs: number;
  /** Groups that carried a learning signal (pairs, or non-zero advantages). */
  readonly usefulGroups: number;
  /** Per step: loss, grad_norm and the graph's metrics. */
  readonly history: readonly Record<string, number>[];
}

/**
 * Runs the GOPO objective of `updater` over a scored batch whose decisions carry reference
 * log-probs. Groups without a learning signal (every reward within the margin of the others) are
 * skipped, so no step is spent on padding.
 */
export async function gopoUpdate(
  updater: ExpertUpdater,
  batch: RolloutBatch,
  options: GopoUpdateOptions,
): Promise<GopoUpdateResult> {
  const objective = updater.objective;
  if (objective.kind === 'sft') throw new UsageError('gopoUpdate needs a pairwise or group_relative updater');
  const loss = objective.loss;
  const rows = encodeBatch(updater.agent, batch);
  const byTrajectory = new Map(rows.map((r) => [r.trajectory, r]));
  const rewards = batch.trajectories.map((t, i) => {
    if (t.reward === null || !Number.isFinite(t.reward))
      throw new UsageError(`trajectory ${i} (${t.session.session_id}) has no sequence reward`);
    return t.reward;
  });
  for (const r of rows)
    if (r.reference.some((x) => Number.isNaN(x)))
      throw new UsageError(
        `trajectory ${r.trajectory} lacks reference log-probs (run withReferenceLogProbs)`,
      );

  interface Group {
    readonly members: number[];
    readonly pairs: { chosen: number; rejected: number }[];
    readonly advantages: Float64Array;
  }
  const groups: Group[] = trajectoriesByGroup(batch).map((members) => {
    const r = members.map((m) => rewards[m]!);
    return {
      members,
      pairs: buildPreferencePairs(r, loss.margin),
      advantages: groupAdvantages(r, loss.advantageEps),
    };
  });
  const useful = groups.filter((g) =>
    objective.kind === 'pairwise' ? g.pairs.length > 0 : g.advantages.some((a) => Math.abs(a) > 1e-9),
  );
  const shape = updater.shape;
  const history: Record<string, number>[] = [];
  let rollbacks = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = options.rng.shuffle(useful.slice());
    for (let at = 0; at < order.length; at += options.groupsPerStep) {
      const part = order.slice(at, at + options.groupsPerStep);
      const members = part.flatMap((g) => g.members);
      if (members.length > shape.rows)
        throw new UsageError(
          `${members.length} trajectories in ${part.length} groups exceed the step's ${shape.rows} rows`,
        );
      const items = members.map((m) => byTrajectory.get(m)!);
      const slot = new Map(members.map((m, i) => [m, i]));
      const inputs: Record<string, HostTensor> =
        objective.kind === 'pairwise'
          ? pairInputs(part, slot, items, shape, objective.pairs, loss.preference)
          : groupRelativeInputs(part, slot, items, shape.rows, shape.slots);
      const r = await updater.step(items, inputs);
      const m = {
        loss: r.loss,
        grad_norm: r.gradNorm,
        lr: r.lr,
        rolled_back: r.rolledBack ? 1 : 0,
        ...r.metrics,
      };
      history.push(m);
      options.onStep?.(m);
      if (r.rolledBack) {
        rollbacks++;
        if (rollbacks > options.maxRollbacks) throw new NonFiniteTrainingError(rollbacks, m);
      } else rollbacks = 0;
    }
  }
  return {
    steps: history.length,
    pairs: groups.reduce((n, g) => n + g.pairs.length, 0),
    usefulGroups: useful.length,
    history,
  };
}

function pairInputs(
  part: readonly { members: number[]; pairs: { chosen: number; rejected: number }[] }[],
  slot: ReadonlyMap<number, number>,
  items: readonly TrajectoryRows[],
  { rows, slots }: RowShape,
  maxPairs: number,
  preference: GopoLossConfig['preference'],
): Record<string, HostTensor> {
  const pairs = part.flatMap((g) =>
    g.pairs.map((p) => [slot.get(g.members[p.chosen]!)!, slot.get(g.members[p.rejected]!)!] as const),
  );
  if (pairs.length > maxPairs)
    throw new UsageError(`${pairs.length} preference pairs exceed the step's ${maxPairs} pair slots`);
  const chosen = new BigInt64Array(maxPairs);
  const rejected = new BigInt64Array(maxPairs);
  const weights = new Float32Array(maxPairs);
  pairs.forEach(([c, r], i) => {
    chosen[i] = BigInt(c);
    rejected[i] = BigInt(r);
    weights[i] = 1;
  });
  const refSum = new Float32Array(rows);
  const refLogp = new Float32Array(rows * slots);
  const turns = new Float32Array(rows);
  // Over the decisions the step packs (packRows keeps the first `slots`), as the policy sum is.
  items.forEach((it, i) => {
    const kept = Math.min(it.actions.length, slots);
    refSum[i] = it.reference.slice(0, kept).reduce((a, b) => a + b, 0);
    refLogp.set(it.reference.slice(0, kept), i * slots);
    turns[i] = kept;
  });
  return {
    chosen: { dtype: 'int64', dims: [maxPairs], data: chosen },
    rejected: { dtype: 'int64', dims: [maxPairs], data: rejected },
    pairWeights: { dtype: 'float32', dims: [maxPairs], data: weights },
    turns: { dtype: 'float32', dims: [rows], data: turns },
    ...(preference === 'token'
      ? { refLogp: { dtype: 'float32', dims: [rows, slots], data: refLogp } }
      : { refSum: { dtype: 'float32', dims: [rows], data: refSum } }),
  };
}

function groupRelativeInputs(
  part: readonly { members: number[]; advantages: Float64Array }[],
  slot: ReadonlyMap<number, number>,
  items: readonly TrajectoryRows[],
  rows: number,
  slots: number,
): Record<string, HostTensor> {
  const old = new Float32Array(rows * slots);
  const ref = new Float32Array(rows * slots);
  const adv = new Float32Array(rows * slots);
  for (const g of part)
    g.members.forEach((m, j) => {
      const r = slot.get(m)!;
      const it = items[r]!;
      for (let k = 0; k < Math.min(slots, it.actions.length); k++) {
        const b = it.behavior[k]!;
        if (Number.isNaN(b))
          throw new UsageError(`trajectory ${it.trajectory} has no behaviour log-prob (a logged session?)`);
        old[r * slots + k] = b;
        ref[r * slots + k] = it.reference[k]!;
        adv[r * slots + k] = g.advantages[j]!;
      }
    });
  const t = (data: Float32Array): HostTensor => ({ dtype: 'float32', dims: [rows, slots], data });
  return { oldLogp: t(old), refLogp: t(ref), advantage: t(adv) };
}
