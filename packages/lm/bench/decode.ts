// Decode benchmark: generation with the KV cache against recomputing the full prefix every step, on a
// random Llama-style model built in code, measured in one run (same prompts, same greedy tokens).
// Run: pnpm --filter @gopo/lm run bench  (writes bench-results/decode.json and decode.md)
// Env: BENCH_THREADS (ORT intra-op threads, default CPU count), BENCH_NEW_TOKENS (128), BENCH_BATCH (8).
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { LlamaModel } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, '..', 'bench-results');
const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const newTokens = Number(process.env.BENCH_NEW_TOKENS ?? 128);
const batch = Number(process.env.BENCH_BATCH ?? 8);

const config = {
  model_type: 'llama',
  vocab_size: 4096,
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 1024,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
};
const model = LlamaModel.random(config, 1, { intraOpThreads: threads });
const rng = Rng.fromSeed(3, 'bench-prompts');
// Prompts of different lengths (16..48 tokens), so padding and the attention mask are exercised.
const prompts = Array.from({ length: batch }, () =>
  Array.from({ length: 16 + rng.int(33) }, () => 3 + rng.int(config.vocab_size - 3)),
);
const opts = { maxNewTokens: newTokens, stopTokenIds: [] as number[] };

const rssMb = () => process.memoryUsage().rss / 2 ** 20;
const peakRssMb = () => process.resourceUsage().maxRSS / 1024;

async function timed(useCache: boolean, reps: number) {
  const t0 = performance.now();
  await model.generate(prompts, { ...opts, useCache }); // warm-up: compiles every shape used
  const compileS = (performance.now() - t0) / 1000;
  const times: number[] = [];
  let tokens: number[][] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    const out = await model.generate(prompts, { ...opts, useCache });
    times.push((performance.now() - t) / 1000);
    tokens = out.map((o) => o.tokens);
  }
  times.sort((a, b) => a - b);
  const seconds = times[Math.floor(times.length / 2)] as number;
  return {
    seconds,
    tokensPerS: (batch * newTokens) / seconds,
    firstRunS: compileS,
    tokens,
    peakRssMb: peakRssMb(),
  };
}

const rss0 = rssMb();
const cached = await timed(true, 5);
const uncached = await timed(false, 3);
const identical = JSON.stringify(cached.tokens) === JSON.stringify(uncached.tokens);
const ratio = cached.tokensPerS / uncached.tokensPerS;

const result = {
  model: { ...config, params: [...model.weights.values()].reduce((s, w) => s + w.data.length, 0) },
  batch,
  newTokens,
  promptLengths: prompts.map((p) => p.length),
  threads,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  node: process.version,
  cached: {
    seconds: cached.seconds,
    tokensPerS: cached.tokensPerS,
    firstRunS: cached.firstRunS,
    peakRssMb: cached.peakRssMb,
  },
  uncached: {
    seconds: uncached.seconds,
    tokensPerS: uncached.tokensPerS,
    firstRunS: uncached.firstRunS,
    peakRssMb: uncached.peakRssMb,
  },
  speedup: ratio,
  identicalTokens: identical,
  rssAtStartMb: rss0,
  // Other processes share the CPU; read the figures against the load they ran under.
  loadAverage: os.loadavg(),
  cores: os.availableParallelism(),
  target: 'speedup >= 5 at 128 new tokens, batch 8',
  meetsTarget: ratio >= 5,
};
await writeJsonAtomic(path.join(resultsDir, 'decode.json'), result);
const f = (x: number, d = 1) => x.toFixed(d);
const md = [
  `# Decode: KV cache vs full-prefix recompute`,
  '',
  `Random Llama (d_model 256, 4 layers, 4 heads / 2 kv heads, mlp 688, vocab 4096, ${(result.model.params / 1e6).toFixed(2)} M params), batch ${batch}, prompts ${Math.min(...result.promptLengths)}..${Math.max(...result.promptLengths)} tokens, ${newTokens} new tokens, greedy, ${threads} threads on ${result.cores} cores (load average ${result.loadAverage.map((x) => x.toFixed(1)).join(' / ')}), ${result.cpu}, Node ${process.version}.`,
  '',
  '| path | tokens/s | s per run | first run s (compiles) | peak RSS MB |',
  '| --- | ---: | ---: | ---: | ---: |',
  `| KV cache | ${f(cached.tokensPerS)} | ${f(cached.seconds, 3)} | ${f(cached.firstRunS, 2)} | ${f(cached.peakRssMb, 0)} |`,
  `| recompute prefix | ${f(uncached.tokensPerS)} | ${f(uncached.seconds, 3)} | ${f(uncached.firstRunS, 2)} | ${f(uncached.peakRssMb, 0)} |`,
  '',
  `Speed-up ${f(ratio, 2)}x (target >= 5x: ${ratio >= 5 ? 'met' : 'NOT met'}); identical tokens: ${identical}.`,
  '',
].join('\n');
await writeFileAtomic(path.join(resultsDir, 'decode.md'), md);
process.stdout.write(md);
