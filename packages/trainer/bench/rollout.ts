/**
 * Rollout and GOPO-phase benchmark, all measured in one run on this machine (DESIGN.md 4.6, issue 18):
 *   (a) rollout throughput, dialogues/s and Expert decisions/s, with the in-process pool (ORT on
 *       every core, and on one) and the thread pool at 1 and 2 workers (ORT threads per worker =
 *       cores / workers), the same jobs in rotating rounds (results checked to be identical);
 *   (b) the time split of a GOPO Expert phase as the loop's PhaseTimers report it (runGopoTraining,
 *       metrics.jsonl of its third phase: earlier ones compile and warm the step graphs), in process
 *       and with 2 workers;
 *   (c) the update's tokens/s: non-padding tokens of the GOPO steps per second of step time;
 *   (d) how busy batching keeps the model: FLOP/s of the batched Expert forward during in-process
 *       rollouts (decoder matmul FLOPs from the config and the real token counts) over the FLOP/s of
 *       a pure MatMul of similar size (one nn graph, same threads), timed right after each round.
 * The Expert Agent is a randomly initialised one of the default size (weights do not change the
 * cost). Writes bench-results/rollout.{json,md}. Where the forward's time goes: profile-rollout.ts.
 *
 *   pnpm --filter @gopo/trainer bench   (BENCH_SCENARIOS x 4 dialogues per timed rollout, default
 *                                        8 x 4 = 32 at once; BENCH_ROUNDS timed rounds, default 2;
 *                                        the GOPO phase plays the default config's 8 scenarios x 4)
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, PhaseTimers, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { templateReplyPolicy } from '@gopo/envs';
import { ExpertAgent, ExpertModelConfigSchema, ExpertUpdater, TRAIN_LENGTH_BUCKET } from '@gopo/expert-agent';
import { loadDefaultTokenizer } from '@gopo/lm';
import { emitModel, Forward, Graph, getSession, type HostTensor, Trainer } from '@gopo/nn';
import { GopoTrainConfigSchema } from '../src/gopo/config.js';
import { runGopoTraining, shopEnvFactory } from '../src/gopo/run.js';
import { trainingJobs } from '../src/gopo/scenarios.js';
import type { EpisodeResult } from '../src/rollout/episodes.js';
import { ThreadPool } from '../src/rollout/thread-pool.js';
import { InProcessPool, type RolloutWorkerPool } from '../src/rollout/worker-pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, '..', 'bench-results');
const cores = os.availableParallelism();
const scenarios = Number(process.env.BENCH_SCENARIOS ?? 8);
const G = 4;
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const loadBefore = os.loadavg();
const t00 = performance.now();

// --- the agent -------------------------------------------------------------------------------
const model = ExpertModelConfigSchema.parse({});
const base = GopoTrainConfigSchema.parse({});
const makeEnv = shopEnvFactory(base);
const tokenizer = await loadDefaultTokenizer();
const agent = ExpertAgent.random(model, tokenizer, makeEnv().strategies, 1, { intraOpThreads: cores });
const root = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-bench-rollout-'));
const agentDir = path.join(root, 'agent');
await agent.save(agentDir);
const cfg = agent.config;
const d = cfg.hidden_size;
const kvWidth = (cfg.num_key_value_heads ?? cfg.num_attention_heads) * (d / cfg.num_attention_heads);
const S = agent.strategies.length;

/** Matmul FLOPs of the decoder per token, without attention scores (q, k, v, o, SwiGLU). */
const linearFlopsPerToken =
  cfg.num_hidden_layers * (2 * d * (2 * d + 2 * kvWidth) + 3 * 2 * d * cfg.intermediate_size);
/** QK^T and AV over a sequence of n tokens, every layer (the full square, as computed). */
const attentionFlops = (n: number) => cfg.num_hidden_layers * 2 * 2 * n * n * d;

