/**
 * Held-out evaluation of a strategy policy with a reply backend: greedy episodes on the fixed
 * held-out scenarios, scored by the metric suite of `gopo eval` with bootstrap intervals.
 */
import type { Session } from '@gopo/dialogue';
import {
  type Evaluation,
  type MetricsConfig,
  MetricsConfigSchema,
  type ScoredFile,
  scoreSessions,
  scoringContext,
  selectMetrics,
  summarize,
} from '@gopo/rewards';
import type { EpisodeJob } from '../rollout/episodes.js';
import type { RolloutWorkerPool } from '../rollout/worker-pool.js';
import { evalJobs } from './scenarios.js';

/** The metrics every training report shows, in order. */
export const REPORT_METRICS = [
  'tse',
  'gre',
  'esndcg',
  'success_rate',
  'sop_compliance',
  'user_turns',
] as const;

export interface PolicyEvaluation {
  readonly evaluation: Evaluation;
  readonly scored: ScoredFile;
  readonly sessions: readonly Session[];
}

/** Scores sessions in memory as `gopo eval` would score their log (ids kept for paired comparisons). */
export function scoreInMemory(
  sessions: readonly Session[],
  metricsConfig: MetricsConfig,
  seed: number,
  label = '(in memory)',
): { evaluation: Evaluation; scored: ScoredFile } {
  const config = MetricsConfigSchema.parse({ ...metricsConfig, metrics: [...REPORT_METRICS] });
  const metrics = selectMetrics(config);
  const table = scoreSessions(sessions, metrics, scoringContext(config));
  const scored: ScoredFile = {
    file: label,
    table,
    ids: new Map(sessions.map((s, i) => [s.session_id, i])),
    duplicateIds: 0,
    skipped: 0,
    skippedLines: [],
  };
  return { evaluation: summarize(scored, metrics, config, seed), scored };
}

/** Plays the held-out scenarios 0..n-1 greedily through `pool` and scores them. */
export async function evaluateHeldOut(
  pool: RolloutWorkerPool,
  n: number,
  metricsConfig: MetricsConfig,
  seed: number,
  options: { greedy?: boolean; jobs?: readonly EpisodeJob[] } = {},
): Promise<PolicyEvaluation> {
  const jobs = options.jobs ?? evalJobs(n, { greedy: options.greedy ?? true, streamSeed: seed });
  const results = await pool.run(jobs);
  const sessions = results.map((r) => r.session);
  return { ...scoreInMemory(sessions, metricsConfig, seed, 'held-out'), sessions };
}
