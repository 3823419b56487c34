import type { GopoLossConfig } from './gopo-config.js';

/** One preference: trajectory `chosen` has a higher sequence reward than `rejected` by more than the margin. */
export interface PreferencePair {
  readonly chosen: number;
  readonly rejected: number;
}

/** Every ordered pair of a group whose rewards differ by more than `margin` (DESIGN.md 4.6). */
export function buildPreferencePairs(rewards: readonly number[], margin: number): PreferencePair[] {
  const pairs: PreferencePair[] = [];
  for (let i = 0; i < rewards.length; i++) {
    for (let j = 0; j < rewards.length; j++) {
      if (i !== j && (rewards[i] as number) - (rewards[j] as number) > margin)
        pairs.push({ chosen: i, rejected: j });
    }
  }
  return pairs;
}

/** Per-trajectory quantities: sums over the trajectory's turns of SOP-masked log-probs. */
export interface TrajectoryLogProbs {
  /** sum_t log pi(a_t | s_t) under the policy being trained. */
  readonly policy: ArrayLike<number>;
  /** sum_t log pi_ref(a_t | s_t) under the frozen reference policy. */
  readonly reference: ArrayLike<number>;
  /** number of strategy decisions in each trajectory. */
  readonly turns: ArrayLike<number>;
}

export interface LossWithGrad {
  readonly loss: number;
  /** d loss / d policy log-prob sum, one entry per trajectory. */
  readonly grad: Float64Array;
  readonly metrics: Record<string, number>;
}

const logSigmoid = (z: number) => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));
const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/**
 * The pairwise GOPO loss in float64 with its exact gradient with respect to each trajectory's policy
 * log-prob sum:
 *   L = -mean_pairs log sigmoid(beta (D_chosen - D_rejected)) + nllWeight mean_pairs(-logpi_chosen / T_chosen)
 * with D_i = (logpi_i - logpi_ref_i) / (T_i if lengthNormalize else 1).
 * It is the host-side reference for the compiled loss graph and drives the metrics namespace rewards/*.
 */
export function gopoPairwiseLoss(
  lp: TrajectoryLogProbs,
  pairs: readonly PreferencePair[],
  config: Pick<GopoLossConfig, 'beta' | 'lengthNormalize' | 'nllWeight'>,
): LossWithGrad {
  const n = lp.policy.length;
  const grad = new Float64Array(n);
  if (pairs.length === 0) return { loss: 0, grad, metrics: { 'pairs/count': 0 } };
  const scale = (i: number) => (config.lengthNormalize ? Math.max(1, lp.turns[i] as number) : 1);
  const delta = (i: number) => ((lp.policy[i] as number) - (lp.reference[i] as number)) / scale(i);
  let loss = 0;
  let margins = 0;
  let correct = 0;
  let chosenReward = 0;
  let rejectedReward = 0;
  const inv = 1 / pairs.length;
  for (const { chosen, rejected } of pairs) {
    const dc = delta(chosen);
    const dr = delta(rejected);
    const z = config.beta * (dc - dr);
    loss -= logSigmoid(z) * inv;
    // d(-log sigmoid(z))/dz = -(1 - sigmoid(z))
    const g = -(1 - sigmoid(z)) * config.beta * inv;
    grad[chosen] = (grad[chosen] as number) + g / scale(chosen);
    grad[rejected] = (grad[rejected] as number) - g / scale(rejected);
    if (config.nllWeight > 0) {
      const t = Math.max(1, lp.turns[chosen] as number);
      loss += ((config.nllWeight * -(lp.policy[chosen] as number)) / t) * inv;
      grad[chosen] = (grad[chosen] as number) - (config.nllWeight / t) * inv;
    }
    margins += (z / config.beta) * inv;
    chosenReward += config.beta * dc * inv;
    rejectedReward += config.beta * dr * inv;
    if (z > 0) correct++;
  }
  return {
    loss,
    grad,
    metrics: {
      'pairs/count': pairs.length,
      'rewards/chosen': chosenReward,
      'rewards/rejected': rejectedReward,
      'rewards/margins': margins * config.beta,
      'rewards/accuracies': correct / pairs.length,
    },
  };
}

/** Per-decision quantities of each trajectory, in decision order (the token-level preference). */
export interface DecisionLogProbs {
  /** log pi(a_t | s_t) of each decision of each trajectory. */
  readonly policy: readonly ArrayLike<number>[];
  /** log pi_ref(a_t | s_t), the same shape. */
  readonly reference: readonly ArrayLike<number>[];
}

/** A loss with its gradient per decision: grad[i][t] = d loss / d log pi(a_t^i | s_t^i). */
export interface DecisionLossWithGrad {
  readonly loss: number;
  readonly grad: Float64Array[];
  readonly metrics: Record<string, number>;
}

/**
 * The token-level preference loss (loss.preference "token", the ablation of DESIGN.md 4.6) in float64
 * with its exact gradient per decision. A pair (i preferred over j) compares the decisions at aligned
 * positions t = 1..m, m = min(T_i, T_j), with d_t^k = log pi(a_t^k|s_t^k) - log pi_ref(a_t^k|s_t^k):
 *   l_pair = (1/m) sum_{t<=m} -log sigmoid(beta (d_t^i - d_t^j))
 *   L = mean over pairs with m > 0 of l_pair + nllWeight mean_pairs(-logpi_chosen / T_chosen)
 * Averaging over positions first gives every pair the same weight whatever its length (as the
 * trajectory loss does); decisions past m carry no preference term. A pair with m = 0 (an empty
 * trajectory) has no position to compare and is left out of the preference mean; the NLL term is the
 * trajectory loss's, over every pair. Metrics: rewards/chosen and rewards/rejected are the means over
 * pairs of beta times the mean log-ratio of the aligned decisions, rewards/margins the mean of their
 * difference, rewards/accuracies the share of pairs whose mean margin is positive.
 */
