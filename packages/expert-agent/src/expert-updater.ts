/**
 * The Expert Agent's compiled training steps: one nn Trainer per objective, reading and writing the
 * agent's own ParamStore, so the next rollout acts with the updated weights. Shapes are fixed per
 * updater (training graphs are compiled per shape): B trajectories of T tokens with D decision slots,
 * and P pair slots for the pairwise loss.
 */
import {
  type BatchSpec,
  BucketedTrainer,
  type Graph,
  type HostTensor,
  type StepResult,
  type Tensor,
  type TrainerConfigInput,
  type TrainerSnapshot,
} from '@gopo/nn';
import { match } from 'ts-pattern';
import {
  actionLogProbs,
  groupRelativeGraphLoss,
  maskedDecisionLogits,
  pairwiseLoss,
  sftDecisionLoss,
  tokenPairwiseLoss,
} from './decision-graph.js';
import type { ExpertAgent } from './expert-agent.js';
import type { GopoLossConfig } from './gopo-config.js';
import { packRows, type RowInput, type RowShape, roundUp } from './rows.js';

/** What an updater minimises. */
export type ExpertObjective =
  | { readonly kind: 'sft' }
  | { readonly kind: 'pairwise'; readonly loss: GopoLossConfig; readonly pairs: number }
  | { readonly kind: 'group_relative'; readonly loss: GopoLossConfig };

/** The objective's own inputs beside the decision rows (host tensors of the shapes in batchSpec). */
export type ObjectiveInputs = Readonly<Record<string, HostTensor>>;

function batchSpec(shape: RowShape, strategies: number, objective: ExpertObjective): BatchSpec {
  const { rows: b, seqLen: t, slots: d } = shape;
  const base: BatchSpec = {
    ids: { dtype: 'int64', shape: [b, t] },
    attention: { dtype: 'bool', shape: [b, t] },
    positions: { dtype: 'int64', shape: [b, d] },
    mask: { dtype: 'bool', shape: [b, d, strategies] },
    actions: { dtype: 'int64', shape: [b, d] },
    weights: { dtype: 'float32', shape: [b, d] },
  };
  return match(objective)
    .with({ kind: 'sft' }, () => base)
    .with({ kind: 'pairwise' }, (o) => ({
      ...base,
      turns: { dtype: 'float32', shape: [b] },
      ...(o.loss.preference === 'token'
        ? { refLogp: { dtype: 'float32', shape: [b, d] } }
        : { refSum: { dtype: 'float32', shape: [b] } }),
      chosen: { dtype: 'int64', shape: [o.pairs] },
      rejected: { dtype: 'int64', shape: [o.pairs] },
      pairWeights: { dtype: 'float32', shape: [o.pairs] },
    }))
    .with({ kind: 'group_relative' }, () => ({
      ...base,
      oldLogp: { dtype: 'float32', shape: [b, d] },
      refLogp: { dtype: 'float32', shape: [b, d] },
      advantage: { dtype: 'float32', shape: [b, d] },
    }))
    .exhaustive() as BatchSpec;
}

/** Training sequences are padded to a multiple of this; each length bucket compiles its own step. */
export const TRAIN_LENGTH_BUCKET = 128;

/**
 * Compiled steps of one objective over the agent's weights. Steps are compiled per sequence-length
 * bucket (so a batch of short dialogues does not pay for the longest one); the optimizer state moves
 * with the weights from one bucket's step to the next, so the buckets behave as one optimizer.
 */
export class ExpertUpdater {
  private readonly buckets: BucketedTrainer;

  private constructor(
    readonly agent: ExpertAgent,
    /** rows (B) and slots (D) per step; seqLen is the longest bucket. */
    readonly shape: RowShape,
    readonly objective: ExpertObjective,
    trainerConfig: TrainerConfigInput,
  ) {
    // One step session per length bucket is alive at once: without the arena, each returns its
    // step's memory rather than keeping its largest step's (GBs for the long buckets).
    this.buckets = new BucketedTrainer(
      (seqLen) => ({
        model: (g, x) => objectiveGraph(g, x, agent, objective),
        spec: batchSpec({ ...shape, seqLen }, agent.strategies.length, objective),
      }),
      { memoryArena: false, ...trainerConfig },
      agent.store,
      roundUp(shape.seqLen, TRAIN_LENGTH_BUCKET),
    );
  }

