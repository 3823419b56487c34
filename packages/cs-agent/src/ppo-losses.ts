/**
 * Token-level PPO of a reply model with a value head (the flat PPO baseline and the CS Agent's
 * step-reward PPO, DESIGN.md 4.5 and 4.6), as @gopo/nn graphs with a float64 host reference
 * (ppo-losses.test.ts checks graph against host):
 *
 *   L = -mean_tokens min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t)
 *       + c_v mean_tokens 1/2 max((V_t - R_t)^2, (clip(V_t, V_t^old - eps_v, V_t^old + eps_v) - R_t)^2)
 *
 * r_t = pi(y_t)/pi_old(y_t) per reply token, A_t the whitened GAE advantage and R_t the lambda-return
 * (gae.ts; the KL penalty to the frozen reference is already in the rewards), V_t the value head on the
 * hidden state the token is predicted from. The value clip keeps one noisy batch from moving the
 * value far from the values the advantages were computed with.
 *
 * Batch layout as reply-losses.ts: ids [B, T], attention [B, T], replyMask [B, T-1]; every per-token
 * input is [B, T-1], position t standing for token t+1.
 */
import { type LlamaConfig, llamaTokenLogProbsWithHidden } from '@gopo/lm';
import type { Graph, Tensor } from '@gopo/nn';
import { z } from 'zod';
import { clippedSurrogateLoss } from './reply-losses.js';
import { valueHead } from './value-head.js';

export const PpoConfigSchema = z
  .object({
    clipEps: z.number().positive().max(1).default(0.2).describe('PPO ratio clip eps'),
    valueClipEps: z
      .number()
      .positive()
      .default(0.2)
      .describe('eps_v: how far a step may move a value from the one the advantages used'),
    valueCoef: z.number().min(0).default(0.5).describe('c_v: weight of the value loss'),
    gamma: z.number().min(0).max(1).default(1).describe('discount per token'),
    lambda: z.number().min(0).max(1).default(0.95).describe('GAE lambda'),
    whiten: z
      .boolean()
      .default(true)
      .describe("whiten the advantages over each phase's tokens (mean 0, std 1)"),
  })
  .strict()
  .describe('token-level PPO with a value head');
export type PpoConfig = z.infer<typeof PpoConfigSchema>;

/** Per-token log-probs [B, T-1] and the values [B, T-1] of the states they are predicted from. */
export function replyLogProbsAndValues(
  g: Graph,
  cfg: LlamaConfig,
  ids: Tensor,
  attention: Tensor,
): { logp: Tensor; values: Tensor } {
  const [b, t] = ids.shape as [number, number];
  const { logprobs, hidden } = llamaTokenLogProbsWithHidden(g, ids, cfg, { attentionMask: attention });
  const values = g.slice(valueHead(g, hidden), [0], [t - 1], [1]);
  return { logp: logprobs, values: g.reshape(values, [b, t - 1]) };
}

/** The clipped value loss 1/2 max((V - R)^2, (clip(V, V_old +- eps_v) - R)^2), masked mean. */
export function clippedValueLoss(
  g: Graph,
  values: Tensor,
  oldValues: Tensor,
  returns: Tensor,
  mask: Tensor,
  valueClipEps: number,
): { loss: Tensor; clipFrac: Tensor } {
  return g.scope('value_loss', () => {
    const clipped = g.min(g.max(values, g.sub(oldValues, valueClipEps)), g.add(oldValues, valueClipEps));
    const a = g.mul(g.sub(values, returns), g.sub(values, returns));
    const c = g.mul(g.sub(clipped, returns), g.sub(clipped, returns));
    const useClipped = g.greater(c, a);
    const per = g.mul(g.where(useClipped, c, a), 0.5);
    const count = g.max(g.reduceSum(mask), 1);
    return {
      loss: g.div(g.reduceSum(g.mul(per, mask)), count),
      clipFrac: g.stopGradient(g.div(g.reduceSum(g.mul(g.cast(useClipped, values.dtype), mask)), count)),
    };
  });
}