export function gopoTokenPairwiseLoss(
  lp: DecisionLogProbs,
  pairs: readonly PreferencePair[],
  config: Pick<GopoLossConfig, 'beta' | 'nllWeight'>,
): DecisionLossWithGrad {
  const grad = lp.policy.map((p) => new Float64Array(p.length));
  if (pairs.length === 0) return { loss: 0, grad, metrics: { 'pairs/count': 0 } };
  const aligned = pairs.filter(
    (p) => Math.min(lp.policy[p.chosen]!.length, lp.policy[p.rejected]!.length) > 0,
  );
  const d = (i: number, t: number) => (lp.policy[i]![t] as number) - (lp.reference[i]![t] as number);
  let loss = 0;
  let chosenReward = 0;
  let rejectedReward = 0;
  let correct = 0;
  const inv = aligned.length > 0 ? 1 / aligned.length : 0;
  for (const { chosen, rejected } of aligned) {
    const m = Math.min(lp.policy[chosen]!.length, lp.policy[rejected]!.length);
    let margin = 0;
    for (let t = 0; t < m; t++) {
      const dc = d(chosen, t);
      const dr = d(rejected, t);
      const z = config.beta * (dc - dr);
      loss -= (logSigmoid(z) / m) * inv;
      // d(-log sigmoid(z))/dz = -(1 - sigmoid(z))
      const g = (-(1 - sigmoid(z)) * config.beta * inv) / m;
      grad[chosen]![t] = grad[chosen]![t]! + g;
      grad[rejected]![t] = grad[rejected]![t]! - g;
      chosenReward += (config.beta * dc * inv) / m;
      rejectedReward += (config.beta * dr * inv) / m;
      margin += z / m;
    }
    if (margin > 0) correct++;
  }
  if (config.nllWeight > 0) {
    const each = 1 / pairs.length;
    for (const { chosen } of pairs) {
      const row = lp.policy[chosen]!;
      const t = Math.max(1, row.length);
      for (let k = 0; k < row.length; k++) {
        loss += ((config.nllWeight * -(row[k] as number)) / t) * each;
        grad[chosen]![k] = grad[chosen]![k]! - (config.nllWeight / t) * each;
      }
    }
  }
  return {
    loss,
    grad,
    metrics: {
      'pairs/count': pairs.length,
      'rewards/chosen': chosenReward,
      'rewards/rejected': rejectedReward,
      'rewards/margins': chosenReward - rejectedReward,
      'rewards/accuracies': aligned.length > 0 ? correct / aligned.length : 0,
    },
  };
}

/** (R_i - mean) / (std + eps) within one group of rollouts of the same scenario. */
export function groupAdvantages(rewards: readonly number[], eps: number): Float64Array {
  const n = rewards.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const mean = rewards.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(rewards.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  for (let i = 0; i < n; i++) out[i] = ((rewards[i] as number) - mean) / (std + eps);
  return out;
}

/**
 * The group-relative variant, per decision: clipped surrogate on the ratio to the behaviour policy plus
 * an explicit KL(pi || pi_ref) penalty (the non-negative estimator exp(q) - q - 1 with q = ref - logp).
 * Returns the mean loss over decisions and d loss / d logp per decision.
 */
export function groupRelativeLoss(
  decisions: {
    readonly logp: ArrayLike<number>;
    readonly oldLogp: ArrayLike<number>;
    readonly refLogp: ArrayLike<number>;
    readonly advantage: ArrayLike<number>;
  },
  config: Pick<GopoLossConfig, 'clipEps' | 'klCoef'>,
): LossWithGrad {
  const n = decisions.logp.length;
  const grad = new Float64Array(n);
  if (n === 0) return { loss: 0, grad, metrics: {} };
  let loss = 0;
  let kl = 0;
  let clipped = 0;
  for (let t = 0; t < n; t++) {
    const logp = decisions.logp[t] as number;
    const a = decisions.advantage[t] as number;
    const ratio = Math.exp(logp - (decisions.oldLogp[t] as number));
    const clippedRatio = Math.min(Math.max(ratio, 1 - config.clipEps), 1 + config.clipEps);
    const unclippedTerm = ratio * a;
    const clippedTerm = clippedRatio * a;
    // The gradient flows only through the unclipped branch when it is the minimum.
    const useUnclipped = unclippedTerm <= clippedTerm;
    loss -= Math.min(unclippedTerm, clippedTerm) / n;
    if (useUnclipped) grad[t] = (grad[t] as number) - (ratio * a) / n;
    else clipped++;
    const q = (decisions.refLogp[t] as number) - logp;
    const k = Math.exp(q) - q - 1;
    kl += k / n;
    loss += (config.klCoef * k) / n;
    // d/dlogp [exp(q) - q - 1] = -exp(q) + 1
    grad[t] = (grad[t] as number) + (config.klCoef * (1 - Math.exp(q))) / n;
  }
  return { loss, grad, metrics: { 'policy/kl': kl, 'policy/clip_frac': clipped / n } };
}
