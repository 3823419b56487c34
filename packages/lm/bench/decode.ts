// Decode benchmark on a random Llama-style model built in code, all figures measured in one run:
//  1. greedy generate at several batch sizes: one session run per token (the host path,
//     tokensPerRun 1) against several tokens per run (the ONNX Loop path, the default), against the
//     PyTorch peer (bench/torch_decode.py: the same weights, a KV cache, the same thread count);
//     tokens/s and ratios per batch size; the two paths' tokens must be identical, and agreement
//     with PyTorch's greedy tokens is reported;
//  2. the KV cache against recomputing the whole prefix every step (batch 8, identical tokens).
// Run: pnpm --filter @gopo/lm run bench  (writes bench-results/decode.json and decode.md)
// Env: BENCH_THREADS (ORT and torch threads, default 2), BENCH_NEW_TOKENS (128), BENCH_BATCHES
// (1,8,32,64), BENCH_ROUNDS (2: ours then torch, repeated; the best sample of each is kept),
// BENCH_REPS (2 timed runs per round), BENCH_TOKENS_PER_RUN (32), BENCH_RECOMPUTE (1; 0 skips part 2),
// BENCH_PYTHON (an interpreter with torch; default the first of python3, /usr/bin/python3 that has it),
// BENCH_SPIN (0; 1 adds our Loop path with spinning ORT workers and PyTorch under OpenMP's default
// spin-waiting, the pairing of both defaults: on a shared machine both degrade, PyTorch far more).
// Thread policy: our sessions' workers sleep when idle (LlamaModel's default) and PyTorch runs with
// OMP_WAIT_POLICY=PASSIVE, the same policy; with GNU OpenMP's default spinning, PyTorch 1.13 ran
// 5-12x slower at load 8-13 on 2 cores, which is no fair peer.

import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { LlamaModel } from '../src/index.js';
import { DECODE_BENCH_CONFIG } from './decode-model.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, '..', 'bench-results');
const threads = Number(process.env.BENCH_THREADS ?? 2);
const newTokens = Number(process.env.BENCH_NEW_TOKENS ?? 128);
const batches = (process.env.BENCH_BATCHES ?? '1,8,32,64').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const reps = Number(process.env.BENCH_REPS ?? 2);
const tokensPerRun = Number(process.env.BENCH_TOKENS_PER_RUN ?? 32);
const recompute = process.env.BENCH_RECOMPUTE !== '0';
const spin = process.env.BENCH_SPIN === '1';

const config = DECODE_BENCH_CONFIG;
const model = LlamaModel.random(config, 1, { intraOpThreads: threads });
const spinning = new LlamaModel(model.config, model.weights, {
  intraOpThreads: threads,
  intraOpSpinning: true,
});
const rng = Rng.fromSeed(3, 'bench-prompts');
// Prompts of different lengths (16..48 tokens), so padding and the attention mask are exercised;
// batch b uses the first b.
const prompts = Array.from({ length: Math.max(...batches, 8) }, () =>
  Array.from({ length: 16 + rng.int(33) }, () => 3 + rng.int(config.vocab_size - 3)),
);
const greedy = { maxNewTokens: newTokens, stopTokenIds: [] as number[] };
const peakRssMb = () => process.resourceUsage().maxRSS / 1024;
const load = () => os.loadavg().map((x) => Number(x.toFixed(2)));

/** Best wall seconds of `reps` runs (after a warm-up run when `warm`), and the last run's tokens. */
async function sample(rows: number[][], options: Record<string, unknown>, warm: boolean, m = model) {
  let firstRunS: number | null = null;
  if (warm) {
    const t0 = performance.now();
    await m.generate(rows, { ...greedy, ...options });
    firstRunS = (performance.now() - t0) / 1000;
  }
  let best = Infinity;
  let tokens: number[][] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    const out = await m.generate(rows, { ...greedy, ...options });
    best = Math.min(best, (performance.now() - t) / 1000);
    tokens = out.map((o) => o.tokens);
  }
  return { seconds: best, tokens, firstRunS };
}

type TorchRun =
  | {
      available: true;
      torchVersion: string;
      python: string;
      /** Best seconds per batch: the preallocated cache, and the torch.cat-grown one. */
      seconds: Map<number, number>;
      dynamicSeconds: Map<number, number>;
      tokens: Map<number, number[][]>;
    }
  | { available: false; reason: string };

