import { promises as fs } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ShopEnvConfigSchema, shopStrategyPolicies, templateReplyPolicy } from '@gopo/envs';
import { ExpertAgent } from '@gopo/expert-agent';
import { loadDefaultTokenizer } from '@gopo/lm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalJobs, trainingJobs } from '../gopo/scenarios.js';
import type { EpisodeJob, EpisodeResult } from './episodes.js';
import { RolloutWorkerError, RolloutWorkerExitError, ThreadPool } from './thread-pool.js';
import { InProcessPool } from './worker-pool.js';
import { shopEnvFactoryFor } from './worker-spec.js';

const env = ShopEnvConfigSchema.parse({ maxTurns: 6 });
const makeEnv = shopEnvFactoryFor(env);
const strategies = makeEnv().strategies;
const TINY = { hiddenSize: 16, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 32, maxSeqLen: 1024 };

// Sampled training jobs and greedy evaluation jobs in one call (the pools split them by `greedy`).
const jobs: EpisodeJob[] = [...trainingJobs(5, 0, 3, 3), ...evalJobs(3)];

let dir: string;
/** The agent saved in `dir` (version 0). */
let saved: ExpertAgent;
/** The learner: other weights (another seed) and version 7. */
let learner: ExpertAgent;

beforeAll(async () => {
  dir = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'thread-pool-')), 'agent');
  const tokenizer = await loadDefaultTokenizer();
  saved = ExpertAgent.random(TINY, tokenizer, strategies, 1, { intraOpThreads: 1 });
  await saved.save(dir);
  learner = ExpertAgent.random(TINY, tokenizer, strategies, 2, { intraOpThreads: 1 });
  learner.version = 7;
});

const inProcess = (
  strategy: ExpertAgent | (typeof shopStrategyPolicies extends { get(n: string): infer P } ? P : never),
) => new InProcessPool({ strategy, reply: templateReplyPolicy }, makeEnv, 4);

const expertSpec = (maxLive = 4) => ({
  policy: { kind: 'expert' as const, dir },
  env,
  maxLive,
  intraOpThreads: 1,
});

