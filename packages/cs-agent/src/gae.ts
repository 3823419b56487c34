/**
 * Host-side pieces of token-level PPO, in float64: the per-token KL penalty folded into the rewards,
 * generalized advantage estimation over one trajectory of tokens, and advantage whitening.
 *
 * A trajectory is the token sequence one return is estimated over: one reply for the CS Agent's
 * step-reward PPO, every reply of a dialogue in turn order for the flat PPO baseline (the value of the
 * first token of the next reply bootstraps the last token of the one before). After its last token the
 * trajectory ends: V = 0 there.
 */

/** r_t - beta (log pi(y_t) - log pi_ref(y_t)): the score of each token minus its KL penalty. */
export function klPenalizedTokenRewards(
  scores: ArrayLike<number>,
  logprobs: ArrayLike<number>,
  refLogprobs: ArrayLike<number>,
  beta: number,
): Float64Array {
  if (scores.length !== logprobs.length || scores.length !== refLogprobs.length)
    throw new RangeError(
      `klPenalizedTokenRewards: ${scores.length} scores, ${logprobs.length} log-probs, ${refLogprobs.length} reference log-probs`,
    );
  return Float64Array.from(
    { length: scores.length },
    (_, t) => scores[t]! - beta * (logprobs[t]! - refLogprobs[t]!),
  );
}

export interface GaeResult {
  /** A_t = sum_k (gamma lambda)^k delta_{t+k}, delta_t = r_t + gamma V_{t+1} - V_t. */
  readonly advantages: Float64Array;
  /** The value targets A_t + V_t (lambda-returns). */
  readonly returns: Float64Array;
}

/** GAE (Schulman et al. 2016) over one trajectory that ends after its last token. */
export function gae(
  rewards: ArrayLike<number>,
  values: ArrayLike<number>,
  gamma: number,
  lambda: number,
): GaeResult {
  const n = rewards.length;
  if (values.length !== n) throw new RangeError(`gae: ${n} rewards but ${values.length} values`);
  const advantages = new Float64Array(n);
  const returns = new Float64Array(n);
  let next = 0; // A_{t+1}
  for (let t = n - 1; t >= 0; t--) {
    const vNext = t + 1 < n ? values[t + 1]! : 0;
    const delta = rewards[t]! + gamma * vNext - values[t]!;
    next = delta + gamma * lambda * next;
    advantages[t] = next;
    returns[t] = next + values[t]!;
  }
  return { advantages, returns };
}

/** (x - mean) / (std + eps) over all of `xs` (population std); a constant batch becomes zeros. */
export function whiten(xs: ArrayLike<number>, eps = 1e-8): Float64Array {
  const n = xs.length;
  if (n === 0) return new Float64Array(0);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += xs[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (xs[i]! - mean) ** 2;
  const sd = Math.sqrt(v / n);
  return Float64Array.from({ length: n }, (_, i) => (xs[i]! - mean) / (sd + eps));
}

/** One reply of a trajectory: per token, its score (task reward), log-prob, reference log-prob and value. */
export interface TrajectoryReply {
  readonly scores: ArrayLike<number>;
  readonly logprobs: ArrayLike<number>;
  readonly refLogprobs: ArrayLike<number>;
  readonly values: ArrayLike<number>;
}

export interface TrajectoryTargets {
  /** Per reply, per token: the GAE advantage (not yet whitened). */
  readonly advantages: Float64Array[];
  /** Per reply, per token: the value target. */
  readonly returns: Float64Array[];
  /** sum_t log pi(y_t) - log pi_ref(y_t) over the trajectory (what the adaptive controller reads). */
  readonly kl: number;
  /** Sum of the KL-penalized rewards. */
  readonly reward: number;
}

/**
 * The PPO targets of one trajectory made of `replies` in order: the KL penalty folded into each
 * token's score, then GAE over the concatenated tokens (the last token of a reply bootstraps from the
 * first of the next), split back per reply.
 */
export function trajectoryTargets(
  replies: readonly TrajectoryReply[],
  beta: number,
  gamma: number,
  lambda: number,
): TrajectoryTargets {
  const rewards: number[] = [];
  const values: number[] = [];
  let kl = 0;
  for (const r of replies) {
    const shaped = klPenalizedTokenRewards(r.scores, r.logprobs, r.refLogprobs, beta);
    for (let t = 0; t < shaped.length; t++) {
      rewards.push(shaped[t]!);
      values.push(r.values[t]!);
      kl += r.logprobs[t]! - r.refLogprobs[t]!;
    }
  }
  const { advantages, returns } = gae(rewards, values, gamma, lambda);
  const out: TrajectoryTargets = {
    advantages: [],
    returns: [],
    kl,
    reward: rewards.reduce((a, b) => a + b, 0),
  };
  let at = 0;
  for (const r of replies) {
    const n = r.scores.length;
    out.advantages.push(advantages.slice(at, at + n));
    out.returns.push(returns.slice(at, at + n));
    at += n;
  }
  return out;
}

/** Whitens every value of `rows` together and hands them back in the same rows. */
export function whitenRows(rows: readonly ArrayLike<number>[]): Float64Array[] {
  const flat = whiten(rows.flatMap((r) => Array.from(r)));
  let at = 0;
  return rows.map((r) => {
    const out = flat.slice(at, at + r.length);
    at += r.length;
    return out;
  });
}
