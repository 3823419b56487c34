/**
 * The Expert Agent's graphs in @gopo/nn: the decision head over a decoder, SOP masking, and the
 * losses (SFT warm start, the pairwise GOPO preference at trajectory or token level, the
 * group-relative variant) that the trainer
 * compiles into one training step. The float64 host functions of preference-loss.ts are their
 * reference (decision-graph.test.ts checks values and gradients against them).
 *
 * Batch layout (B trajectories, T tokens, D decision slots, S strategies, P preference pairs):
 *   ids int64 [B, T] (right-padded), attention bool [B, T], positions int64 [B, D] (flat index
 *   b*T + t of each decision's state-block end; padding slots point anywhere valid), mask bool
 *   [B, D, S] (SOP admissibility, all true for an unmasked agent; padding slots admit one
 *   strategy), actions int64 [B, D],
 *   weights float [B, D] (1 for a real decision, 0 for padding).
 */

import { type LlamaConfig, llamaForward, llamaHeadWeight } from '@gopo/lm';
import { type Dim, type Graph, logSigmoid, type Tensor } from '@gopo/nn';
import type { GopoLossConfig } from './gopo-config.js';

/** Inputs every decision graph reads. */
export interface DecisionInputs {
  readonly ids: Tensor;
  readonly attention: Tensor;
  readonly positions: Tensor;
  readonly mask: Tensor;
}

const NEG = { float32: -1e9, float64: -1e30 } as const;

/**
 * SOP-masked log-softmax over the strategy set at every decision slot, [B, D, S]: inadmissible
 * strategies get log-probability -1e9 (probability exactly zero after exp in float32), so they are
 * never sampled and never enter a log-prob sum.
 */
export function decisionLogProbs(
  g: Graph,
  cfg: LlamaConfig,
  strategyIds: readonly number[],
  inputs: DecisionInputs,
  dtype: 'float32' | 'float64' = 'float32',
): Tensor {
  return g.logSoftmax(maskedDecisionLogits(g, cfg, strategyIds, inputs, dtype), -1);
}

/** Strategy logits with inadmissible entries pushed to -1e9, [B, D, S]. */
export function maskedDecisionLogits(
  g: Graph,
  cfg: LlamaConfig,
  strategyIds: readonly number[],
  inputs: DecisionInputs,
  dtype: 'float32' | 'float64' = 'float32',
): Tensor {
  const [b, d] = inputs.positions.shape as [Dim, Dim];
  const s = strategyIds.length;
  const hidden = llamaForward(g, inputs.ids, cfg, {
    attentionMask: inputs.attention,
    output: 'hidden',
    dtype,
  }).logits;
  // The strategy tokens' rows of the output head (tied to the embedding in the default config), so
  // the head starts from what the tokens mean and a checkpoint stays a plain Hugging Face model. Taken
  // outside the head's scope: inside it the name would be a new, unsaved parameter.
  const headWeight = llamaHeadWeight(g, cfg, dtype);
  return g.scope('strategy_head', () => {
    const width = hidden.shape[2] as number;
    const rows = g.gather(g.reshape(hidden, [-1, width]), g.reshape(inputs.positions, [-1]), 0);
    const head = g.gather(
      headWeight,
      g.constant(BigInt64Array.from(strategyIds, BigInt), 'int64', [s], 'strategy_ids'),
      0,
    );
    const logits = g.reshape(g.gemm(rows, head, null, { transB: true }), [b, d, s]);
    return g.where(inputs.mask, logits, g.scalar(NEG[dtype], dtype));
  });
}

/** log pi(a_t | s_t) of each slot's action, [B, D] (padding slots: whatever, weighted out). */
export function actionLogProbs(g: Graph, maskedLogits: Tensor, actions: Tensor): Tensor {
  return g.targetLogProb(maskedLogits, actions);
}

/** Weighted mean NLL of the logged actions: the SFT warm start on logged strategy decisions. */
export function sftDecisionLoss(g: Graph, logp: Tensor, weights: Tensor): Tensor {
  return g.scope('sft', () =>
    g.div(g.neg(g.reduceSum(g.mul(logp, weights))), g.max(g.reduceSum(weights), 1)),
  );
}

