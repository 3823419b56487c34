/**
 * What token-level PPO does between a rollout and its update, shared by the flat PPO baseline and the
 * CS Agent's step-reward PPO phases: the frozen reference's per-token log-probs of the sampled
 * replies, the value head's values, the targets (KL-penalized rewards, GAE, whitening; cs-agent's
 * gae.ts) and the epochs of clipped-surrogate + value steps.
 */
import type { Rng } from '@gopo/core';
import {
  CS_LENGTH_BUCKET,
  type CsAgent,
  type CsUpdater,
  type GeneratedReply,
  type PpoConfig,
  type ReplyItem,
  trajectoryTargets,
  whitenRows,
} from '@gopo/cs-agent';

/**
 * log pi_ref of every token of `replies`, in batches of `rows` (the last one padded with copies, so
 * only one shape per length bucket is compiled).
 */
export async function referenceTokenLogprobs(
  reference: CsAgent,
  replies: readonly GeneratedReply[],
  rows: number,
): Promise<number[][]> {
  const out: number[][] = [];
  for (let at = 0; at < replies.length; at += rows) {
    const chunk = replies.slice(at, at + rows);
    const padded = [...chunk, ...Array.from({ length: rows - chunk.length }, () => chunk[0]!)];
    const r = await reference.model.scoreContinuations(
      padded.map((g) => g.prompt),
      padded.map((g) => g.tokens),
      { padId: reference.tokenizer.padId, lengthMultiple: CS_LENGTH_BUCKET },
    );
    out.push(...r.logprobs.slice(0, chunk.length));
  }
  return out;
}

/** A trajectory to learn from: its replies in order and, per reply, the task reward of each token. */
export interface PpoTrajectory {
  readonly replies: readonly GeneratedReply[];
  readonly scores: readonly (readonly number[])[];
}

export interface PpoBatch {
  readonly items: ReplyItem[];
  /** Per trajectory: sum of log pi - log pi_ref over its tokens. */
  readonly kls: number[];
  /** Per trajectory: the sum of its KL-penalized token rewards. */
  readonly rewards: number[];
  /** Mean value prediction over the tokens (before the update). */
  readonly meanValue: number;
}

/** Reference log-probs, values and targets of `trajectories` under KL coefficient `beta`. */
export async function ppoBatch(
  trajectories: readonly PpoTrajectory[],
  ctx: {
    readonly reference: CsAgent;
    readonly updater: CsUpdater;
    readonly ppo: PpoConfig;
    readonly beta: number;
  },
): Promise<PpoBatch> {
  const replies = trajectories.flatMap((t) => t.replies);
  const ref = await referenceTokenLogprobs(ctx.reference, replies, ctx.updater.rows);
  const values = await ctx.updater.values(replies.map((r) => ({ prompt: r.prompt, tokens: r.tokens })));
  const items: ReplyItem[] = [];
  const advantages: Float64Array[] = [];
  const returns: Float64Array[] = [];
  const kls: number[] = [];
  const rewards: number[] = [];
  let at = 0;
  for (const t of trajectories) {
    const parts = t.replies.map((r, i) => ({
      scores: t.scores[i]!,
      logprobs: r.logprobs,
      refLogprobs: ref[at + i]!,
      values: values[at + i]!,
    }));
    const targets = trajectoryTargets(parts, ctx.beta, ctx.ppo.gamma, ctx.ppo.lambda);
    advantages.push(...targets.advantages);
    returns.push(...targets.returns);
    kls.push(targets.kl);
    rewards.push(targets.reward);
    at += t.replies.length;
  }
  const adv = ctx.ppo.whiten ? whitenRows(advantages) : advantages;
  replies.forEach((r, i) => {
    items.push({
      prompt: r.prompt,
      tokens: r.tokens,
      logprobs: r.logprobs,
      advantages: Array.from(adv[i]!),
      returns: Array.from(returns[i]!),
      values: values[i]!,
    });
  });
  const flat = values.flat();
  return {
    items,
    kls,
    rewards,
    meanValue: flat.length ? flat.reduce((a, b) => a + b, 0) / flat.length : Number.NaN,
  };
}

/**
 * `epochs` passes over `items` in shuffled minibatches of the updater's rows. Returns the mean of the
 * steps' loss (`loss/ppo`), of the loss graph's own metrics (ppo/policy_loss, ppo/value_loss,
 * ppo/clip_frac, ...) and of the gradient norm, plus the number of steps.
 */
export async function ppoEpochs(
  updater: CsUpdater,
  items: readonly ReplyItem[],
  epochs: number,
  rng: Rng,
): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  let steps = 0;
  const add = (k: string, v: number) => {
    sums[k] = (sums[k] ?? 0) + v;
  };
  for (let e = 0; e < epochs; e++) {
    const order = rng.shuffle(items.slice());
    for (let at = 0; at < order.length; at += updater.rows) {
      const r = await updater.step(order.slice(at, at + updater.rows));
      steps++;
      add('loss/ppo', r.loss);
      add('ppo/grad_norm', r.gradNorm);
      for (const [k, v] of Object.entries(r.metrics)) add(k, v);
    }
  }
  const out: Record<string, number> = { 'ppo/steps': steps };
  for (const [k, v] of Object.entries(sums)) out[k] = v / Math.max(steps, 1);
  return out;
}