/** The PPO loss: clipped surrogate on per-token advantages plus c_v times the clipped value loss. */
export function ppoLoss(
  g: Graph,
  x: {
    readonly logp: Tensor;
    readonly oldLogp: Tensor;
    readonly advantages: Tensor;
    readonly values: Tensor;
    readonly oldValues: Tensor;
    readonly returns: Tensor;
    readonly mask: Tensor;
  },
  config: Pick<PpoConfig, 'clipEps' | 'valueClipEps' | 'valueCoef'>,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  return g.scope('ppo', () => {
    const policy = clippedSurrogateLoss(g, x.logp, x.oldLogp, x.advantages, x.mask, config.clipEps);
    const value = clippedValueLoss(g, x.values, x.oldValues, x.returns, x.mask, config.valueClipEps);
    return {
      loss: g.add(policy.loss, g.mul(value.loss, config.valueCoef)),
      metrics: {
        'ppo/policy_loss': g.stopGradient(policy.loss),
        'ppo/value_loss': g.stopGradient(value.loss),
        'ppo/clip_frac': policy.metrics['cs/clip_frac']!,
        'ppo/ratio': policy.metrics['cs/ratio']!,
        'ppo/value_clip_frac': value.clipFrac,
      },
    };
  });
}

/**
 * Host float64 reference of ppoLoss: value and gradients w.r.t. the token log-probs and the values.
 * Rows are replies, columns positions; masked positions get no loss and no gradient.
 */
export function ppoLossHost(
  x: {
    readonly logp: readonly (readonly number[])[];
    readonly oldLogp: readonly (readonly number[])[];
    readonly advantages: readonly (readonly number[])[];
    readonly values: readonly (readonly number[])[];
    readonly oldValues: readonly (readonly number[])[];
    readonly returns: readonly (readonly number[])[];
    readonly mask: readonly (readonly number[])[];
  },
  config: Pick<PpoConfig, 'clipEps' | 'valueClipEps' | 'valueCoef'>,
): { loss: number; policyLoss: number; valueLoss: number; gradLogp: number[][]; gradValues: number[][] } {
  let count = 0;
  for (const row of x.mask) for (const m of row) count += m;
  count = Math.max(count, 1);
  let policyLoss = 0;
  let valueLoss = 0;
  const gradLogp = x.logp.map((r) => r.map(() => 0));
  const gradValues = x.values.map((r) => r.map(() => 0));
  x.mask.forEach((row, b) => {
    row.forEach((m, t) => {
      if (m === 0) return;
      const ratio = Math.exp(x.logp[b]![t]! - x.oldLogp[b]![t]!);
      const a = x.advantages[b]![t]!;
      const lo = 1 - config.clipEps;
      const hi = 1 + config.clipEps;
      const unclipped = ratio * a;
      const clipped = Math.min(Math.max(ratio, lo), hi) * a;
      // The minimum of the two; the clipped branch carries no gradient.
      if (unclipped <= clipped) {
        policyLoss -= unclipped / count;
        gradLogp[b]![t] = -unclipped / count;
      } else policyLoss -= clipped / count;
      const v = x.values[b]![t]!;
      const o = x.oldValues[b]![t]!;
      const r = x.returns[b]![t]!;
      const vc = Math.min(Math.max(v, o - config.valueClipEps), o + config.valueClipEps);
      const sqU = (v - r) ** 2;
      const sqC = (vc - r) ** 2;
      if (sqC > sqU) {
        valueLoss += (0.5 * sqC) / count;
        // d vc / d v is 1 inside the clip range, 0 outside.
        const inside = v > o - config.valueClipEps && v < o + config.valueClipEps;
        gradValues[b]![t] = inside ? (config.valueCoef * (vc - r)) / count : 0;
      } else {
        valueLoss += (0.5 * sqU) / count;
        gradValues[b]![t] = (config.valueCoef * (v - r)) / count;
      }
    });
  });
  return {
    loss: policyLoss + config.valueCoef * valueLoss,
    policyLoss,
    valueLoss,
    gradLogp,
    gradValues,
  };
}