  static async create(
    agent: ExpertAgent,
    shape: RowShape,
    objective: ExpertObjective,
    trainer: TrainerConfigInput,
  ): Promise<ExpertUpdater> {
    return new ExpertUpdater(agent, shape, objective, trainer);
  }

  /** Optimizer steps taken so far (over every bucket). */
  get steps(): number {
    return this.buckets.steps;
  }

  /** Weights, optimizer state and step counter (for checkpoints and rollbacks). */
  exportState(): Promise<TrainerSnapshot> {
    return this.buckets.exportState();
  }

  /** Restores what exportState produced (the agent's weights included). */
  importState(snapshot: TrainerSnapshot): Promise<void> {
    return this.buckets.importState(snapshot);
  }

  /**
   * One optimizer step on `items` (at most `shape.rows`); the agent's version goes up by one. A step
   * whose loss or gradient norm is not finite is undone (weights and optimizer state restored) and
   * reported with `rolledBack: true`; the version stays.
   */
  async step(items: readonly RowInput[], inputs: ObjectiveInputs = {}): Promise<GuardedStepResult> {
    const longest = Math.max(1, ...items.map((i) => i.encoded.ids.length));
    const cap = roundUp(this.shape.seqLen, TRAIN_LENGTH_BUCKET);
    const seqLen = Math.min(roundUp(longest, TRAIN_LENGTH_BUCKET), cap);
    const rows = packRows(
      // An unmasked agent's losses (log pi, and log pi_ref filled by the same agent's clone) range
      // over every strategy.
      this.agent.policyRows(items),
      { ...this.shape, seqLen },
      this.agent.strategies.length,
      this.agent.tokenizer.padId,
    );
    const { ids, attention, positions, mask, actions, weights } = rows;
    const r = await this.buckets.step(seqLen, {
      ids,
      attention,
      positions,
      mask,
      actions,
      weights,
      ...inputs,
    });
    if (!r.rolledBack) this.agent.version++;
    return r;
  }
}

/** A step's result and whether a non-finite step was undone. */
export interface GuardedStepResult extends StepResult {
  readonly rolledBack: boolean;
}

function objectiveGraph(
  g: Graph,
  x: Readonly<Record<string, Tensor>>,
  agent: ExpertAgent,
  objective: ExpertObjective,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  const logits = maskedDecisionLogits(g, agent.config, agent.encoder.strategyIds, {
    ids: x.ids!,
    attention: x.attention!,
    positions: x.positions!,
    mask: x.mask!,
  });
  const logp = actionLogProbs(g, logits, x.actions!);
  const weights = x.weights!;
  const entropy = g.stopGradient(meanEntropy(g, logits, weights));
  const r = match(objective)
    .with({ kind: 'sft' }, () => ({ loss: sftDecisionLoss(g, logp, weights), metrics: {} }))
    .with({ kind: 'pairwise' }, (o) => {
      const pairs = {
        turns: x.turns!,
        chosen: x.chosen!,
        rejected: x.rejected!,
        pairWeights: x.pairWeights!,
      };
      return match(o.loss.preference)
        .with('trajectory', () => pairwiseLoss(g, logp, weights, { ...pairs, refSum: x.refSum! }, o.loss))
        .with('token', () => tokenPairwiseLoss(g, logp, weights, { ...pairs, refLogp: x.refLogp! }, o.loss))
        .exhaustive();
    })
    .with({ kind: 'group_relative' }, (o) =>
      groupRelativeGraphLoss(
        g,
        logp,
        weights,
        { oldLogp: x.oldLogp!, refLogp: x.refLogp!, advantage: x.advantage! },
        o.loss,
      ),
    )
    .exhaustive();
  return { loss: r.loss, metrics: { ...r.metrics, 'policy/entropy': entropy } };
}

/** Mean entropy (nats) of the policy's strategy distribution (SOP-masked unless unmasked) over real decisions. */
function meanEntropy(g: Graph, logits: Tensor, weights: Tensor): Tensor {
  const logp = g.logSoftmax(logits, -1);
  const h = g.neg(g.reduceSum(g.mul(g.exp(logp), logp), [-1]));
  return g.div(g.reduceSum(g.mul(h, weights)), g.max(g.reduceSum(weights), 1));
}
