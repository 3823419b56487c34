/**
 * A rollout worker thread of ThreadPool: builds its environment and policies from the spec in
 * `workerData`, then serves `run` (play a shard of jobs with runEpisodes, streaming each finished
 * episode) and `sync` (replace the Expert Agent's weights with the learner's) one at a time.
 * A failing call reports the ids of the jobs it was playing. On `close` it stops before its next
 * policy call, aborts reply requests in flight and lets its thread end (never inside a model call).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type {
  AgentState,
  DecideOptions,
  DialogueEnv,
  ReplyPolicy,
  ReplyRequest,
  StrategyPolicy,
} from '@gopo/dialogue';
import { type EpisodeJob, type HierarchicalRoles, runEpisodes } from './episodes.js';
import { runMixedJobs } from './worker-pool.js';
import { type FromWorker, type ToWorker, ToWorkerSchema } from './worker-protocol.js';
import { buildWorkerRoles, RolloutWorkerSpecSchema, type WorkerRoles } from './worker-spec.js';

/** An error raised while playing the named jobs. */
class JobsFailure extends Error {
  constructor(
    readonly jobs: readonly string[],
    readonly inner: unknown,
  ) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

async function tagged<T>(jobs: () => readonly string[], fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw e instanceof JobsFailure ? e : new JobsFailure(jobs(), e);
  }
}

function taggedSync<T>(jobs: () => readonly string[], fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw e instanceof JobsFailure ? e : new JobsFailure(jobs(), e);
  }
}

/** Set by `close`: the next policy call throws instead of running. */
let stopping = false;
const checkOpen = () => {
  if (stopping) throw new Error('the pool is closing');
};

/**
 * The policies, with every failure tagged with the session ids (job ids) of the batch, and no call
 * started once the pool is closing.
 */
function trackedRoles(roles: HierarchicalRoles): HierarchicalRoles {
  const inner = roles.strategy;
  const strategy: StrategyPolicy = {
    get name() {
      return inner.name;
    },
    get strategies() {
      return inner.strategies;
    },
    get version() {
      return inner.version;
    },
    ...(inner.privileged ? { privileged: true } : {}),
    ...(inner.masked === false ? { masked: false } : {}),
    decide: (states: readonly AgentState[], options: DecideOptions) =>
      tagged(
        () => states.map((s) => s.sessionId),
        () => {
          checkOpen();
          return inner.decide(states, options);
        },
      ),
  };
  const reply: ReplyPolicy = {
    name: roles.reply.name,
    reply: (requests: readonly ReplyRequest[]) =>
      tagged(
        () => requests.map((r) => r.state.sessionId),
        () => {
          checkOpen();
          return roles.reply.reply(requests);
        },
      ),
  };
  return { strategy, reply };
}

/** An environment whose failures name the session (job) it was playing. */
class TrackedEnv implements DialogueEnv {
  private id = '';
  constructor(private readonly inner: DialogueEnv) {}
  get strategies() {
    return this.inner.strategies;
  }
  get done() {
    return this.inner.done;
  }
  private call<T>(fn: () => T): T {
    return taggedSync(() => [this.id], fn);
  }
  reset(seed: number, options?: { sessionId?: string }): void {
    this.id = options?.sessionId ?? `seed ${seed}`;
    this.call(() => this.inner.reset(seed, options));
  }
  step(action: Parameters<DialogueEnv['step']>[0]): void {
    this.call(() => this.inner.step(action));
  }
  agentState() {
    return this.call(() => this.inner.agentState());
  }
  privileged() {
    return this.call(() => this.inner.privileged());
  }
  session() {
    return this.call(() => this.inner.session());
  }
}

const port = parentPort!;
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

function postError(request: number | null, e: unknown): void {
  const inner = e instanceof JobsFailure ? e.inner : e;
  const err = inner instanceof Error ? inner : new Error(String(inner));
  post({
    type: 'error',
    request,
    name: err.name,
    message: err.message,
    ...(err.stack ? { stack: err.stack } : {}),
    jobs: e instanceof JobsFailure ? [...e.jobs] : [],
  });
}

async function serve(
  built: WorkerRoles,
  maxLive: number,
  msg: Exclude<ToWorker, { type: 'close' }>,
): Promise<void> {
  if (msg.type === 'sync') {
    const agent = built.agent;
    if (agent) {
      for (const p of msg.params) {
        const t = { dtype: 'float32' as const, dims: p.dims, data: p.data };
        if (agent.store.has(p.name)) agent.store.swap(p.name, t);
        else agent.store.set(p.name, t);
      }
      agent.version = msg.version;
    }
    post({ type: 'synced', request: msg.request, version: built.roles.strategy.version });
    return;
  }
  const index = new Map<EpisodeJob, number>(msg.jobs.map((j, i) => [j, i]));
  const roles = trackedRoles(built.roles);
  const makeEnv = () => new TrackedEnv(built.makeEnv());
  const results = await runMixedJobs(msg.jobs, (part) =>
    runEpisodes(part, roles, makeEnv, {
      maxLive,
      onEpisode: (result) =>
        post({ type: 'episode', request: msg.request, index: index.get(result.job)!, result }),
    }),
  );
  post({ type: 'done', request: msg.request, count: results.length });
}

async function start(): Promise<void> {
  let built: WorkerRoles;
  let maxLive: number;
  try {
    const spec = RolloutWorkerSpecSchema.parse((workerData as { spec: unknown }).spec);
    maxLive = spec.maxLive;
    built = await buildWorkerRoles(spec);
  } catch (e) {
    // With no listener the thread then ends on its own; the pool reports the error.
    postError(null, e);
    return;
  }
  // One request at a time, in arrival order.
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (raw: unknown) => {
    if ((raw as { type?: unknown } | null)?.type === 'close') {
      stopping = true;
      void built.reply.close();
      // Once the call in flight has stopped (JS is running, no model call is), the thread ends;
      // keep-alive sockets of a reply backend would otherwise keep it up.
      queue = queue.then(() => process.exit(0));
      return;
    }
    queue = queue.then(async () => {
      const parsed = ToWorkerSchema.safeParse(raw);
      if (!parsed.success) {
        const request = (raw as { request?: unknown } | null)?.request;
        postError(
          typeof request === 'number' ? request : null,
          new Error(`bad message: ${parsed.error.message}`),
        );
        return;
      }
      if (parsed.data.type === 'close') return;
      try {
        await serve(built, maxLive, parsed.data);
      } catch (e) {
        postError(parsed.data.request, e);
      }
    });
  });
  post({
    type: 'ready',
    strategies: [...built.roles.strategy.strategies],
    version: built.roles.strategy.version,
  });
}

await start();