describe('ThreadPool', () => {
  let one: ThreadPool;
  let two: ThreadPool;
  let reference: EpisodeResult[];

  beforeAll(async () => {
    [one, two] = await Promise.all([
      ThreadPool.create({ workers: 1, spec: expertSpec(), learner }),
      ThreadPool.create({ workers: 2, spec: expertSpec(3), learner }),
    ]);
    reference = await inProcess(learner).run(jobs);
  });

  afterAll(async () => {
    await Promise.all([one?.close(), two?.close()]);
  });

  it('plays the same sessions and decisions as the in-process pool with 1 and 2 workers', async () => {
    expect(reference).toHaveLength(jobs.length);
    expect(reference.map((r) => r.job)).toEqual(jobs);
    expect(reference.every((r) => r.policyVersion === 7)).toBe(true);
    const seen: string[] = [];
    const a = await one.run(jobs);
    const b = await two.run(jobs, { onEpisode: (r) => seen.push(r.job.id) });
    expect(a).toEqual(reference);
    expect(b).toEqual(reference);
    expect(seen.sort()).toEqual(jobs.map((j) => j.id).sort());
    expect(one.workers).toBe(1);
    expect(two.workers).toBe(2);
  });

  it('sync() sends the learner weights and version; until then workers act with the old ones', async () => {
    const before = await inProcess(saved).run(jobs.slice(0, 4));
    const pool = await ThreadPool.create({ workers: 1, spec: expertSpec() });
    try {
      // No learner: the folder's weights.
      expect(await pool.run(jobs.slice(0, 4))).toEqual(before);
      const withSync = await ThreadPool.create({ workers: 1, spec: expertSpec(), learner: saved });
      try {
        const name = [...saved.store.entries()][0]![0];
        const original = (saved.store.get(name).data as Float32Array).slice();
        const changed = Float32Array.from(original, (x) => x + 0.5);
        saved.store.swap(name, { dtype: 'float32', dims: saved.store.get(name).dims, data: changed });
        saved.version = 3;
        try {
          const updated = await inProcess(saved).run(jobs.slice(0, 4));
          expect(updated.map((r) => r.decisions)).not.toEqual(before.map((r) => r.decisions));
          expect(await withSync.run(jobs.slice(0, 4))).toEqual(before);
          await withSync.sync();
          const after = await withSync.run(jobs.slice(0, 4));
          expect(after).toEqual(updated);
          expect(after.every((r) => r.policyVersion === 3)).toBe(true);
        } finally {
          saved.store.swap(name, { dtype: 'float32', dims: saved.store.get(name).dims, data: original });
          saved.version = 0;
        }
      } finally {
        await withSync.close();
      }
    } finally {
      await pool.close();
    }
  });

  it('runs an empty job list and fewer jobs than workers', async () => {
    expect(await two.run([])).toEqual([]);
    expect(await two.run(jobs.slice(2, 3))).toEqual(reference.slice(2, 3));
  });

  it('plays a scripted shop policy the same as in process', async () => {
    const pool = await ThreadPool.create({
      workers: 2,
      spec: { policy: { kind: 'scripted', name: 'history' }, env },
    });
    try {
      await pool.sync(); // a no-op without a learner
      const want = await inProcess(shopStrategyPolicies.get('history')).run(jobs);
      expect(await pool.run(jobs)).toEqual(want);
    } finally {
      await pool.close();
    }
  });

  it('an error inside a worker names the worker and the jobs, and the pool stays usable', async () => {
    const pool = await ThreadPool.create({
      workers: 2,
      spec: {
        policy: { kind: 'scripted', name: 'hasty' },
        env,
        // Nothing listens on port 9 of this machine: every reply fails.
        reply: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm', retries: 0, timeoutMs: 500 },
      },
    });
    try {
      const e = await pool.run(jobs.slice(0, 4)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(RolloutWorkerError);
      const err = e as RolloutWorkerError;
      expect([0, 1]).toContain(err.worker);
      const shard = err.worker === 0 ? jobs.slice(0, 2) : jobs.slice(2, 4);
      expect(err.jobs).toEqual(shard.map((j) => j.id));
      expect(err.message).toContain(
        `rollout worker ${err.worker} failed on jobs ${shard[0]!.id}, ${shard[1]!.id}`,
      );
      expect(err.message).toContain('ChatBackendError');
      expect(err.message).toContain('cannot reach the server');
      // Still alive: the next call fails the same way instead of hanging.
      await expect(pool.run(jobs.slice(0, 1))).rejects.toThrow(RolloutWorkerError);
    } finally {
      await pool.close();
    }
  });

  it('a worker that cannot start is reported with its error', async () => {
    const missing = path.join(dir, 'nope');
    await expect(
      ThreadPool.create({ workers: 2, spec: { policy: { kind: 'expert', dir: missing }, env } }),
    ).rejects.toThrow(/rollout worker \d failed: failed to start: MissingFileError: .*nope/);
    await expect(
      ThreadPool.create({ workers: 1, spec: { policy: { kind: 'scripted', name: 'wizard' }, env } }),
    ).rejects.toThrow(/failed to start: UnknownNameError: .*wizard.*history/);
  });

  it('a worker that dies mid-run is reported (not hung) and the pool refuses more work', async () => {
    // Replies from a server that never answers keep both workers waiting on HTTP (no model call in
    // flight: onnxruntime-node aborts the process when a thread is torn down inside a session run).
    const seen: number[] = [];
    const server = createServer(() => seen.push(1));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const pool = await ThreadPool.create({
      workers: 2,
      spec: {
        policy: { kind: 'scripted', name: 'history' },
        env,
        reply: { kind: 'openai', baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm', timeoutMs: 60_000 },
      },
    });
    try {
      const sampled = jobs.slice(0, 8);
      const running = pool.run(sampled).then(
        () => undefined,
        (err: unknown) => err,
      );
      // Every dialogue's first reply is in flight: 4 per worker.
      while (seen.length < 8) await new Promise((r) => setTimeout(r, 10));
      await pool.threads[1]!.terminate();
      const e = await running;
      expect(e).toBeInstanceOf(RolloutWorkerExitError);
      const err = e as RolloutWorkerExitError;
      expect(err.worker).toBe(1);
      expect(err.jobs).toEqual(sampled.slice(4).map((j) => j.id));
      expect(err.message).toMatch(/rollout worker 1 exited \(code 1\) while playing jobs /);
      await expect(pool.run(jobs.slice(0, 1))).rejects.toThrow(RolloutWorkerExitError);
      await expect(pool.sync()).rejects.toThrow(RolloutWorkerExitError);
    } finally {
      // Worker 0 is still waiting on the server: close() aborts its request and it leaves.
      await pool.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('close() mid-run stops the workers between model calls; later calls are refused', async () => {
    const pool = await ThreadPool.create({ workers: 2, spec: expertSpec(), learner });
    const exits = pool.threads.map((t) => new Promise<number>((resolve) => t.once('exit', resolve)));
    let closing: Promise<void> | undefined;
    const running = pool
      .run(jobs, {
        onEpisode: () => {
          closing ??= pool.close();
        },
      })
      .then(
        () => 'finished',
        (err: unknown) => err,
      );
    const r = await running;
    expect(closing).toBeDefined();
    await closing;
    expect(String(r)).toMatch(/the pool was closed/);
    expect(await Promise.all(exits)).toEqual([0, 0]);
    await expect(pool.run(jobs)).rejects.toThrow(/closed/);
    await pool.close();
  });
});
