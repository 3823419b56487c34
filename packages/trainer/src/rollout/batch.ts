import type { RolloutBatch, ScoredSession, TrajectoryRecord } from '@gopo/dialogue';
import type { EpisodeResult } from './episodes.js';

/** Played episodes (and their scores, when scored) as one rollout batch; groups keep the jobs' indices. */
export function assembleBatch(
  results: readonly EpisodeResult[],
  strategies: readonly string[],
  scores?: readonly ScoredSession[],
): RolloutBatch {
  const trajectories: TrajectoryRecord[] = results.map((r, i) => ({
    scenario: r.job.scenario,
    group: r.job.group,
    session: r.session,
    reward: scores ? scores[i]!.total : null,
    rewardParts: scores ? { ...scores[i]!.parts } : {},
    policyVersion: r.policyVersion,
  }));
  const decisions = results.flatMap((r, i) => r.decisions.map((d) => ({ ...d, trajectory: i })));
  return { strategies: [...strategies], trajectories, decisions };
}
