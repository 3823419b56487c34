/**
 * Which scenarios a run plays. Training scenarios are drawn per phase from the run seed below
 * EVAL_SEED_BASE; held-out evaluation always plays the same scenarios EVAL_SEED_BASE + i, whatever the
 * run seed, so every evaluation of every run and baseline is paired session by session.
 */
import { Rng } from '@gopo/core';
import type { EpisodeJob } from '../rollout/episodes.js';

export const EVAL_SEED_BASE = 1_000_000_000;

/** The G rollouts of each of `scenarios` training scenarios of phase `phase`. */
export function trainingJobs(
  seed: number,
  phase: number,
  scenarios: number,
  groupSize: number,
): EpisodeJob[] {
  const draw = Rng.fromSeed(seed, `train-scenarios:${phase}`);
  const streams = Rng.fromSeed(seed, `train-streams:${phase}`);
  const jobs: EpisodeJob[] = [];
  for (let s = 0; s < scenarios; s++) {
    const scenarioSeed = draw.int(EVAL_SEED_BASE);
    for (let k = 0; k < groupSize; k++)
      jobs.push({
        id: `p${phase}-s${s}-g${k}`,
        seed: scenarioSeed,
        scenario: `train-${scenarioSeed}`,
        group: s,
        sample: k,
        streamSeed: streams.int(2 ** 31),
        greedy: false,
      });
  }
  return jobs;
}

/** Held-out scenarios 0..n-1, played once each (greedy unless asked to sample). */
export function evalJobs(n: number, options: { greedy?: boolean; streamSeed?: number } = {}): EpisodeJob[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `eval-${String(i).padStart(5, '0')}`,
    seed: EVAL_SEED_BASE + i,
    scenario: `eval-${i}`,
    group: i,
    sample: 0,
    streamSeed: (options.streamSeed ?? 0) * 1_000_003 + i,
    greedy: options.greedy ?? true,
  }));
}