function torchWith(python: string, modelDir: string, waitPolicy: 'PASSIVE' | 'default'): TorchRun {
  const caches = waitPolicy === 'PASSIVE' ? ['static', 'dynamic'] : ['static'];
  const spec = { model_dir: modelDir, prompts, batches, new_tokens: newTokens, threads, reps, caches };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
  };
  if (waitPolicy === 'PASSIVE') env.OMP_WAIT_POLICY = 'PASSIVE';
  else delete env.OMP_WAIT_POLICY;
  const r = spawnSync(python, [path.join(here, 'torch_decode.py'), '--spec', JSON.stringify(spec)], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    env,
  });
  if (r.status !== 0)
    return {
      available: false,
      reason: `${python}: ${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)}`,
    };
  const out = JSON.parse(r.stdout) as {
    torch_version: string;
    python: string;
    results: { cache: 'static' | 'dynamic'; batch: number; seconds: number[]; tokens: number[][] }[];
  };
  return {
    available: true,
    torchVersion: out.torch_version,
    python: out.python,
    seconds: new Map(
      out.results.filter((x) => x.cache === 'static').map((x) => [x.batch, Math.min(...x.seconds)]),
    ),
    dynamicSeconds: new Map(
      out.results.filter((x) => x.cache === 'dynamic').map((x) => [x.batch, Math.min(...x.seconds)]),
    ),
    tokens: new Map(out.results.filter((x) => x.cache === 'static').map((x) => [x.batch, x.tokens])),
  };
}

function torchRun(modelDir: string, waitPolicy: 'PASSIVE' | 'default' = 'PASSIVE'): TorchRun {
  const candidates = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ['python3', '/usr/bin/python3'];
  const reasons: string[] = [];
  for (const py of candidates) {
    const r = torchWith(py, modelDir, waitPolicy);
    if (r.available) return r;
    reasons.push(r.reason);
  }
  return {
    available: false,
    reason: `PyTorch peer skipped (${reasons.join('; ')}); install python3-torch and libopenblas0-pthread`,
  };
}

/** Rows whose tokens are all equal, and the mean index of the first differing token (n when equal). */
function agreement(a: number[][], b: number[][]) {
  let same = 0;
  let firstDiff = 0;
  a.forEach((row, i) => {
    const other = b[i] ?? [];
    let k = 0;
    while (k < row.length && row[k] === other[k]) k++;
    if (k === row.length && row.length === other.length) same++;
    firstDiff += k;
  });
  return { rowsEqual: same, rows: a.length, meanFirstDiff: firstDiff / a.length };
}

const modelDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-decode-bench-'));
await model.save(modelDir);
const loadAtStart = load();

interface Best {
  host: number;
  loop: number;
  torch: number | null;
  torchDynamic: number | null;
  loopSpin: number | null;
  torchSpin: number | null;
  hostFirstRunS: number | null;
  loopFirstRunS: number | null;
  identical: boolean;
  tokens: number[][];
  torchAgreement: ReturnType<typeof agreement> | null;
}
const best = new Map<number, Best>(
  batches.map((b) => [
    b,
    {
      host: Infinity,
      loop: Infinity,
      torch: null,
      torchDynamic: null,
      loopSpin: null,
      torchSpin: null,
      hostFirstRunS: null,
      loopFirstRunS: null,
      identical: true,
      tokens: [],
      torchAgreement: null,
    },
  ]),
);
let torchInfo: TorchRun = { available: false, reason: 'not run' };
const loadPerRound: number[][] = [];
for (let round = 0; round < rounds; round++) {
  for (const b of batches) {
    const rows = prompts.slice(0, b);
    const e = best.get(b) as Best;
    const host = await sample(rows, { tokensPerRun: 1 }, round === 0);
    const loop = await sample(rows, { tokensPerRun }, round === 0);
    e.host = Math.min(e.host, host.seconds);
    e.loop = Math.min(e.loop, loop.seconds);
    if (round === 0) {
      e.hostFirstRunS = host.firstRunS;
      e.loopFirstRunS = loop.firstRunS;
    }
    e.identical &&= JSON.stringify(host.tokens) === JSON.stringify(loop.tokens);
    e.tokens = loop.tokens;
    if (!e.identical) throw new Error(`batch ${b}: the Loop path's tokens differ from one run per token`);
  }
  const t = torchRun(modelDir);
  if (t.available) {
    torchInfo = t;
    for (const b of batches) {
      const e = best.get(b) as Best;
      const s = t.seconds.get(b) as number;
      e.torch = e.torch === null ? s : Math.min(e.torch, s);
      const dyn = t.dynamicSeconds.get(b) as number;
      e.torchDynamic = e.torchDynamic === null ? dyn : Math.min(e.torchDynamic, dyn);
      e.torchAgreement = agreement(e.tokens, t.tokens.get(b) as number[][]);
    }
  } else if (!torchInfo.available) torchInfo = t;
  if (spin) {
    for (const b of batches) {
      const e = best.get(b) as Best;
      const l = await sample(prompts.slice(0, b), { tokensPerRun }, round === 0, spinning);
      e.loopSpin = Math.min(e.loopSpin ?? Infinity, l.seconds);
    }
    const ts = torchRun(modelDir, 'default');
    if (ts.available)
      for (const b of batches) {
        const e = best.get(b) as Best;
        const sec = ts.seconds.get(b) as number;
        e.torchSpin = Math.min(e.torchSpin ?? Infinity, sec);
      }
  }
  loadPerRound.push(load());
}
await fs.rm(modelDir, { recursive: true, force: true });

