/**
 * Loss functions built from graph ops (so autodiff covers them). All are numerically stable:
 * cross-entropy and log-probs go through LogSoftmax, log-sigmoid through min(x,0) - log1p(exp(-|x|)).
 */
import type { Graph, Tensor } from './graph.js';

export interface CrossEntropyOptions {
  /** Targets equal to this value contribute nothing (and do not count in the mean). */
  ignoreIndex?: number;
  /** Mixes the one-hot target with the uniform distribution: (1 - eps) onehot + eps / V. */
  labelSmoothing?: number;
  /** Float weights per target position (e.g. a loss mask), same shape as targets. */
  mask?: Tensor;
  /** 'mean' divides by the total weight of counted positions (at least 1). */
  reduction?: 'mean' | 'sum' | 'none';
}

/** Log-probability of each target under softmax(logits) along the last axis; shape of `targets`. */
export function targetLogProbs(g: Graph, logits: Tensor, targets: Tensor, safeTargets?: Tensor): Tensor {
  const lead = logits.shape.slice(0, -1);
  if (
    targets.dtype !== 'int64' ||
    targets.shape.length !== lead.length ||
    targets.shape.some((d, i) => d !== lead[i])
  ) {
    g.fail('targetLogProbs', [logits, targets], `targets must be int64 with shape [${lead.join(',')}]`);
  }
  // One op: its backward is softmax - onehot without materialising a one-hot or zero tensor.
  return g.targetLogProb(logits, safeTargets ?? targets);
}

/** Cross-entropy from logits [..., V] and int64 targets [...]. */
export function crossEntropy(
  g: Graph,
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  return g.scope('cross_entropy', () => {
    const ignore = options.ignoreIndex ?? -100;
    const eps = options.labelSmoothing ?? 0;
    const valid = g.not(g.equal(targets, g.scalar(ignore, 'int64')));
    const safe = g.where(valid, targets, g.scalar(0, 'int64'));
    let nll = g.neg(targetLogProbs(g, logits, targets, safe));
    if (eps > 0) {
      const smooth = g.neg(g.reduceMean(g.logSoftmax(logits, -1), [-1]));
      nll = g.add(g.mul(nll, 1 - eps), g.mul(smooth, eps));
    }
    let w = g.cast(valid, logits.dtype);
    if (options.mask) w = g.mul(w, g.cast(options.mask, logits.dtype));
    const weighted = g.mul(nll, w);
    const reduction = options.reduction ?? 'mean';
    if (reduction === 'none') return weighted;
    const total = g.reduceSum(weighted);
    return reduction === 'sum' ? total : g.div(total, g.max(g.reduceSum(w), 1));
  });
}

/** Mean (or summed) squared error. */
export function mse(g: Graph, pred: Tensor, target: Tensor, reduction: 'mean' | 'sum' = 'mean'): Tensor {
  return g.scope('mse', () => {
    const d = g.sub(pred, target);
    const sq = g.mul(d, d);
    return reduction === 'mean' ? g.reduceMean(sq) : g.reduceSum(sq);
  });
}

/** log(sigmoid(x)) without overflow for large |x|. */
export function logSigmoid(g: Graph, x: Tensor): Tensor {
  return g.scope('log_sigmoid', () => g.sub(g.min(x, 0), g.log(g.add(g.exp(g.neg(g.abs(x))), 1))));
}

/**
 * Sum over the sequence of log p(target_t) for logits [B, T, V], int64 targets [B, T] and a float
 * mask [B, T] (1 where the token counts): the sequence log-likelihoods preference losses compare.
 * Returns [B]; with `average` the sum is divided by the mask's row sum (length normalisation).
 */
export function sequenceLogProbs(
  g: Graph,
  logits: Tensor,
  targets: Tensor,
  mask: Tensor,
  options: { average?: boolean } = {},
): Tensor {
  return g.scope('sequence_logprobs', () => {
    const m = g.cast(mask, logits.dtype);
    const summed = g.reduceSum(g.mul(targetLogProbs(g, logits, targets), m), [-1]);
    return options.average ? g.div(summed, g.max(g.reduceSum(m, [-1]), 1)) : summed;
  });
}