/** Inputs of the pairwise loss besides the decisions. */
export interface PairInputs {
  /** sum_t log pi_ref(a_t | s_t) per trajectory, [B]. */
  readonly refSum: Tensor;
  /** Decisions per trajectory (in the window), [B] float. */
  readonly turns: Tensor;
  /** Trajectory index of each pair's preferred and rejected member, int64 [P]. */
  readonly chosen: Tensor;
  readonly rejected: Tensor;
  /** 1 for a real pair, 0 for padding, [P]. */
  readonly pairWeights: Tensor;
}

/**
 * The pairwise GOPO loss (DESIGN.md 4.6) from per-decision log-probs [B, D]:
 *   L = -mean_pairs log sigmoid(beta (D_chosen - D_rejected)) + nllWeight mean_pairs(-logpi_chosen / T_chosen)
 * with D_i = (sum_t logpi - refSum_i) / (T_i if lengthNormalize else 1), means over real pairs.
 * Returns the loss and the metrics of gopoPairwiseLoss (rewards/*).
 */
export function pairwiseLoss(
  g: Graph,
  logp: Tensor,
  weights: Tensor,
  p: PairInputs,
  config: Pick<GopoLossConfig, 'beta' | 'lengthNormalize' | 'nllWeight'>,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  return g.scope('gopo', () => {
    const sum = g.reduceSum(g.mul(logp, weights), [1]);
    const turns = g.max(p.turns, 1);
    let delta = g.sub(sum, p.refSum);
    if (config.lengthNormalize) delta = g.div(delta, turns);
    const margin = g.sub(g.gather(delta, p.chosen, 0), g.gather(delta, p.rejected, 0));
    const z = g.mul(margin, config.beta);
    const count = g.max(g.reduceSum(p.pairWeights), 1);
    const mean = (x: Tensor) => g.div(g.reduceSum(g.mul(x, p.pairWeights)), count);
    let loss = g.neg(mean(logSigmoid(g, z)));
    if (config.nllWeight > 0) {
      const nll = g.div(g.neg(g.gather(sum, p.chosen, 0)), g.gather(turns, p.chosen, 0));
      loss = g.add(loss, g.mul(mean(nll), config.nllWeight));
    }
    const stop = (x: Tensor) => g.stopGradient(x);
    return {
      loss,
      metrics: {
        'rewards/chosen': stop(mean(g.mul(g.gather(delta, p.chosen, 0), config.beta))),
        'rewards/rejected': stop(mean(g.mul(g.gather(delta, p.rejected, 0), config.beta))),
        'rewards/margins': stop(mean(z)),
        'rewards/accuracies': stop(mean(g.cast(g.greater(z, 0), z.dtype))),
      },
    };
  });
}

/** Inputs of the token-level pairwise loss besides the decisions: per-decision reference log-probs. */
export interface TokenPairInputs extends Omit<PairInputs, 'refSum'> {
  /** log pi_ref(a_t | s_t) per decision slot, [B, D] (padding slots: anything finite, weighted out). */
  readonly refLogp: Tensor;
}

/**
 * The token-level pairwise loss (loss.preference "token") from per-decision log-probs [B, D]: for each
 * pair, -log sigmoid(beta (d_chosen,t - d_rejected,t)) with d = logpi - logpi_ref, averaged over the
 * aligned positions t < min(T_chosen, T_rejected) (a slot is aligned when both rows have a real
 * decision there: real decisions are a row's first slots), then over the real pairs with at least one
 * aligned position; plus nllWeight mean_pairs(-logpi_chosen / T_chosen) as in pairwiseLoss. The
 * float64 reference is gopoTokenPairwiseLoss (preference-loss.ts), metrics as there.
 */
