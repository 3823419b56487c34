/**
 * The per-token rewards of an LM tool agent's episode for PPO (DESIGN.md 4.5, Du et al. 2024):
 *
 *   r_t = w_step (R(prefix ending at t) - R(prefix ending at t - 1))     R: Ru, Rg or Rtod
 *       + [t = last token of the episode] w_goal goal reward             (the env's sparse reward)
 *
 * The prefix is the episode's generated tokens in order (every step's completion, concatenated), so
 * the counts |SV ∩ SV^| and |S ∩ S^| grow over the whole dialogue: an item is rewarded once, at the
 * token of the step that first completes it, and stating it again earns nothing. The step rewards
 * of an episode sum to R of everything it stated. The KL penalty is not here (ppo-steps.ts folds it in).
 */
import { progressiveRewards, type TokenMark } from '@gopo/rewards';
import { match } from 'ts-pattern';
import { z } from 'zod';
import type { StatedItem, StepTruth } from './toolwoz-step-items.js';

const alpha = z.number().min(0).default(1).describe('penalty rate alpha of Ru (missing slot values)');
const beta = z.number().min(0).default(1).describe('penalty rate beta of Rg (missing requested slots)');

export const ToolStepRewardSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('none').describe('no step reward: the goal reward alone') }),
    z.strictObject({ kind: z.literal('u').describe('Ru over the slot values of the calls (SV)'), alpha }),
    z.strictObject({
      kind: z.literal('g').describe('Rg over the requested slots the replies give (S)'),
      beta,
    }),
    z.strictObject({ kind: z.literal('tod').describe('Rtod over both sets'), alpha, beta }),
  ])
  .describe('which step reward of Du et al. 2024 the tokens get (toolwoz-step-items.ts defines SV and S)');
export type ToolStepReward = z.infer<typeof ToolStepRewardSchema>;

/**
 * A TokenMark per stated item, at the first token whose decoded prefix reaches the item's end;
 * `decode` turns ids into the step text (special tokens skipped), the text the items were read from.
 */
export function itemTokenMarks(
  tokens: readonly number[],
  decode: (ids: readonly number[]) => string,
  items: readonly StatedItem[],
): TokenMark[] {
  if (items.length === 0 || tokens.length === 0) return [];
  const ends: number[] = [];
  for (let k = 1; k <= tokens.length; k++) ends.push(decode(tokens.slice(0, k)).length);
  return items.map((it) => {
    const k = ends.findIndex((e) => e >= it.end);
    return { token: k >= 0 ? k : tokens.length - 1, kind: it.kind, key: it.key };
  });
}

/** One generated step of an episode: how many tokens it has and its marks (step-local token indices). */
export interface MarkedStep {
  readonly numTokens: number;
  readonly marks: readonly TokenMark[];
}

export interface EpisodeRewardOptions {
  readonly reward: ToolStepReward;
  readonly stepWeight: number;
  readonly goalWeight: number;
}

/** The task reward of every token of every step of an episode (see the module comment). */
export function episodeTokenScores(
  steps: readonly MarkedStep[],
  truth: StepTruth,
  goalReward: number,
  o: EpisodeRewardOptions,
): Float64Array[] {
  const numTokens = steps.reduce((a, s) => a + s.numTokens, 0);
  const marks: TokenMark[] = [];
  let at = 0;
  for (const s of steps) {
    for (const m of s.marks) marks.push({ ...m, token: at + m.token });
    at += s.numTokens;
  }
  const progressive = (reward: 'u' | 'g' | 'tod', a: number, b: number) =>
    progressiveRewards({
      truthSlots: truth.slots,
      truthRequests: truth.requests,
      marks,
      numTokens,
      alpha: a,
      beta: b,
      reward,
    });
  const flat = match(o.reward)
    .with({ kind: 'none' }, () => new Float64Array(numTokens))
    .with({ kind: 'u' }, (r) => progressive('u', r.alpha, 0))
    .with({ kind: 'g' }, (r) => progressive('g', 0, r.beta))
    .with({ kind: 'tod' }, (r) => progressive('tod', r.alpha, r.beta))
    .exhaustive();
  for (let t = 0; t < numTokens; t++) flat[t]! *= o.stepWeight;
  if (numTokens > 0) flat[numTokens - 1]! += o.goalWeight * goalReward;
  const out: Float64Array[] = [];
  at = 0;
  for (const s of steps) {
    out.push(flat.slice(at, at + s.numTokens));
    at += s.numTokens;
  }
  return out;
}
