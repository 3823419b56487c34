/**
 * A RolloutWorkerPool on N worker threads. Each worker builds its own environment factory and
 * policies from a serialisable spec (worker-spec.ts) and plays a contiguous shard of each call's
 * jobs with runEpisodes; results come back in job order. `sync()` sends the learner's weights
 * (float32 copies of its ParamStore, tagged with its version) to every worker. Since an episode's
 * trajectory depends only on its job and the weights (episodes.ts, ExpertAgent.decisionLogProbs),
 * the results equal InProcessPool's for any number of workers.
 *
 * A failure inside a worker comes back as a RolloutWorkerError naming the worker and the jobs the
 * failing call was playing; a worker that dies is reported as a RolloutWorkerExitError (the pool
 * then refuses further work). close() ends the threads gracefully: each stops at its next policy call
 * and leaves on its own. A worker is never terminated inside a model call: onnxruntime-node aborts
 * the whole process when a thread is torn down during a session run.
 */
import type { Worker } from 'node:worker_threads';
import { GopoError, siblingModule, startModuleWorker, UsageError } from '@gopo/core';
import type { ParamStore } from '@gopo/nn';
import { type EpisodeJob, type EpisodeResult, EpisodeResultSchema } from './episodes.js';
import type { RolloutWorkerPool, RunJobsOptions } from './worker-pool.js';
import { type FromWorker, FromWorkerSchema, type ParamMessage, type ToWorker } from './worker-protocol.js';
import { type RolloutWorkerSpecInput, RolloutWorkerSpecSchema } from './worker-spec.js';

const listJobs = (jobs: readonly string[]): string =>
  jobs.length === 0
    ? ''
    : jobs.length <= 4
      ? ` on job${jobs.length > 1 ? 's' : ''} ${jobs.join(', ')}`
      : ` on jobs ${jobs.slice(0, 4).join(', ')} and ${jobs.length - 4} more`;

/** A call inside a rollout worker failed (the worker lives on). */
export class RolloutWorkerError extends GopoError {
  constructor(
    readonly worker: number,
    /** Ids of the jobs the failing call was playing (empty when none was). */
    readonly jobs: readonly string[],
    readonly detail: string,
  ) {
    super(`rollout worker ${worker} failed${listJobs(jobs)}: ${detail}`);
  }
}

/** A rollout worker thread ended unexpectedly; the pool cannot play more episodes. */
export class RolloutWorkerExitError extends GopoError {
  constructor(
    readonly worker: number,
    readonly code: number | null,
    /** Ids of the jobs it was playing. */
    readonly jobs: readonly string[],
    readonly detail: string,
  ) {
    super(
      `rollout worker ${worker} exited${code === null ? '' : ` (code ${code})`}${jobs.length > 0 ? ` while playing${listJobs(jobs).replace(/^ on/, '')}` : ''}${detail ? `: ${detail}` : ''}; close the pool and open a new one`,
    );
  }
}

// From source (tests, benches, dev) the worker is rollout-worker.ts, started through tsx.
const WORKER_URL = siblingModule(import.meta.url, 'rollout-worker');

type Reply = Extract<FromWorker, { type: 'done' | 'synced' }>;

interface Pending {
  readonly jobs: readonly EpisodeJob[];
  readonly onEpisode?: (index: number, result: EpisodeResult) => void;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: Error) => void;
}

/** One worker thread and its requests in flight. */
class WorkerHandle {
  readonly ready: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 0;
  private closing = false;
  private exited = false;
  private crash: Error | undefined;
  /** Why the worker can take no more work, once it cannot (and the pool did not close it). */
  exitError: RolloutWorkerExitError | RolloutWorkerError | undefined;