export function tokenPairwiseLoss(
  g: Graph,
  logp: Tensor,
  weights: Tensor,
  p: TokenPairInputs,
  config: Pick<GopoLossConfig, 'beta' | 'nllWeight'>,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  return g.scope('gopo_token', () => {
    const delta = g.mul(g.sub(logp, p.refLogp), weights);
    const dc = g.gather(delta, p.chosen, 0);
    const dr = g.gather(delta, p.rejected, 0);
    const aligned = g.mul(g.gather(weights, p.chosen, 0), g.gather(weights, p.rejected, 0));
    const positions = g.reduceSum(aligned, [1]);
    /** Mean over each pair's aligned positions, [P, D] -> [P]. */
    const overPositions = (x: Tensor) => g.div(g.reduceSum(g.mul(x, aligned), [1]), g.max(positions, 1));
    const valid = g.mul(p.pairWeights, g.cast(g.greater(positions, 0), logp.dtype));
    const count = g.max(g.reduceSum(valid), 1);
    const mean = (x: Tensor) => g.div(g.reduceSum(g.mul(x, valid)), count);
    const z = g.mul(g.sub(dc, dr), config.beta);
    let loss = g.neg(mean(overPositions(logSigmoid(g, z))));
    if (config.nllWeight > 0) {
      const sum = g.reduceSum(g.mul(logp, weights), [1]);
      const nll = g.div(g.neg(g.gather(sum, p.chosen, 0)), g.gather(g.max(p.turns, 1), p.chosen, 0));
      const pairMean = g.div(g.reduceSum(g.mul(nll, p.pairWeights)), g.max(g.reduceSum(p.pairWeights), 1));
      loss = g.add(loss, g.mul(pairMean, config.nllWeight));
    }
    const stop = (x: Tensor) => g.stopGradient(x);
    const margin = overPositions(z);
    return {
      loss,
      metrics: {
        'rewards/chosen': stop(mean(overPositions(g.mul(dc, config.beta)))),
        'rewards/rejected': stop(mean(overPositions(g.mul(dr, config.beta)))),
        'rewards/margins': stop(mean(margin)),
        'rewards/accuracies': stop(mean(g.cast(g.greater(margin, 0), logp.dtype))),
      },
    };
  });
}

/** Inputs of the group-relative loss besides the decisions, all [B, D] (advantage per trajectory, broadcast). */
export interface GroupRelativeInputs {
  readonly oldLogp: Tensor;
  readonly refLogp: Tensor;
  /** (R_i - mean_group) / (std_group + eps) of each slot's trajectory, [B, D]. */
  readonly advantage: Tensor;
}

/**
 * The group-relative variant, mean over real decisions of
 *   -min(r A, clip(r, 1-eps, 1+eps) A) + klCoef (exp(q) - q - 1),  r = exp(logp - old), q = ref - logp
 * with the gradient through the unclipped branch only where it is the minimum (groupRelativeLoss).
 */
export function groupRelativeGraphLoss(
  g: Graph,
  logp: Tensor,
  weights: Tensor,
  x: GroupRelativeInputs,
  config: Pick<GopoLossConfig, 'clipEps' | 'klCoef'>,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  return g.scope('group_relative', () => {
    const ratio = g.exp(g.sub(logp, x.oldLogp));
    const unclipped = g.mul(ratio, x.advantage);
    const bounded = g.min(g.max(g.stopGradient(ratio), 1 - config.clipEps), 1 + config.clipEps);
    const clipped = g.mul(bounded, x.advantage);
    const useUnclipped = g.not(g.greater(unclipped, clipped));
    const surrogate = g.where(useUnclipped, unclipped, clipped);
    const q = g.sub(x.refLogp, logp);
    const kl = g.sub(g.sub(g.exp(q), q), 1);
    const count = g.max(g.reduceSum(weights), 1);
    const mean = (v: Tensor) => g.div(g.reduceSum(g.mul(v, weights)), count);
    const loss = g.add(g.neg(mean(surrogate)), g.mul(mean(kl), config.klCoef));
    return {
      loss,
      metrics: {
        'policy/kl': g.stopGradient(mean(kl)),
        'policy/clip_frac': g.stopGradient(mean(g.cast(g.not(useUnclipped), logp.dtype))),
      },
    };
  });
}