const perBatch = batches.map((b) => {
  const e = best.get(b) as Best;
  const tps = (s: number) => (b * newTokens) / s;
  return {
    batch: b,
    hostTokensPerS: tps(e.host),
    loopTokensPerS: tps(e.loop),
    torchTokensPerS: e.torch === null ? null : tps(e.torch),
    loopOverHost: e.host / e.loop,
    loopOverTorch: e.torch === null ? null : e.torch / e.loop,
    hostOverTorch: e.torch === null ? null : e.torch / e.host,
    torchDynamicTokensPerS: e.torchDynamic === null ? null : tps(e.torchDynamic),
    loopOverTorchDynamic: e.torchDynamic === null ? null : e.torchDynamic / e.loop,
    spinning:
      e.loopSpin === null
        ? null
        : {
            loopTokensPerS: tps(e.loopSpin),
            torchTokensPerS: e.torchSpin === null ? null : tps(e.torchSpin),
            loopOverTorch: e.torchSpin === null ? null : e.torchSpin / e.loopSpin,
          },
    hostFirstRunS: e.hostFirstRunS,
    loopFirstRunS: e.loopFirstRunS,
    identicalTokens: e.identical,
    torchAgreement: e.torchAgreement,
  };
});

// Part 2: the KV cache against recomputing the prefix (batch 8), as before.
let cacheVsRecompute: {
  batch: number;
  cachedTokensPerS: number;
  recomputeTokensPerS: number;
  speedup: number;
  identicalTokens: boolean;
  recomputeFirstRunS: number | null;
} | null = null;
if (recompute) {
  const rows = prompts.slice(0, 8);
  const cached = await sample(rows, {}, true);
  const slow = await sample(rows, { useCache: false }, true);
  cacheVsRecompute = {
    batch: 8,
    cachedTokensPerS: (8 * newTokens) / cached.seconds,
    recomputeTokensPerS: (8 * newTokens) / slow.seconds,
    speedup: slow.seconds / cached.seconds,
    identicalTokens: JSON.stringify(cached.tokens) === JSON.stringify(slow.tokens),
    recomputeFirstRunS: slow.firstRunS,
  };
}

const target = (x: (typeof perBatch)[number]) => x.batch < 32 || (x.loopOverTorch ?? 0) >= 4;
const result = {
  model: { ...config, params: [...model.weights.values()].reduce((s, w) => s + w.data.length, 0) },
  newTokens,
  tokensPerRun,
  promptLengths: prompts.map((p) => p.length),
  threads,
  rounds,
  repsPerRound: reps,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism(),
  node: process.version,
  torch: torchInfo.available
    ? { available: true, version: torchInfo.torchVersion, python: torchInfo.python }
    : { available: false, reason: torchInfo.reason },
  perBatch,
  cacheVsRecompute,
  // Other processes share the CPU; read the figures against the load they ran under.
  loadAverage: { start: loadAtStart, afterEachRound: loadPerRound },
  peakRssMb: peakRssMb(),
  target: 'Loop path >= 4x PyTorch at batch 32 and 64, tokens identical to one run per token',
  meetsTarget: torchInfo.available && perBatch.every((x) => x.identicalTokens && target(x)),
};
await writeJsonAtomic(path.join(resultsDir, 'decode.json'), result);

