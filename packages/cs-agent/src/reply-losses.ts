/**
 * The CS Agent's update losses as @gopo/nn graphs over reply tokens, with float64 host references
 * (reply-losses.test.ts checks graph against host):
 *
 * - per-turn RL: the clipped surrogate on reply tokens only, -mean_tokens min(r A, clip(r, 1-eps,
 *   1+eps) A) with r = exp(log pi - log pi_old) per token and A the reply's advantage against a
 *   per-state group baseline (several sampled replies to the same state, A = R - mean R). No value
 *   head: a turn's reward arrives once, at the end of one short reply, so the group mean of replies
 *   to the very same state is an unbiased, low-variance baseline without a second network to fit.
 * - KTO (Ethayarajh et al. 2024) on good/bad replies: with r = log pi(y|x) - log pi_ref(y|x) summed
 *   over the reply and z the batch's (clamped, constant) KL estimate,
 *   L = mean lambda_D (1 - sigma(beta (r - z))) over desirable + lambda_U (1 - sigma(beta (z - r))) over
 *   undesirable replies.
 *
 * Batch layout: ids [B, T] prompt and reply right-padded, attention [B, T], replyMask [B, T-1] (1 where
 * token t+1 is a reply token, its end-of-turn included).
 */
import { type LlamaConfig, llamaTokenLogProbs } from '@gopo/lm';
import type { Graph, Tensor } from '@gopo/nn';
import { z } from 'zod';

export const ReplyRlConfigSchema = z
  .object({
    clipEps: z.number().positive().max(1).default(0.2).describe('PPO ratio clip'),
    samples: z.number().int().min(2).default(4).describe('replies sampled per state (the group baseline)'),
    temperature: z.number().positive().default(1).describe('sampling temperature of the behaviour replies'),
  })
  .strict()
  .describe('per-turn RL of the CS Agent');
export type ReplyRlConfig = z.infer<typeof ReplyRlConfigSchema>;

export const KtoConfigSchema = z
  .object({
    beta: z.number().positive().default(0.1).describe('KTO inverse temperature'),
    desirableWeight: z.number().positive().default(1).describe('lambda_D'),
    undesirableWeight: z.number().positive().default(1).describe('lambda_U'),
  })
  .strict()
  .describe('KTO on good/bad replies');
export type KtoConfig = z.infer<typeof KtoConfigSchema>;

/** log pi of every next token, [B, T-1] (the reply mask picks the reply's). */
export function replyTokenLogProbs(g: Graph, cfg: LlamaConfig, ids: Tensor, attention: Tensor): Tensor {
  return llamaTokenLogProbs(g, ids, cfg, { attentionMask: attention });
}

/**
 * The clipped surrogate on reply tokens; `advantage` is [B] (one per reply) or [B, T-1] (one per token,
 * token-level PPO).
 */
export function clippedSurrogateLoss(
  g: Graph,
  logp: Tensor,
  oldLogp: Tensor,
  advantage: Tensor,
  replyMask: Tensor,
  clipEps: number,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  return g.scope('cs_rl', () => {
    const [b] = logp.shape as [number];
    const a = advantage.rank === 1 ? g.reshape(advantage, [b, 1]) : advantage;
    const ratio = g.exp(g.sub(logp, oldLogp));
    const unclipped = g.mul(ratio, a);
    const bounded = g.min(g.max(g.stopGradient(ratio), 1 - clipEps), 1 + clipEps);
    const clipped = g.mul(bounded, a);
    const useUnclipped = g.not(g.greater(unclipped, clipped));
    const surrogate = g.where(useUnclipped, unclipped, clipped);
    const count = g.max(g.reduceSum(replyMask), 1);
    const mean = (v: Tensor) => g.div(g.reduceSum(g.mul(v, replyMask)), count);
    return {
      loss: g.neg(mean(surrogate)),
      metrics: {
        'cs/clip_frac': g.stopGradient(mean(g.cast(g.not(useUnclipped), logp.dtype))),
        'cs/ratio': g.stopGradient(mean(ratio)),
      },
    };
  });
}

/** KTO over replies: `seqLogp`, `refSeqLogp`, `desirable` (1/0) and `weights` (1 real, 0 padding) are [B]. */
export function ktoLoss(
  g: Graph,
  seqLogp: Tensor,
  refSeqLogp: Tensor,
  desirable: Tensor,
  weights: Tensor,
  zRef: Tensor,
  config: KtoConfig,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  return g.scope('kto', () => {
    const r = g.sub(seqLogp, refSeqLogp);
    const good = g.sub(1, g.sigmoid(g.mul(g.sub(r, zRef), config.beta)));
    const bad = g.sub(1, g.sigmoid(g.mul(g.sub(zRef, r), config.beta)));
    const undesirable = g.sub(1, desirable);
    const per = g.add(
      g.mul(g.mul(good, desirable), config.desirableWeight),
      g.mul(g.mul(bad, undesirable), config.undesirableWeight),
    );
    const count = g.max(g.reduceSum(weights), 1);
    return {
      loss: g.div(g.reduceSum(g.mul(per, weights)), count),
      metrics: { 'kto/reward': g.stopGradient(g.div(g.reduceSum(g.mul(r, weights)), count)) },
    };
  });
}

/** Host float64 reference of clippedSurrogateLoss (value and gradient w.r.t. the token log-probs). */
export function clippedSurrogateHost(
  logp: readonly (readonly number[])[],
  oldLogp: readonly (readonly number[])[],
  advantage: readonly number[],
  mask: readonly (readonly number[])[],
  clipEps: number,
): { loss: number; grad: number[][] } {
  let count = 0;
  for (const row of mask) for (const m of row) count += m;
  count = Math.max(count, 1);
  let loss = 0;
  const grad = logp.map((row) => row.map(() => 0));
  logp.forEach((row, b) => {
    row.forEach((lp, t) => {
      const m = mask[b]![t]!;
      if (m === 0) return;
      const ratio = Math.exp(lp - oldLogp[b]![t]!);
      const a = advantage[b]!;
      const un = ratio * a;
      const cl = Math.min(Math.max(ratio, 1 - clipEps), 1 + clipEps) * a;
      if (un <= cl) {
        loss -= (m * un) / count;
        grad[b]![t] = -(m * un) / count;
      } else loss -= (m * cl) / count;
    });
  });
  return { loss, grad };
}

/** Host float64 reference of ktoLoss (value and gradient w.r.t. the sequence log-probs). */
export function ktoHost(
  seqLogp: readonly number[],
  refSeqLogp: readonly number[],
  desirable: readonly boolean[],
  zRef: number,
  config: KtoConfig,
): { loss: number; grad: number[] } {
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const n = seqLogp.length;
  let loss = 0;
  const grad = seqLogp.map((lp, i) => {
    const r = lp - refSeqLogp[i]!;
    if (desirable[i]) {
      const s = sig(config.beta * (r - zRef));
      loss += (config.desirableWeight * (1 - s)) / n;
      return (-config.desirableWeight * config.beta * s * (1 - s)) / n;
    }
    const s = sig(config.beta * (zRef - r));
    loss += (config.undesirableWeight * (1 - s)) / n;
    return (config.undesirableWeight * config.beta * s * (1 - s)) / n;
  });
  return { loss, grad };
}
