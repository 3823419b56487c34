/**
 * The Expert Agent's compiled training steps: one nn Trainer per objective, reading and writing the
 * agent's own ParamStore, so the next rollout acts with the updated weights. Shapes are fixed per
 * updater (training graphs are compiled per shape): B trajectories of T tokens with D decision slots,
 * and P pair slots for the pairwise loss.
 */
import {
  type Batch,
  type BatchSpec,
  type Graph,
  type HostTensor,
  type StepResult,
  type Tensor,
  Trainer,
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
      refSum: { dtype: 'float32', shape: [b] },
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
  private readonly trainers = new Map<number, Promise<Trainer>>();
  private current: Trainer | undefined;

  private constructor(
    readonly agent: ExpertAgent,
    /** rows (B) and slots (D) per step; seqLen is the longest bucket. */
    readonly shape: RowShape,
    readonly objective: ExpertObjective,
    readonly trainerConfig: TrainerConfigInput,
  ) {}

  static async create(
    agent: ExpertAgent,
    shape: RowShape,
    objective: ExpertObjective,
    trainer: TrainerConfigInput,
  ): Promise<ExpertUpdater> {
    return new ExpertUpdater(agent, shape, objective, trainer);
  }

  private trainerFor(seqLen: number): Promise<Trainer> {
    let t = this.trainers.get(seqLen);
    if (!t) {
      const { agent, objective } = this;
      const spec = batchSpec({ ...this.shape, seqLen }, agent.strategies.length, objective);
      t = Trainer.create(
        (g, x) => objectiveGraph(g, x, agent, objective),
        spec,
        this.trainerConfig,
        agent.store,
      );
      this.trainers.set(seqLen, t);
    }
    return t;
  }

  /** Optimizer steps taken so far (over every bucket). */
  get steps(): number {
    return this.current?.step ?? 0;
  }

  /** The active step's trainer (its state is the optimizer's; for checkpoints). */
  async activeTrainer(): Promise<Trainer> {
    return this.current ?? (await this.trainerFor(roundUp(this.shape.seqLen, TRAIN_LENGTH_BUCKET)));
  }

  /** Weights, optimizer state and step counter (for checkpoints and rollbacks). */
  async exportState(): Promise<TrainerSnapshot> {
    return (await this.activeTrainer()).exportState();
  }

  /** Restores what exportState produced (the agent's weights included). */
  async importState(snapshot: TrainerSnapshot): Promise<void> {
    const t = await this.activeTrainer();
    await t.importState(snapshot);
    this.current = t;
  }

  /**
   * One optimizer step on `items` (at most `shape.rows`); the agent's version goes up by one. A step
   * whose loss or gradient norm is not finite is undone (weights and optimizer state restored) and
   * reported with `rolledBack: true`; the version stays.
   */
  async step(items: readonly RowInput[], inputs: ObjectiveInputs = {}): Promise<GuardedStepResult> {
    // A copy: exportState hands out the trainer's own buffers, which the next step may write (a
    // bucket's trainer writes into spares that can be the buffers another bucket's trainer exported).
    const before = copySnapshot(await this.exportState());
    const longest = Math.max(1, ...items.map((i) => i.encoded.ids.length));
    const seqLen = Math.min(
      roundUp(longest, TRAIN_LENGTH_BUCKET),
      roundUp(this.shape.seqLen, TRAIN_LENGTH_BUCKET),
    );
    const trainer = await this.trainerFor(seqLen);
    if (this.current && this.current !== trainer) await trainer.importState(await this.current.exportState());
    this.current = trainer;
    const rows = packRows(
      items,
      { ...this.shape, seqLen },
      this.agent.strategies.length,
      this.agent.tokenizer.padId,
    );
    const { ids, attention, positions, mask, actions, weights } = rows;
    const batch: Batch = { ids, attention, positions, mask, actions, weights, ...inputs };
    const r = await trainer.trainStep(batch);
    if (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm)) {
      await trainer.importState(before);
      return { ...r, rolledBack: true };
    }
    this.agent.version++;
    return { ...r, rolledBack: false };
  }
}

/** A snapshot that owns its tensors. */
function copySnapshot(s: TrainerSnapshot): TrainerSnapshot {
  const copy = (m: ReadonlyMap<string, HostTensor>) =>
    new Map(
      [...m].map(([k, v]) => [k, { ...v, dims: [...v.dims], data: v.data.slice() as HostTensor['data'] }]),
    );
  return { ...s, params: copy(s.params), optimizerState: copy(s.optimizerState) };
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
    .with({ kind: 'pairwise' }, (o) =>
      pairwiseLoss(
        g,
        logp,
        weights,
        {
          refSum: x.refSum!,
          turns: x.turns!,
          chosen: x.chosen!,
          rejected: x.rejected!,
          pairWeights: x.pairWeights!,
        },
        o.loss,
      ),
    )
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

/** Mean entropy (nats) of the SOP-masked strategy distribution over real decisions. */
function meanEntropy(g: Graph, logits: Tensor, weights: Tensor): Tensor {
  const logp = g.logSoftmax(logits, -1);
  const h = g.neg(g.reduceSum(g.mul(g.exp(logp), logp), [-1]));
  return g.div(g.reduceSum(g.mul(h, weights)), g.max(g.reduceSum(weights), 1));
}
