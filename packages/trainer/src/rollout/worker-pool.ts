/**
 * Episodes run behind a worker-pool interface: jobs in, results tagged with the policy version that
 * acted out. The in-process pool steps all of a call's episodes in one lockstep batch; the thread
 * pool (thread-pool.ts) splits jobs across worker threads that hold their own copies of the policy;
 * a queue engine across machines can implement the same interface, since jobs and results are
 * plain, schema-checked data.
 */
import type { DialogueEnv } from '@gopo/dialogue';
import {
  type EpisodeJob,
  type EpisodeResult,
  type EpisodeRoles,
  runEpisodes,
  type TurnRecord,
} from './episodes.js';

export interface RunJobsOptions {
  /** Called as each episode finishes (progress). */
  readonly onEpisode?: (result: EpisodeResult) => void;
  /** Called on every agent turn (in-process pools only: states hold views that do not cross threads). */
  readonly onTurn?: (turn: TurnRecord) => void;
}

export interface RolloutWorkerPool {
  /** Workers that play episodes in parallel. */
  readonly workers: number;
  /** Plays every job; results in job order, each tagged with the version of the policy that acted. */
  run(jobs: readonly EpisodeJob[], options?: RunJobsOptions): Promise<EpisodeResult[]>;
  /** Makes later episodes act with the learner's current weights (a no-op where they are shared). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Splits jobs by `greedy` (one lockstep batch each) and puts the results back in job order. */
export async function runMixedJobs(
  jobs: readonly EpisodeJob[],
  play: (jobs: readonly EpisodeJob[]) => Promise<EpisodeResult[]>,
): Promise<EpisodeResult[]> {
  const out: EpisodeResult[] = new Array(jobs.length);
  for (const greedy of [false, true]) {
    const idx = jobs.flatMap((j, i) => (j.greedy === greedy ? [i] : []));
    if (idx.length === 0) continue;
    const results = await play(idx.map((i) => jobs[i]!));
    idx.forEach((i, k) => {
      out[i] = results[k]!;
    });
  }
  return out;
}

/** Every episode in this thread, with the learner's own policy objects (weights shared, no sync). */
export class InProcessPool implements RolloutWorkerPool {
  readonly workers = 1;

  constructor(
    private readonly roles: EpisodeRoles,
    private readonly makeEnv: () => DialogueEnv,
    private readonly maxLive = 64,
  ) {}

  run(jobs: readonly EpisodeJob[], options: RunJobsOptions = {}): Promise<EpisodeResult[]> {
    return runMixedJobs(jobs, (part) =>
      runEpisodes(part, this.roles, this.makeEnv, {
        maxLive: this.maxLive,
        ...(options.onEpisode ? { onEpisode: options.onEpisode } : {}),
        ...(options.onTurn ? { onTurn: options.onTurn } : {}),
      }),
    );
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {}
}
