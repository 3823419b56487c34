/**
 * Rollout and GOPO-phase benchmark, all measured in one run on this machine (DESIGN.md 4.6, issue 18):
 *   (a) rollout throughput, dialogues/s and Expert decisions/s, with the in-process pool and the
 *       thread pool at 1 and 2 workers (ORT threads per worker = cores / workers), the same jobs in
 *       interleaved rounds (their results are checked to be identical);
 *   (b) the time split of a GOPO Expert phase as the loop's PhaseTimers report it (runGopoTraining,
 *       metrics.jsonl of its second phase: the first one also compiles the step graphs);
 *   (c) the update's tokens/s: non-padding tokens of the GOPO steps per second of step time;
 *   (d) how busy batching keeps the model: FLOP/s of the batched Expert forward during in-process
 *       rollouts (decoder matmul FLOPs from the config and the actual token counts) over the FLOP/s
 *       of a pure MatMul of similar size (one nn graph, same threads), timed in the same run.
 * The Expert Agent is a randomly initialised one of the default size (weights do not change the
 * cost). Writes bench-results/rollout.{json,md}.
 *
 *   pnpm --filter @gopo/trainer bench     (BENCH_SCENARIOS scenarios x 4 per timed rollout, default
 *                                          16, so that maxLive 64 dialogues run at once; BENCH_ROUNDS
 *                                          timed rounds per pool, default 2; the GOPO phase plays the
 *                                          default config's 8 scenarios x 4)
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { templateReplyPolicy } from '@gopo/envs';
import { ExpertAgent, ExpertModelConfigSchema, ExpertUpdater, TRAIN_LENGTH_BUCKET } from '@gopo/expert-agent';
import { loadDefaultTokenizer } from '@gopo/lm';
import { emitModel, Forward, Graph, getSession, type HostTensor } from '@gopo/nn';
import { GopoTrainConfigSchema } from '../src/gopo/config.js';
import { runGopoTraining, shopEnvFactory } from '../src/gopo/run.js';
import { trainingJobs } from '../src/gopo/scenarios.js';
import type { EpisodeResult } from '../src/rollout/episodes.js';
import { ThreadPool } from '../src/rollout/thread-pool.js';
import { InProcessPool, type RolloutWorkerPool } from '../src/rollout/worker-pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, '..', 'bench-results');
const cores = os.availableParallelism();
const scenarios = Number(process.env.BENCH_SCENARIOS ?? 16);
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
  calls: number;
  /** FLOPs of the real tokens (each row's own length). */
  usefulFlops: number;
  /** FLOPs as executed (rows x padded length, padding rows included). */
  executedFlops: number;
  usefulTokens: number;
  executedTokens: number;
  callTokens: number[];
}
const tally: ForwardTally = {
  ms: 0,
  calls: 0,
  usefulFlops: 0,
  executedFlops: 0,
  usefulTokens: 0,
  executedTokens: 0,
  callTokens: [],
};
let counting = false;
const forwardRun = Forward.prototype.run;
Forward.prototype.run = async function (this: Forward, batch) {
  const t0 = performance.now();
  try {
    return await forwardRun.call(this, batch);
  } finally {
    const attention = batch.attention as HostTensor | undefined;
    if (counting && attention && 'positions' in batch) {
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
let decideMs = 0;
const decide = ExpertAgent.prototype.decide;
ExpertAgent.prototype.decide = async function (this: ExpertAgent, states, options) {
  const t0 = performance.now();
  try {
    return await decide.call(this, states, options);
  } finally {
    if (counting) decideMs += performance.now() - t0;
  }
};

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
const perWorker = (w: number) => Math.max(1, Math.floor(cores / w));
const spec = (w: number) => ({
  policy: { kind: 'expert' as const, dir: agentDir },
  env: base.env,
  maxLive: base.rollout.maxLive,
  intraOpThreads: perWorker(w),
});
const pools: { row: PoolRow; pool: RolloutWorkerPool }[] = [];
{
  const t0 = performance.now();
  pools.push({
    row: {
      name: 'in-process',
      workers: 1,
      threadsPerWorker: cores,
      seconds: 0,
      dialogues: 0,
      decisions: 0,
      startSeconds: 0,
    },
    pool: new InProcessPool({ strategy: agent, reply: templateReplyPolicy }, makeEnv, base.rollout.maxLive),
  });
  pools[0]!.row.startSeconds = (performance.now() - t0) / 1000;
}
for (const w of [1, 2]) {
  const t0 = performance.now();
  const pool = await ThreadPool.create({ workers: w, spec: spec(w), learner: agent });
  pools.push({
    row: {
      name: `thread pool, ${w} worker${w > 1 ? 's' : ''}`,
      workers: w,
      threadsPerWorker: perWorker(w),
      seconds: 0,
      dialogues: 0,
      decisions: 0,
      startSeconds: (performance.now() - t0) / 1000,
    },
    pool,
  });
}
const jobsOf = (round: number) => trainingJobs(11, 1000 + round, scenarios, G);
console.log(
  `warm-up: ${pools.length} pools x ${(scenarios * G) / 2} dialogues (compiles the length buckets)`,
);
counting = true; // the warm-up's call sizes choose the MatMul peer's shape
for (const { pool } of pools) {
  await pool.run(jobsOf(-1).slice(0, (scenarios * G) / 2));
  counting = false;
}

// --- (d) the pure MatMul peer: [tokens, d] x [d, intermediate], tokens = median of the forward calls
const sortedCalls = [...tally.callTokens].sort((a, b) => a - b);
const gemmRows = sortedCalls[Math.floor(sortedCalls.length / 2)] ?? 4096;
const gemmK = d;
const gemmN = cfg.intermediate_size;
/** A session of one MatMul [rows, d] x [d, intermediate] and a timer of its mean rate. */
async function matmulPeer(
  rows: number,
): Promise<{ flops: number; seconds: (ms: number) => Promise<number> }> {
  const g = new Graph({ name: 'matmul_peer' });
  g.output('y', g.matmul(g.input('x', 'float32', [rows, gemmK]), g.input('w', 'float32', [gemmK, gemmN])));
  const session = await getSession(emitModel(g, { provider: 'cpu' }), { intraOpThreads: cores });
  const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.05);
  const feeds: Record<string, HostTensor> = {
    x: { dtype: 'float32', dims: [rows, gemmK], data: rand(rows * gemmK) },
    w: { dtype: 'float32', dims: [gemmK, gemmN], data: rand(gemmK * gemmN) },
  };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  return {
    flops: 2 * rows * gemmK * gemmN,
    // Mean time per run over a window, like the forward's mean over a rollout under the same load.
    async seconds(ms: number) {
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
const peer = await matmulPeer(gemmRows);
// For scale: the same product over 16,384 rows (every live dialogue's tokens in one call).
const bigRows = 16_384;
const bigPeer = await matmulPeer(bigRows);

// Timed rounds: every pool plays the same jobs (starting with another pool each round, so drifting
// load hits them alike); the MatMul peers run right after the in-process rollout of each round.
interface RoundRatio {
  forwardSeconds: number;
  usefulFlops: number;
  executedFlops: number;
  matmulSeconds: number;
  bigMatmulSeconds: number;
}
const roundRatios: RoundRatio[] = [];
tally.ms = 0;
tally.calls = 0;
tally.usefulFlops = 0;
tally.executedFlops = 0;
tally.usefulTokens = 0;
tally.executedTokens = 0;
decideMs = 0;
let identical = true;
for (let r = 0; r < rounds; r++) {
  const jobs = jobsOf(r);
  let first: EpisodeResult[] | undefined;
  for (let k = 0; k < pools.length; k++) {
    const { row, pool } = pools[(r + k) % pools.length]!;
    const before = { ...tally };
    counting = row.name === 'in-process';
    const t0 = performance.now();
    const results = await pool.run(jobs);
    row.seconds += (performance.now() - t0) / 1000;
    if (counting) {
      counting = false;
      roundRatios.push({
        forwardSeconds: (tally.ms - before.ms) / 1000,
        usefulFlops: tally.usefulFlops - before.usefulFlops,
        executedFlops: tally.executedFlops - before.executedFlops,
        matmulSeconds: await peer.seconds(1000),
        bigMatmulSeconds: await bigPeer.seconds(500),
      });
    }
    row.dialogues += results.length;
    row.decisions += results.reduce((n, x) => n + x.decisions.length, 0);
    if (first === undefined) first = results;
    else if (JSON.stringify(results) !== JSON.stringify(first)) identical = false;
  }
  console.log(
    `round ${r + 1}/${rounds}: ${pools.map((p) => `${p.row.name} ${p.row.seconds.toFixed(1)} s`).join(', ')}`,
  );
}
await Promise.all(pools.map((p) => p.pool.close()));
const inProcess = pools[0]!.row;
const perRound = roundRatios.map((x) => ({
  ...x,
  usefulOverMatmul: x.usefulFlops / x.forwardSeconds / (peer.flops / x.matmulSeconds),
  executedOverMatmul: x.executedFlops / x.forwardSeconds / (peer.flops / x.matmulSeconds),
}));
const gemmSeconds = roundRatios.reduce((a, x) => a + x.matmulSeconds, 0) / roundRatios.length;
const gemmFlops = peer.flops / gemmSeconds;
const bigSeconds = roundRatios.reduce((a, x) => a + x.bigMatmulSeconds, 0) / roundRatios.length;
const bigFlops = bigPeer.flops / bigSeconds;

// --- (b, c) one GOPO Expert phase through the loop, with the update's tokens counted -----------
interface StepTally {
  ms: number;
  tokens: number;
  padded: number;
}
const steps: StepTally[] = [];
const updaterStep = ExpertUpdater.prototype.step;
ExpertUpdater.prototype.step = async function (this: ExpertUpdater, items, inputs) {
  const t0 = performance.now();
  const r = await updaterStep.call(this, items, inputs);
  const longest = Math.max(1, ...items.map((i) => i.encoded.ids.length));
  const bucket = (n: number) => Math.ceil(n / TRAIN_LENGTH_BUCKET) * TRAIN_LENGTH_BUCKET;
  const seqLen = Math.min(bucket(longest), bucket(this.shape.seqLen));
  steps.push({
    ms: performance.now() - t0,
    tokens: items.reduce((n, i) => n + i.encoded.ids.length, 0),
    padded: this.shape.rows * seqLen,
  });
  return r;
};
interface PhaseResult {
  readonly workers: number;
  readonly split: { phase: string; seconds: number }[];
  readonly evalSeconds: number;
  readonly steps: number;
  readonly stepSeconds: number;
  readonly nonPaddingTokens: number;
  readonly paddedTokens: number;
  readonly tokensPerSecond: number;
  readonly tokensPerUpdateSecond: number;
}
const evalScenarios = 8;
async function gopoPhase(workers: number): Promise<PhaseResult> {
  const config = GopoTrainConfigSchema.parse({
    seed: 1,
    agent: { from: 'dir', dir: agentDir },
    rollout: { workers },
    loop: { iterations: 2, expertPhases: 1, csPhases: 0 },
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
  const stepSeconds = mine.reduce((a, s) => a + s.ms, 0) / 1000;
  const tokens = mine.reduce((a, s) => a + s.tokens, 0);
  return {
    workers,
    split: ['rollout', 'score', 'reference', 'update', 'sync'].map((k) => ({
      phase: k,
      seconds: m[`time/${k}`] ?? 0,
    })),
    evalSeconds: m['time/eval'] ?? 0,
    steps: mine.length,
    stepSeconds,
    nonPaddingTokens: tokens,
    paddedTokens: mine.reduce((a, s) => a + s.padded, 0),
    tokensPerSecond: tokens / stepSeconds,
    tokensPerUpdateSecond: tokens / (m['time/update'] ?? Number.NaN),
  };
}
console.log(
  `GOPO: 2 Expert phases of ${base.rollout.scenarios} scenarios x ${base.rollout.groupSize} through runGopoTraining, in process and with 2 workers (the second phase is reported)`,
);
const phases = [await gopoPhase(1), await gopoPhase(2)];
await fs.rm(root, { recursive: true, force: true });

// --- results ------------------------------------------------------------------------------------
const usefulFlopRate = tally.usefulFlops / (tally.ms / 1000);
const executedFlopRate = tally.executedFlops / (tally.ms / 1000);
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
    calls: tally.calls,
    seconds: tally.ms / 1000,
    decideSeconds: decideMs / 1000,
    usefulTokens: tally.usefulTokens,
    executedTokens: tally.executedTokens,
    usefulFlops: tally.usefulFlops,
    executedFlops: tally.executedFlops,
    usefulFlopsPerSecond: usefulFlopRate,
    executedFlopsPerSecond: executedFlopRate,
    medianTokensPerCall: gemmRows,
  },
  matmul: { m: gemmRows, k: gemmK, n: gemmN, seconds: gemmSeconds, flopsPerSecond: gemmFlops },
  largeMatmul: { m: bigRows, k: gemmK, n: gemmN, seconds: bigSeconds, flopsPerSecond: bigFlops },
  ratios: {
    usefulForwardOverMatmul: usefulFlopRate / gemmFlops,
    executedForwardOverMatmul: executedFlopRate / gemmFlops,
    perRound,
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
  `| GOPO Expert phase (${base.rollout.scenarios} scenarios x G ${base.rollout.groupSize}), the loop's PhaseTimers | in process (s) | share | 2 workers (s) | share |`,
  '|---|---:|---:|---:|---:|',
  ...phases[0]!.split.map((s, i) => {
    const cells = phases.map((p) => {
      const total = p.split.reduce((a, x) => a + x.seconds, 0);
      const x = p.split[i]!.seconds;
      return `${f(x, 2)} | ${f((100 * x) / total)}%`;
    });
    return `| ${s.phase} | ${cells.join(' | ')} |`;
  }),
  `| (eval, ${evalScenarios} held-out scenarios, not in the split) | ${phases.map((p) => `${f(p.evalSeconds, 2)} | `).join('| ')}|`,
  '',
  '| measure | value | target |',
  '|---|---|---|',
  ...phases.map(
    (p) =>
      `| update tokens/s, ${p.workers > 1 ? `${p.workers} workers` : 'in process'} (non-padding tokens / GOPO step time) | ${f(p.tokensPerSecond, 0)} (${p.nonPaddingTokens} tokens in ${p.steps} steps, ${f(p.stepSeconds, 2)} s; ${f((100 * p.nonPaddingTokens) / Math.max(1, p.paddedTokens))}% of the ${p.paddedTokens} tokens computed; ${f(p.tokensPerUpdateSecond, 0)} per second of time/update) | |`,
  ),
  `| Expert forward during rollouts, useful FLOP/s | ${g9(usefulFlopRate)} GFLOP/s (${tally.calls} calls, ${f(tally.ms / 1000, 2)} s; real tokens ${f((100 * tally.usefulTokens) / Math.max(1, tally.executedTokens))}% of those computed) | |`,
  `| same, FLOP/s as executed (padding included) | ${g9(executedFlopRate)} GFLOP/s | |`,
  `| pure MatMul [${gemmRows}, ${gemmK}] x [${gemmK}, ${gemmN}] (the median forward call's tokens), ${cores} threads, right after each in-process round | ${g9(gemmFlops)} GFLOP/s (${f(gemmSeconds * 1000, 2)} ms) | |`,
  `| for scale: MatMul [${bigRows}, ${gemmK}] x [${gemmK}, ${gemmN}] | ${g9(bigFlops)} GFLOP/s (useful forward / it: ${f(usefulFlopRate / bigFlops, 2)}) | |`,
  `| useful forward FLOP/s / MatMul FLOP/s | ${f(result.ratios.usefulForwardOverMatmul, 2)} (per round ${perRound.map((x) => f(x.usefulOverMatmul, 2)).join(', ')}; as executed, padding included: ${f(result.ratios.executedForwardOverMatmul, 2)}) | >= 0.5 |`,
  `| host share of decide() (encoding, packing, outside the forward) | ${f((100 * (decideMs - tally.ms)) / Math.max(1, decideMs))}% of ${f(decideMs / 1000, 2)} s | |`,
  '',
  `Whole benchmark: ${f(result.wallSeconds, 0)} s.`,
  '',
].join('\n');
await writeJsonAtomic(path.join(outDir, 'rollout.json'), result);
await writeFileAtomic(path.join(outDir, 'rollout.md'), table);
console.log(table);