// --- instrumentation: the Expert forward's time and token counts during in-process rollouts ---
interface ForwardTally {
  ms: number;
  decideMs: number;
  calls: number;
  /** FLOPs of the real tokens (each row's own length). */
  usefulFlops: number;
  /** FLOPs as executed (rows x padded length, padding rows included). */
  executedFlops: number;
  usefulTokens: number;
  executedTokens: number;
  callTokens: number[];
}
const newTally = (): ForwardTally => ({
  ms: 0,
  decideMs: 0,
  calls: 0,
  usefulFlops: 0,
  executedFlops: 0,
  usefulTokens: 0,
  executedTokens: 0,
  callTokens: [],
});
/** Where the Expert forwards of this thread are counted now (null: nowhere). */
let counting: ForwardTally | null = null;
const forwardRun = Forward.prototype.run;
Forward.prototype.run = async function (this: Forward, batch) {
  const t0 = performance.now();
  try {
    return await forwardRun.call(this, batch);
  } finally {
    const attention = batch.attention as HostTensor | undefined;
    const tally = counting;
    if (tally && attention && 'positions' in batch) {
      tally.ms += performance.now() - t0;
      tally.calls++;
      const [rows, seqLen] = attention.dims as [number, number];
      const slots = (batch.positions as HostTensor).dims[1] as number;
      for (let r = 0; r < rows; r++) {
        let n = 0;
        for (let i = 0; i < seqLen; i++) n += attention.data[r * seqLen + i] ? 1 : 0;
        tally.usefulTokens += n;
        tally.usefulFlops += n * linearFlopsPerToken + attentionFlops(n) + slots * 2 * d * S;
      }
      tally.executedTokens += rows * seqLen;
      tally.executedFlops +=
        rows * (seqLen * linearFlopsPerToken + attentionFlops(seqLen) + slots * 2 * d * S);
      tally.callTokens.push(rows * seqLen);
    }
  }
};
const decide = ExpertAgent.prototype.decide;
ExpertAgent.prototype.decide = async function (this: ExpertAgent, states, options) {
  const t0 = performance.now();
  const tally = counting;
  try {
    return await decide.call(this, states, options);
  } finally {
    if (tally) tally.decideMs += performance.now() - t0;
  }
};

const gemmK = d;
const gemmN = cfg.intermediate_size;
interface MatmulPeer {
  readonly rows: number;
  readonly threads: number;
  readonly flops: number;
  /** Mean seconds per run over a window of `ms` (like the forward's mean over a rollout). */
  seconds(ms: number): Promise<number>;
}
/** One MatMul [rows, d] x [d, intermediate] in an nn graph: the peer of the Expert forward. */
async function matmulPeer(rows: number, threads: number): Promise<MatmulPeer> {
  const g = new Graph({ name: 'matmul_peer' });
  g.output('y', g.matmul(g.input('x', 'float32', [rows, gemmK]), g.input('w', 'float32', [gemmK, gemmN])));
  const session = await getSession(emitModel(g, { provider: 'cpu' }), { intraOpThreads: threads });
  const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.05);
  const feeds: Record<string, HostTensor> = {
    x: { dtype: 'float32', dims: [rows, gemmK], data: rand(rows * gemmK) },
    w: { dtype: 'float32', dims: [gemmK, gemmN], data: rand(gemmK * gemmN) },
  };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  return {
    rows,
    threads,
    flops: 2 * rows * gemmK * gemmN,
    async seconds(ms) {
      const t0 = performance.now();
      let n = 0;
      while (performance.now() - t0 < ms) {
        await session.run(feeds);
        n++;
      }
      return (performance.now() - t0) / 1000 / n;
    },
  };
}

// --- (a) rollout throughput --------------------------------------------------------------------
interface PoolRow {
  readonly name: string;
  readonly workers: number;
  readonly threadsPerWorker: number;
  seconds: number;
  dialogues: number;
  decisions: number;
  startSeconds: number;
}
interface Measured {
  readonly row: PoolRow;
  readonly pool: RolloutWorkerPool;
  /** In-process pools: their forwards' tally and the MatMul peer timed after each of their rounds. */
  tally?: ForwardTally;
  peer?: MatmulPeer;
  readonly rounds: {
    forwardSeconds: number;
    usefulFlops: number;
    executedFlops: number;
    matmulSeconds: number;
  }[];
}
const row = (name: string, workers: number, threadsPerWorker: number, startSeconds = 0): PoolRow => ({
  name,
  workers,
  threadsPerWorker,
  seconds: 0,
  dialogues: 0,
  decisions: 0,
  startSeconds,
});
const inProcessPool = (threads: number) =>
  new InProcessPool(
    {
      strategy: new ExpertAgent(cfg, tokenizer, agent.strategies, agent.store, agent.version, {
        intraOpThreads: threads,
      }),
      reply: templateReplyPolicy,
    },
    makeEnv,
    base.rollout.maxLive,
  );
