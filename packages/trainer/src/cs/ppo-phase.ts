/**
 * The CS Agent's step-reward PPO phase (DESIGN.md 4.5 and 4.6), Expert frozen: one reply is sampled
 * for each agent turn the episodes reach (its state and commanded strategy), and every reply token
 * gets a reward:
 *
 *   r_t = l_step Rtod_t                                   (progressive: where a stated value completes)
 *       + [t = last] (l_adh adherence + l_sop compliance)
 *       - beta_KL (log pi(y_t) - log pi_ref(y_t))         (adaptive controller on the reply's KL)
 *
 * Rtod's truth is the set of ids, prices and codes the template agent's reply for the same state and
 * strategy states (step-marks.ts); adherence and compliance are the per-turn RL phase's (phases.ts).
 * Each reply is its own trajectory: GAE with the value head inside the reply, whitened advantages,
 * then epochs of the clipped surrogate plus the clipped value loss.
 */
import type { Rng } from '@gopo/core';
import type { PpoConfig } from '@gopo/cs-agent';
import type { EpisodeJob } from '../rollout/episodes.js';
import {
  type CsPhaseContext,
  type CsPhaseResult,
  collectTurns,
  type Scored,
  sampleAndScore,
} from './phases.js';
import { ppoBatch, ppoEpochs } from './ppo-steps.js';
import { stepTokenRewards } from './step-marks.js';

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** The task reward of every token of a scored reply (no KL: ppoBatch folds that in). */
export function replyTokenScores(
  s: Pick<Scored, 'item' | 'truth' | 'adherent' | 'compliant'>,
  ctx: Pick<CsPhaseContext, 'agent' | 'weights' | 'stepReward'>,
): Float64Array {
  const tokens = s.item.tokens;
  const decode = (ids: readonly number[]) => ctx.agent.tokenizer.decode(ids, { skipSpecial: true });
  const step = stepTokenRewards(tokens, decode, s.truth, ctx.stepReward);
  const out = Float64Array.from(step, (x) => ctx.weights.step * x);
  if (out.length > 0)
    out[out.length - 1]! +=
      ctx.weights.adherence * (s.adherent ? 1 : 0) + ctx.weights.compliance * (s.compliant ? 1 : 0);
  return out;
}

/** One step-reward PPO phase on the turns of `jobs` (the updater must have the ppo objective). */
export async function csPpoPhase(
  ctx: CsPhaseContext,
  jobs: readonly EpisodeJob[],
  options: { ppo: PpoConfig; temperature: number; epochs: number; rng: Rng },
): Promise<CsPhaseResult> {
  const turns = await collectTurns(ctx.pool, jobs);
  const scored = await sampleAndScore(ctx, turns, 1, options.temperature, options.rng);
  const beta = ctx.kl.value;
  const trajectories = scored.map((s) => ({
    replies: [{ prompt: s.item.prompt, tokens: s.item.tokens, logprobs: s.item.logprobs ?? [], text: '' }],
    scores: [Array.from(replyTokenScores(s, ctx))],
  }));
  const batch = await ppoBatch(trajectories, {
    reference: ctx.reference,
    updater: ctx.updater,
    ppo: options.ppo,
    beta,
  });
  const update = await ppoEpochs(ctx.updater, batch.items, options.epochs, options.rng);
  const klMean = mean(batch.kls);
  ctx.kl.update(klMean);
  return {
    metrics: {
      'cs/reward': mean(batch.rewards),
      'cs/adherence': mean(scored.map((s) => (s.adherent ? 1 : 0))),
      'cs/compliance': mean(scored.map((s) => (s.compliant ? 1 : 0))),
      'cs/step': mean(scored.map((s) => s.step)),
      'cs/kl': klMean,
      'cs/replies': scored.length,
      'cs/beta': ctx.kl.value,
      'ppo/value_mean': batch.meanValue,
      ...update,
    },
  };
}