const f = (x: number | null, d = 0) =>
  x === null ? 'n/a' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const loads = [loadAtStart, ...loadPerRound].map((l) => (l[0] as number).toFixed(1)).join(' / ');
const md = [
  '# Decode: greedy generate against PyTorch with a KV cache',
  '',
  `Random Llama (d_model 256, 4 layers, 4 heads / 2 kv heads, mlp 688, vocab 4096, ${(result.model.params / 1e6).toFixed(2)} M params), prompts ${Math.min(...result.promptLengths)}..${Math.max(...result.promptLengths)} tokens (batch b: the first b), ${newTokens} new tokens, greedy, no stop ids; ${threads} threads (ORT intra-op and torch) on ${result.cores} cores, ${result.cpu}, Node ${process.version}, ${torchInfo.available ? `PyTorch ${torchInfo.torchVersion} (OMP_WAIT_POLICY=PASSIVE; our ORT workers sleep when idle too)` : 'no PyTorch'}. Best of ${rounds} rounds x ${reps} runs each; 1-minute load average at start / after each round: ${loads}.`,
  '',
  `| batch | one run per token tok/s | ${tokensPerRun} tokens per run (Loop) tok/s | PyTorch tok/s | PyTorch, torch.cat cache, tok/s | Loop / PyTorch | Loop / PyTorch torch.cat | one per token / PyTorch | Loop / one per token | identical tokens | rows equal to PyTorch's |`,
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ...perBatch.map(
    (x) =>
      `| ${x.batch} | ${f(x.hostTokensPerS)} | ${f(x.loopTokensPerS)} | ${f(x.torchTokensPerS)} | ${f(x.torchDynamicTokensPerS)} | ${f(x.loopOverTorch, 2)}x | ${f(x.loopOverTorchDynamic, 2)}x | ${f(x.hostOverTorch, 2)}x | ${f(x.loopOverHost, 2)}x | ${x.identicalTokens ? 'yes' : 'NO'} | ${x.torchAgreement ? `${x.torchAgreement.rowsEqual} / ${x.torchAgreement.rows}` : 'n/a'} |`,
  ),
  '',
  `PyTorch: bench/torch_decode.py, the cache preallocated and written in place; "torch.cat cache": grown by torch.cat every step, as transformers' default DynamicCache. Rows equal: rows whose ${newTokens} greedy tokens all equal PyTorch's.`,
  '',
  ...(spin
    ? [
        'Both with their default spin-waiting (ORT workers spinning, GNU OpenMP default wait policy):',
        '',
        '| batch | Loop tok/s | PyTorch tok/s | Loop / PyTorch |',
        '| ---: | ---: | ---: | ---: |',
        ...perBatch.map(
          (x) =>
            `| ${x.batch} | ${f(x.spinning?.loopTokensPerS ?? null)} | ${f(x.spinning?.torchTokensPerS ?? null)} | ${f(x.spinning?.loopOverTorch ?? null, 2)}x |`,
        ),
        '',
      ]
    : []),
  torchInfo.available
    ? `Target (Loop >= 4x PyTorch at batch 32 and 64, identical tokens): ${result.meetsTarget ? 'met' : 'NOT met'}.`
    : `PyTorch: ${torchInfo.reason}.`,
  '',
  ...(cacheVsRecompute
    ? [
        `KV cache against recomputing the prefix, batch 8: ${f(cacheVsRecompute.cachedTokensPerS)} vs ${f(cacheVsRecompute.recomputeTokensPerS)} tok/s, ${f(cacheVsRecompute.speedup, 1)}x; identical tokens: ${cacheVsRecompute.identicalTokens}.`,
        '',
      ]
    : []),
].join('\n');
await writeFileAtomic(path.join(resultsDir, 'decode.md'), md);
process.stdout.write(md);