const pools: Measured[] = [
  { row: row('in-process', 1, cores), pool: inProcessPool(cores), tally: newTally(), rounds: [] },
  { row: row('in-process, 1 ORT thread', 1, 1), pool: inProcessPool(1), tally: newTally(), rounds: [] },
];
for (const w of [1, 2]) {
  const t0 = performance.now();
  const threads = Math.max(1, Math.floor(cores / w));
  const pool = await ThreadPool.create({
    workers: w,
    spec: {
      policy: { kind: 'expert', dir: agentDir },
      env: base.env,
      maxLive: base.rollout.maxLive,
      intraOpThreads: threads,
    },
    learner: agent,
  });
  const name = `thread pool, ${w} worker${w > 1 ? 's' : ''}`;
  pools.push({ row: row(name, w, threads, (performance.now() - t0) / 1000), pool, rounds: [] });
}
const jobsOf = (round: number) => trainingJobs(11, 1000 + round, scenarios, G);
const warmJobs = jobsOf(-1).slice(0, (scenarios * G) / 2);
console.log(`warm-up: ${pools.length} pools x ${warmJobs.length} dialogues (compiles the length buckets)`);
const sizes = newTally(); // the warm-up's forward calls choose the MatMul peer's row count
for (const m of pools) {
  counting = m.tally ? sizes : null;
  await m.pool.run(warmJobs);
  counting = null;
}
const callTokens = [...sizes.callTokens].sort((a, b) => a - b);
const gemmRows = callTokens[Math.floor(callTokens.length / 2)] ?? 4096;
for (const m of pools) if (m.tally) m.peer = await matmulPeer(gemmRows, m.row.threadsPerWorker);
// For scale: the same product over 16,384 rows (every live dialogue's tokens in one call).
const bigRows = 16_384;
const bigPeer = await matmulPeer(bigRows, cores);
const bigSamples: number[] = [];

// Timed rounds: every pool plays the same jobs, starting with another pool each round so that
// drifting load hits them alike; each in-process pool's MatMul peer runs right after its rollout.
let identical = true;
for (let r = 0; r < rounds; r++) {
  const jobs = jobsOf(r);
  let first: EpisodeResult[] | undefined;
  for (let k = 0; k < pools.length; k++) {
    const m = pools[(r + k) % pools.length]!;
    const before = m.tally ? { ...m.tally } : undefined;
    counting = m.tally ?? null;
    const t0 = performance.now();
    const results = await m.pool.run(jobs);
    m.row.seconds += (performance.now() - t0) / 1000;
    counting = null;
    if (m.tally && m.peer && before) {
      m.rounds.push({
        forwardSeconds: (m.tally.ms - before.ms) / 1000,
        usefulFlops: m.tally.usefulFlops - before.usefulFlops,
        executedFlops: m.tally.executedFlops - before.executedFlops,
        matmulSeconds: await m.peer.seconds(1000),
      });
      if (m.row.threadsPerWorker === cores) bigSamples.push(await bigPeer.seconds(500));
    }
    m.row.dialogues += results.length;
    m.row.decisions += results.reduce((n, x) => n + x.decisions.length, 0);
    if (first === undefined) first = results;
    else if (JSON.stringify(results) !== JSON.stringify(first)) identical = false;
  }
  console.log(
    `round ${r + 1}/${rounds}: ${pools.map((p) => `${p.row.name} ${p.row.seconds.toFixed(1)} s`).join(', ')}`,
  );
}
await Promise.all(pools.map((p) => p.pool.close()));
const inProcess = pools[0]!.row;
const bigFlops = bigPeer.flops / (bigSamples.reduce((a, x) => a + x, 0) / Math.max(1, bigSamples.length));
/** The forward-vs-MatMul figures of an in-process pool. */
const busy = pools
  .filter((m) => m.tally && m.peer)
  .map((m) => {
    const t = m.tally!;
    const peer = m.peer!;
    const matmulSeconds = m.rounds.reduce((a, x) => a + x.matmulSeconds, 0) / m.rounds.length;
    const matmulFlops = peer.flops / matmulSeconds;
    const useful = t.usefulFlops / (t.ms / 1000);
    const executed = t.executedFlops / (t.ms / 1000);
    return {
      pool: m.row.name,
      threads: m.row.threadsPerWorker,
      calls: t.calls,
      forwardSeconds: t.ms / 1000,
      decideSeconds: t.decideMs / 1000,
      usefulTokens: t.usefulTokens,
      executedTokens: t.executedTokens,
      usefulFlopsPerSecond: useful,
      executedFlopsPerSecond: executed,
      matmul: { m: peer.rows, k: gemmK, n: gemmN, seconds: matmulSeconds, flopsPerSecond: matmulFlops },
      usefulOverMatmul: useful / matmulFlops,
      executedOverMatmul: executed / matmulFlops,
      usefulOverMatmulPerRound: m.rounds.map(
        (x) => x.usefulFlops / x.forwardSeconds / (peer.flops / x.matmulSeconds),
      ),
    };
  });