  constructor(
    readonly index: number,
    readonly thread: Worker,
  ) {
    let settleReady: { resolve: () => void; reject: (e: Error) => void } | undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      settleReady = { resolve, reject };
    });
    const failReady = (e: Error) => {
      settleReady?.reject(e);
      settleReady = undefined;
    };
    thread.on('message', (raw: unknown) => {
      const parsed = FromWorkerSchema.safeParse(raw);
      if (!parsed.success) {
        this.fail(
          new RolloutWorkerError(
            index,
            this.pendingJobs(),
            `sent an unreadable message: ${parsed.error.message}`,
          ),
        );
        thread.postMessage({ type: 'close' });
        return;
      }
      const m = parsed.data;
      if (m.type === 'ready') {
        settleReady?.resolve();
        settleReady = undefined;
        return;
      }
      if (m.type === 'error' && m.request === null) {
        failReady(new RolloutWorkerError(index, m.jobs, `failed to start: ${m.name}: ${m.message}`));
        return;
      }
      const request = m.request ?? -1;
      const p = this.pending.get(request);
      if (!p) return;
      if (m.type === 'episode') {
        const job = p.jobs[m.index];
        const checked = EpisodeResultSchema.safeParse(m.result);
        if (!job || !checked.success) {
          this.pending.delete(request);
          p.reject(
            new RolloutWorkerError(
              index,
              job ? [job.id] : [],
              `sent a malformed episode result (index ${m.index}): ${checked.error?.issues[0]?.message ?? 'no such job'}`,
            ),
          );
          return;
        }
        // The result as the worker built it (parsing would fill schema defaults the in-process
        // pool's results do not have).
        p.onEpisode?.(m.index, m.result as EpisodeResult);
        return;
      }
      this.pending.delete(request);
      if (m.type === 'error') p.reject(new RolloutWorkerError(index, m.jobs, `${m.name}: ${m.message}`));
      else p.resolve(m);
    });
    thread.on('error', (e) => {
      this.crash = e;
    });
    thread.on('messageerror', (e) => {
      this.crash = e;
    });
    thread.on('exit', (code) => {
      this.exited = true;
      if (this.closing) return;
      const detail = this.crash ? `${this.crash.name}: ${this.crash.message}` : '';
      const error = new RolloutWorkerExitError(index, code, this.pendingJobs(), detail);
      failReady(error);
      this.fail(error);
    });
  }

  private pendingJobs(): string[] {
    return [...this.pending.values()].flatMap((p) => p.jobs.map((j) => j.id));
  }

  /** Rejects every call in flight with `error` and refuses later ones. */
  private fail(error: RolloutWorkerExitError | RolloutWorkerError): void {
    this.exitError ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  request(
    message:
      | Omit<Extract<ToWorker, { type: 'run' }>, 'request'>
      | Omit<Extract<ToWorker, { type: 'sync' }>, 'request'>,
    options: { onEpisode?: (index: number, result: EpisodeResult) => void; transfer?: ArrayBuffer[] } = {},
  ): Promise<Reply> {
    if (this.exitError) return Promise.reject(this.exitError);
    const request = this.nextRequest++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(request, {
        jobs: message.type === 'run' ? message.jobs : [],
        ...(options.onEpisode ? { onEpisode: options.onEpisode } : {}),
        resolve,
        reject,
      });
      this.thread.postMessage({ ...message, request }, options.transfer ?? []);
    });
  }

  /**
   * Rejects the calls in flight and asks the worker to leave: it stops at its next policy call and
   * its thread ends on its own. Only a worker that has not left after `graceMs` is terminated.
   */
  async close(graceMs = 60_000): Promise<void> {
    this.closing = true;
    const closed = new RolloutWorkerError(this.index, [], 'the pool was closed');
    for (const p of this.pending.values()) p.reject(closed);
    this.pending.clear();
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.thread.once('exit', () => resolve()));
    this.thread.postMessage({ type: 'close' });
    const timer = setTimeout(() => void this.thread.terminate(), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

export interface ThreadPoolOptions {
  /** Worker threads (at least 1). */
  readonly workers: number;
  /** What each worker builds its environment and policies from. */
  readonly spec: RolloutWorkerSpecInput;
  /**
   * The learner whose weights and version sync() sends (an Expert spec only); the pool syncs once
   * when created. Without it the workers keep the weights of the spec's folder.
   */
  readonly learner?: { readonly store: ParamStore; readonly version: number };
}

/** Episodes on worker threads; results equal InProcessPool's for the same jobs and weights. */
export class ThreadPool implements RolloutWorkerPool {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly handles: readonly WorkerHandle[],
    private readonly learner: ThreadPoolOptions['learner'],
  ) {}

  static async create(options: ThreadPoolOptions): Promise<ThreadPool> {
    if (!Number.isInteger(options.workers) || options.workers < 1)
      throw new UsageError(`a thread pool needs at least one worker, not ${options.workers}`);
    const spec = RolloutWorkerSpecSchema.parse(options.spec);
    if (options.learner && spec.policy.kind !== 'expert')
      throw new UsageError('only an Expert Agent spec can sync learner weights');
    const handles = Array.from(
      { length: options.workers },
      (_, i) => new WorkerHandle(i, startModuleWorker(WORKER_URL, { workerData: { spec, index: i } })),
    );
    try {
      const started = await Promise.allSettled(handles.map((h) => h.ready));
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      const pool = new ThreadPool(handles, options.learner);
      await pool.sync();
      return pool;
    } catch (e) {
      await Promise.all(handles.map((h) => h.close()));
      throw e;
    }
  }

  get workers(): number {
    return this.handles.length;
  }

  /** The worker threads (for tests that need to see them end). */
  get threads(): readonly Worker[] {
    return this.handles.map((h) => h.thread);
  }

  /** Runs `fn` after every earlier call has settled: runs and syncs never overlap. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      if (this.closed) throw new UsageError('the thread pool is closed');
      const gone = this.handles.find((h) => h.exitError);
      if (gone) throw gone.exitError;
      return fn();
    });
    this.queue = next.catch(() => {});
    return next;
  }

  run(jobs: readonly EpisodeJob[], options: RunJobsOptions = {}): Promise<EpisodeResult[]> {
    if (options.onTurn)
      return Promise.reject(
        new UsageError(
          'onTurn needs an in-process pool: turn records hold agent states that stay in their thread',
        ),
      );
    return this.exclusive(async () => {
      const out: (EpisodeResult | undefined)[] = new Array(jobs.length).fill(undefined);
      // Contiguous shards, sizes differing by at most one.
      const n = this.handles.length;
      const shards = this.handles.map((_, k) => {
        const start = k * Math.floor(jobs.length / n) + Math.min(k, jobs.length % n);
        const size = Math.floor(jobs.length / n) + (k < jobs.length % n ? 1 : 0);
        return { start, jobs: jobs.slice(start, start + size) };
      });
      const calls = shards.map((shard, k) =>
        shard.jobs.length === 0
          ? Promise.resolve()
          : this.handles[k]!.request(
              { type: 'run', jobs: [...shard.jobs] },
              {
                onEpisode: (i, result) => {
                  out[shard.start + i] = result;
                  options.onEpisode?.(result);
                },
              },
            ),
      );
      // Every shard settles before the call does, so the next call finds idle workers; unless a
      // worker died: the pool takes no more work then, and the call fails at once.
      const died = new Promise<never>((_, reject) => {
        for (const c of calls)
          c.catch((e: unknown) => {
            if (e instanceof RolloutWorkerExitError) reject(e);
          });
      });
      died.catch(() => {});
      const settled = await Promise.race([Promise.allSettled(calls), died]);
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      const missing = out.indexOf(undefined);
      if (missing >= 0) {
        const worker = shards.findLastIndex((s) => s.start <= missing);
        throw new RolloutWorkerError(worker, [jobs[missing]!.id], 'finished its shard without this episode');
      }
      return out as EpisodeResult[];
    });
  }

  /** Sends the learner's current weights and version to every worker (a no-op without a learner). */
  sync(): Promise<void> {
    const learner = this.learner;
    if (!learner) return this.exclusive(async () => {});
    return this.exclusive(async () => {
      const version = learner.version;
      const tensors = [...learner.store.entries()];
      for (const [name, t] of tensors)
        if (t.dtype !== 'float32')
          throw new UsageError(`parameter ${name} is ${t.dtype}; only float32 weights sync`);
      await Promise.all(
        this.handles.map((h) => {
          const params: ParamMessage[] = tensors.map(([name, t]) => ({
            name,
            dims: [...t.dims],
            data: (t.data as Float32Array).slice(),
          }));
          return h.request(
            { type: 'sync', version, params },
            { transfer: params.map((p) => p.data.buffer as ArrayBuffer) },
          );
        }),
      );
    });
  }

  /** Ends the workers (see the top of this file); calls in flight are rejected at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.handles.map((h) => h.close()));
  }
}
