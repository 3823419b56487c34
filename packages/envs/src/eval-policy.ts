import { hashString, Rng } from '@gopo/core';
import type { UserMessage } from '@gopo/dialogue';
import { bootstrapMean, type Interval, joshSummary, passHatK, trialsByTask } from '@gopo/rewards';
import { runToolEpisode, type ToolEnv, type ToolEpisode, type ToolPolicy } from './tool-env.js';

/** A tool environment that starts an episode for one goal or task. */
export interface ResettableToolEnv<P, G> extends ToolEnv<P> {
  reset(item: G, seed: number, id?: string): UserMessage;
}

/** The seed of one episode: the run's seed, the trial and the item, mixed. */
export const trialSeed = (seed: number, trial: number, item: number) =>
  hashString(`${seed}/${trial}/${item}`);

/**
 * Runs a scripted policy on every item for `trials` trials (each trial with its own user wording);
 * `onEpisode` sees every finished episode (to write it out).
 */
export async function runPolicyTrials<P, G>(
  env: ResettableToolEnv<P, G>,
  items: readonly { readonly id: string; readonly item: G }[],
  policy: ToolPolicy<P>,
  opts: {
    readonly trials: number;
    readonly seed: number;
    readonly onEpisode?: (e: ToolEpisode) => Promise<void> | void;
  },
): Promise<ToolEpisode[]> {
  const out: ToolEpisode[] = [];
  for (let trial = 0; trial < opts.trials; trial++)
    for (const [i, { id, item }] of items.entries()) {
      env.reset(item, trialSeed(opts.seed, trial, i), id);
      const e = await runToolEpisode(env, policy.create(env.privileged()));
      out.push(e);
      await opts.onEpisode?.(e);
    }
  return out;
}

/** What `gopo eval-policy` reports for one policy. */
export interface PolicySummary {
  readonly policy: string;
  readonly episodes: number;
  /** Mean reward with a 95% percentile-bootstrap interval over episodes. */
  readonly reward: Interval;
  /** Share of episodes with reward 1 (ToolWOZ's "100% success rate"). */
  readonly fullSuccessRate: number;
  /** pass^k for k = 1..trials (tau-bench), over the items. */
  readonly passHatK: readonly number[];
  readonly meanSteps: number;
  readonly sopViolationsPerEpisode: number;
  readonly endReasons: Readonly<Record<string, number>>;
}

export function summarizePolicy(
  policy: string,
  episodes: readonly ToolEpisode[],
  trials: number,
  seed: number,
): PolicySummary {
  const rewards = episodes.map((e) => e.reward);
  const josh = joshSummary(rewards);
  const byTask = trialsByTask(episodes.map((e) => ({ task: e.id, reward: e.reward })));
  const endReasons: Record<string, number> = {};
  for (const e of episodes) endReasons[e.endReason] = (endReasons[e.endReason] ?? 0) + 1;
  const n = Math.max(1, episodes.length);
  return {
    policy,
    episodes: episodes.length,
    reward: bootstrapMean(rewards, {
      resamples: 1000,
      confidence: 0.95,
      rng: Rng.fromSeed(seed, 'eval-policy-ci'),
    }),
    fullSuccessRate: josh.fullSuccessRate,
    passHatK: Array.from({ length: trials }, (_, k) => passHatK(byTask, k + 1)),
    meanSteps: episodes.reduce((a, e) => a + e.steps, 0) / n,
    sopViolationsPerEpisode: episodes.reduce((a, e) => a + e.sopViolations, 0) / n,
    endReasons,
  };
}
