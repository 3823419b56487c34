// SFT throughput and memory: full fine-tuning and LoRA on a small Llama over packed shop dialogues.
// Run: pnpm --filter @gopo/lm run bench  (writes bench-results/sft.json and sft.md)
// Each configuration runs in its own child process so peak RSS is per configuration.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, silentLogger, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { generateShopDialogue, LlamaConfigSchema, loadDefaultTokenizer, runSft } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, '..', 'bench-results');
const threads = Number(process.env.BENCH_THREADS ?? os.cpus().length);
const STEPS = Number(process.env.BENCH_STEPS ?? 12);

interface Row {
  name: string;
  model: string;
  seqLen: number;
  microBatch: number;
  trainable: string;
  tokensPerSecond: number;
  secondsPerStep: number;
  peakRssMb: number;
}

async function child(name: string): Promise<Row> {
  const tok = await loadDefaultTokenizer();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'sft-bench-'));
  const data = path.join(work, 'data.jsonl');
  const rng = Rng.fromSeed(1, 'sft-bench');
  const lines: string[] = [];
  for (let i = 0; i < 600; i++) {
    const turns = generateShopDialogue(rng)
      .split('\n')
      .filter((l) => l.trim() !== '');
    const messages = turns.map((content, j) => ({ role: j % 2 === 0 ? 'user' : 'agent', content }));
    if (messages.length >= 2) lines.push(JSON.stringify({ messages }));
  }
  await fs.writeFile(data, `${lines.join('\n')}\n`);
  const model = LlamaConfigSchema.parse({
    vocab_size: tok.vocabSize,
    hidden_size: 256,
    intermediate_size: 688,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    tie_word_embeddings: true,
  });
  const seqLen = 256;
  const microBatch = 8;
  const lora =
    name === 'lora' ? { r: 8, alpha: 16, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] } : null;
  const common = {
    runsDir: work,
    data: { train: [data], evalFraction: 0 },
    model: { config: model },
    seqLen,
    packing: true,
    microBatchSize: microBatch,
    lr: 1e-3,
    threads,
    logEvery: 1,
    lora,
  };
  // Warm-up run compiles the sessions (cached per model bytes), then the timed run.
  await runSft({ ...common, runName: 'warm', maxSteps: 2 }, { logger: silentLogger(), progress: false });
  const t0 = performance.now();
  const r = await runSft(
    { ...common, runName: 'timed', maxSteps: STEPS },
    { logger: silentLogger(), progress: false },
  );
  const secs = (performance.now() - t0) / 1000;
  await fs.rm(work, { recursive: true, force: true });
  return {
    name,
    model: 'Llama d256 L4 H4/2 vocab 2048 (tied)',
    seqLen,
    microBatch,
    trainable: lora ? 'LoRA r8 on q,k,v,o' : 'all',
    tokensPerSecond: r.tokensPerSecond,
    secondsPerStep: secs / STEPS,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

if (process.argv[2] === '--child') {
  const row = await child(process.argv[3] as string);
  process.stdout.write(`${JSON.stringify(row)}\n`);
} else {
  const rows: Row[] = [];
  for (const name of ['full', 'lora']) {
    const out = execFileSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), '--child', name],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    rows.push(JSON.parse(out.trim().split('\n').at(-1) as string) as Row);
  }
  const result = {
    threads,
    steps: STEPS,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    loadAverage: os.loadavg()[0] ?? 0,
    node: process.version,
    rows,
  };
  await fs.mkdir(resultsDir, { recursive: true });
  await writeJsonAtomic(path.join(resultsDir, 'sft.json'), result);
  const md = [
    `SFT throughput (${result.cpu}, ${result.cores} cores, ${threads} threads, 1-min load average ${result.loadAverage.toFixed(1)}, ${STEPS} steps; tokens/s counts non-padding tokens over optimizer-step time; wall s/step is the whole timed run, data loading and final save included)`,
    '',
    '| run | model | seq | micro-batch | trained | tokens/s | wall s/step | peak RSS MB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.model} | ${r.seqLen} | ${r.microBatch} | ${r.trainable} | ${Math.round(r.tokensPerSecond)} | ${r.secondsPerStep.toFixed(3)} | ${Math.round(r.peakRssMb)} |`,
    ),
    '',
  ].join('\n');
  await writeFileAtomic(path.join(resultsDir, 'sft.md'), md);
  process.stdout.write(md);
}
