// Dialogue turns/s in shop rollouts whose CS Agent is an LM reply backend (cs-agent's CsAgent, greedy,
// batched over all live dialogues): a random Llama of the lm SFT benchmark's size (d_model 256,
// 4 layers, 4 heads / 2 kv heads, mlp 688, the shipped 2,048-id tokenizer, tied head), replies capped
// at 64 tokens, the template strategy policy, 32 live dialogues. Greedy decoding runs several tokens
// per session run (lm's ONNX Loop path, the default) and, for comparison, one run per token.
// Each configuration plays the same episodes twice; the first run compiles the sessions of every
// (batch, prompt bucket) shape it meets, the second is timed.
// Run: pnpm --filter @gopo/trainer run bench  (writes bench-results/lm-rollout.json and .md)
// Env: BENCH_EPISODES (32), BENCH_MAX_LIVE (32). The CsAgent's model runs on ORT's default thread
// count (the machine's cores).

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { CsAgent } from '@gopo/cs-agent';
import { templateReplyPolicy, templateStrategyPolicy } from '@gopo/envs';
import { DEFAULT_TOKENIZER_PATH, LlamaModel, loadDefaultTokenizer, TOKENIZER_FILE } from '@gopo/lm';
import { evalJobs, GopoTrainConfigSchema, runEpisodes, shopEnvFactory } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, '..', 'bench-results');
const episodes = Number(process.env.BENCH_EPISODES ?? 32);
const maxLive = Number(process.env.BENCH_MAX_LIVE ?? 32);
const maxNewTokens = 64;

const tok = await loadDefaultTokenizer();
const config = {
  model_type: 'llama',
  vocab_size: tok.vocabSize,
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 4096,
  tie_word_embeddings: true,
  bos_token_id: tok.bosId,
  eos_token_id: tok.endId,
  pad_token_id: tok.padId,
};
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-lm-rollout-'));
await LlamaModel.random(config, 1).save(dir, { [TOKENIZER_FILE]: await fs.readFile(DEFAULT_TOKENIZER_PATH) });

const makeEnv = shopEnvFactory(GopoTrainConfigSchema.parse({}));
const jobs = evalJobs(episodes, { greedy: true });

async function timed(name: string, reply: CsAgent | typeof templateReplyPolicy) {
  const play = () => runEpisodes(jobs, { strategy: templateStrategyPolicy, reply }, makeEnv, { maxLive });
  const t0 = performance.now();
  await play();
  const firstRunS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const results = await play();
  const seconds = (performance.now() - t1) / 1000;
  const turns = results.reduce((n, r) => n + r.session.turns.filter((t) => t.role === 'agent').length, 0);
  return { name, seconds, firstRunS, agentTurns: turns, turnsPerS: turns / seconds };
}

// One CsAgent per decoding mode; `tokensPerRun: 1` is forced through the model's generate.
const loop = await CsAgent.load(dir, { maxNewTokens, temperature: 0 });
const perToken = await CsAgent.load(dir, { maxNewTokens, temperature: 0 });
const model = perToken.model;
const generate = model.generate.bind(model);
model.generate = (prompts, options, extras) => generate(prompts, { ...options, tokensPerRun: 1 }, extras);

const load0 = os.loadavg()[0] as number;
const rows = [
  await timed('template replies (no LM)', templateReplyPolicy),
  await timed('LM replies, one session run per token', perToken),
  await timed('LM replies, 32 tokens per run (Loop)', loop),
];
await fs.rm(dir, { recursive: true, force: true });
const result = {
  model: config,
  maxNewTokens,
  episodes,
  maxLive,
  cores: os.availableParallelism(),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  node: process.version,
  loadAverage: [load0, os.loadavg()[0]],
  rows,
};
await writeJsonAtomic(path.join(resultsDir, 'lm-rollout.json'), result);
const md = [
  '# Shop rollouts with an LM CS Agent',
  '',
  `${episodes} episodes (template strategies), ${maxLive} live, random Llama d_model 256 x 4 layers, vocab ${tok.vocabSize}, greedy replies of at most ${maxNewTokens} tokens, ORT threads = ${result.cores} cores, ${result.cpu}, 1-minute load average ${load0.toFixed(1)} -> ${(os.loadavg()[0] as number).toFixed(1)}.`,
  '',
  '| reply backend | agent turns | turns/s | s (second run) | first run s (compiles) |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.agentTurns} | ${r.turnsPerS.toFixed(2)} | ${r.seconds.toFixed(1)} | ${r.firstRunS.toFixed(1)} |`,
  ),
  '',
].join('\n');
await writeFileAtomic(path.join(resultsDir, 'lm-rollout.md'), md);
process.stdout.write(md);