// --- (b, c) one GOPO Expert phase through the loop, with the update's tokens counted -----------
// Graph building and session compilation (Trainer.create, Forward.create; a new length bucket
// compiles mid-phase) are counted apart, per phase of the loop's PhaseTimers, so the split and the
// tokens/s can be read with and without them.
let compileMs = 0;
let currentPhase: string | null = null;
let phaseCompile: Record<string, number> = {};
function timedCreate<A extends unknown[], R>(create: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const t0 = performance.now();
    try {
      return await create(...args);
    } finally {
      const ms = performance.now() - t0;
      compileMs += ms;
      if (currentPhase) phaseCompile[currentPhase] = (phaseCompile[currentPhase] ?? 0) + ms;
    }
  };
}
Trainer.create = timedCreate(Trainer.create.bind(Trainer));
Forward.create = timedCreate(Forward.create.bind(Forward));
const phaseTime = PhaseTimers.prototype.time;
PhaseTimers.prototype.time = async function <T>(
  this: PhaseTimers,
  phase: string,
  fn: () => Promise<T> | T,
): Promise<T> {
  if (phase === 'rollout') phaseCompile = {}; // an Expert phase starts
  currentPhase = phase;
  try {
    return (await phaseTime.call(this, phase, fn)) as T;
  } finally {
    currentPhase = null;
  }
};

interface StepTally {
  ms: number;
  compileMs: number;
  tokens: number;
  padded: number;
}
const steps: StepTally[] = [];
const updaterStep = ExpertUpdater.prototype.step;
ExpertUpdater.prototype.step = async function (this: ExpertUpdater, items, inputs) {
  const t0 = performance.now();
  const c0 = compileMs;
  const r = await updaterStep.call(this, items, inputs);
  const longest = Math.max(1, ...items.map((i) => i.encoded.ids.length));
  const bucket = (n: number) => Math.ceil(n / TRAIN_LENGTH_BUCKET) * TRAIN_LENGTH_BUCKET;
  const seqLen = Math.min(bucket(longest), bucket(this.shape.seqLen));
  steps.push({
    ms: performance.now() - t0,
    compileMs: compileMs - c0,
    tokens: items.reduce((n, i) => n + i.encoded.ids.length, 0),
    padded: this.shape.rows * seqLen,
  });
  return r;
};
interface PhaseResult {
  readonly workers: number;
  /** Seconds per phase as PhaseTimers report them, and the graph compilation inside each. */
  readonly split: { phase: string; seconds: number; compileSeconds: number }[];
  readonly evalSeconds: number;
  readonly steps: number;
  /** Step time without compilation. */
  readonly stepSeconds: number;
  readonly nonPaddingTokens: number;
  readonly paddedTokens: number;
  readonly tokensPerSecond: number;
}
const evalScenarios = 8;
async function gopoPhase(workers: number): Promise<PhaseResult> {
  const config = GopoTrainConfigSchema.parse({
    seed: 1,
    agent: { from: 'dir', dir: agentDir },
    rollout: { workers },
    loop: { iterations: 3, expertPhases: 1, csPhases: 0 },
    eval: { scenarios: evalScenarios, resamples: 100 },
    threads: cores,
  });
  const first = steps.length;
  const run = await runGopoTraining(config, {
    runName: `bench-${workers}`,
    runsDir: root,
    resume: false,
    overwrite: true,
    logger: createLogger({ quiet: true }),
    progress: false,
  });
  const lines = (await fs.readFile(path.join(run.runDir, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.at(-1)!;
  const m = ((last.metrics as Record<string, number> | undefined) ?? last) as Record<string, number>;
  const own = steps.slice(first);
  const mine = own.slice(own.length - (m['update/steps'] ?? 0));
  const stepSeconds = mine.reduce((a, s) => a + s.ms - s.compileMs, 0) / 1000;
  const tokens = mine.reduce((a, s) => a + s.tokens, 0);
  return {
    workers,
    split: ['rollout', 'score', 'reference', 'update', 'sync'].map((k) => ({
      phase: k,
      seconds: m[`time/${k}`] ?? 0,
      compileSeconds: (phaseCompile[k] ?? 0) / 1000,
    })),
    evalSeconds: m['time/eval'] ?? 0,
    steps: mine.length,
    stepSeconds,
    nonPaddingTokens: tokens,
    paddedTokens: mine.reduce((a, s) => a + s.padded, 0),
    tokensPerSecond: tokens / stepSeconds,
  };
}
console.log(
  `GOPO: 3 Expert phases of ${base.rollout.scenarios} scenarios x ${base.rollout.groupSize} through runGopoTraining, in process and with 2 workers (the third phase is reported)`,
);
const phases = [await gopoPhase(1), await gopoPhase(2)];
await fs.rm(root, { recursive: true, force: true });

// --- results ------------------------------------------------------------------------------------
const result = {
  date: new Date().toISOString(),
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores, node: process.version },
  loadAverage: { before: loadBefore, after: os.loadavg() },
  expert: {
    ...model,
    vocab: cfg.vocab_size,
    strategies: S,
    linearFlopsPerToken,
  },
  rollout: {
    dialoguesPerRound: scenarios * G,
    rounds,
    maxLive: base.rollout.maxLive,
    identicalResults: identical,
    pools: pools.map(({ row }) => ({
      ...row,
      dialoguesPerSecond: row.dialogues / row.seconds,
      decisionsPerSecond: row.decisions / row.seconds,
      overInProcess: inProcess.seconds / row.seconds,
    })),
  },
  forward: {
    medianTokensPerCall: gemmRows,
    byPool: busy,
    largeMatmul: { m: bigRows, k: gemmK, n: gemmN, flopsPerSecond: bigFlops },
    target: 0.5,
  },
  gopoPhases: phases,
  wallSeconds: (performance.now() - t00) / 1000,
};

const f = (x: number, digits = 1) => x.toFixed(digits);
const g9 = (x: number) => f(x / 1e9, 2);
const table = [
  `# Rollout and GOPO phase (${result.machine.cpu}, ${cores} cores, Node ${process.version})`,
  '',
  `Load average ${loadBefore.map((x) => f(x, 2)).join(' / ')} before, ${result.loadAverage.after.map((x) => f(x, 2)).join(' / ')} after (1 / 5 / 15 min); the machine is shared, compare within this run only.`,
  `Expert Agent: default size (d ${model.hiddenSize}, ${model.layers} layers, ${model.heads} heads, ${model.kvHeads} kv heads, SwiGLU ${model.intermediateSize}, vocab ${cfg.vocab_size}), random weights. ${scenarios * G} dialogues per round, maxLive ${base.rollout.maxLive}, ${rounds} timed rounds after a warm-up; results of every pool identical: ${identical ? 'yes' : 'NO'}.`,
  '',
  '| rollout pool | ORT threads / worker | dialogues/s | Expert decisions/s | x in-process | pool start (s) |',
  '|---|---:|---:|---:|---:|---:|',
  ...result.rollout.pools.map(
    (p) =>
      `| ${p.name} | ${p.threadsPerWorker} | ${f(p.dialoguesPerSecond, 2)} | ${f(p.decisionsPerSecond, 1)} | ${f(p.overInProcess, 2)} | ${f(p.startSeconds, 1)} |`,
  ),
  '',
  `| GOPO Expert phase (${base.rollout.scenarios} scenarios x G ${base.rollout.groupSize}), the loop's PhaseTimers | in process (s) | of which compiling | share without it | 2 workers (s) | of which compiling | share without it |`,
  '|---|---:|---:|---:|---:|---:|---:|',
  ...phases[0]!.split.map((s, i) => {
    const cells = phases.map((p) => {
      const steady = p.split.reduce((a, x) => a + x.seconds - x.compileSeconds, 0);
      const x = p.split[i]!;
      return `${f(x.seconds, 2)} | ${f(x.compileSeconds, 2)} | ${f((100 * (x.seconds - x.compileSeconds)) / steady)}%`;
    });
    return `| ${s.phase} | ${cells.join(' | ')} |`;
  }),
  `| (eval, ${evalScenarios} held-out scenarios, not in the split) | ${phases.map((p) => `${f(p.evalSeconds, 2)} | | `).join('| ')}|`,
  '',
  '| measure | value | target |',
  '|---|---|---|',
  ...phases.map(
    (p) =>
      `| update tokens/s, ${p.workers > 1 ? `${p.workers} workers` : 'in process'} (non-padding tokens / GOPO step time without compiling) | ${f(p.tokensPerSecond, 0)} (${p.nonPaddingTokens} tokens in ${p.steps} steps, ${f(p.stepSeconds, 2)} s; ${f((100 * p.nonPaddingTokens) / Math.max(1, p.paddedTokens))}% of the ${p.paddedTokens} tokens computed) | |`,
  ),
  ...busy.flatMap((b) => [
    `| Expert forward during ${b.pool} rollouts (${b.threads} ORT thread${b.threads > 1 ? 's' : ''}), useful FLOP/s | ${g9(b.usefulFlopsPerSecond)} GFLOP/s (${b.calls} calls, ${f(b.forwardSeconds, 2)} s; as executed, padding included, ${g9(b.executedFlopsPerSecond)}; real tokens ${f((100 * b.usefulTokens) / Math.max(1, b.executedTokens))}% of those computed; host work ${f((100 * (b.decideSeconds - b.forwardSeconds)) / Math.max(1e-9, b.decideSeconds))}% of decide()) | |`,
    `| pure MatMul [${b.matmul.m}, ${gemmK}] x [${gemmK}, ${gemmN}] (the median call's tokens), ${b.threads} thread${b.threads > 1 ? 's' : ''}, 1 s after each of those rounds | ${g9(b.matmul.flopsPerSecond)} GFLOP/s (${f(b.matmul.seconds * 1000, 2)} ms) | |`,
    `| **useful forward FLOP/s / MatMul FLOP/s, ${b.threads} thread${b.threads > 1 ? 's' : ''}** | **${f(b.usefulOverMatmul, 2)}** (rounds ${b.usefulOverMatmulPerRound.map((x) => f(x, 2)).join(', ')}; as executed ${f(b.executedOverMatmul, 2)}) | >= 0.5 |`,
  ]),
  `| for scale: MatMul [${bigRows}, ${gemmK}] x [${gemmK}, ${gemmN}], ${cores} threads | ${g9(bigFlops)} GFLOP/s (useful forward, ${cores} threads, / it: ${f(busy[0]!.usefulFlopsPerSecond / bigFlops, 2)}) | |`,
  '',
  `Whole benchmark: ${f(result.wallSeconds, 0)} s.`,
  '',
].join('\n');
await writeJsonAtomic(path.join(outDir, 'rollout.json'), result);
await writeFileAtomic(path.join(outDir, 'rollout.md'), table);
console.log(table);
