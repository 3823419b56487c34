// Where a greedy decode step's time goes: ORT's per-node kernel times (GOPO_NN_PROFILE) of the decode
// session, summed per op type and divided by the steps run, for the decode benchmark's model.
// Run: node --conditions=@gopo/source --import tsx bench/profile-decode.ts
// Env: BATCH (32), THREADS (1: per-op times least disturbed by other jobs), TOKENS_PER_RUN (32; 1
// profiles the one-token step graph of the host path), NEW_TOKENS (128).

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '@gopo/core';
import { DECODE_BENCH_CONFIG } from './decode-model.js';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-decode-profile-'));
process.env.GOPO_NN_PROFILE = path.join(dir, 'ort');
const { LlamaModel } = await import('../src/index.js');

const b = Number(process.env.BATCH ?? 32);
const threads = Number(process.env.THREADS ?? 1);
const tokensPerRun = Number(process.env.TOKENS_PER_RUN ?? 32);
const newTokens = Number(process.env.NEW_TOKENS ?? 128);
const model = LlamaModel.random(DECODE_BENCH_CONFIG, 1, { intraOpThreads: threads });
const rng = Rng.fromSeed(3, 'bench-prompts');
const prompts = Array.from({ length: b }, () =>
  Array.from({ length: 16 + rng.int(33) }, () => 3 + rng.int(4093)),
);
const options = { maxNewTokens: newTokens, stopTokenIds: [] as number[], tokensPerRun };
await model.generate(prompts, options); // compiles
const t0 = performance.now();
await model.generate(prompts, options);
const wallS = (performance.now() - t0) / 1000;
const p = Math.ceil(48 / 16) * 16;
const cap = Math.ceil((p + newTokens) / 16) * 16;
const session = tokensPerRun > 1 ? await model.decodeLoopGraph(b, cap) : await model.stepGraph(b, 1, cap);
session.session.endProfiling();

interface Event {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}
const byOp = new Map<string, number>();
let runUs = 0;
for (const f of await fs.readdir(dir)) {
  const text = await fs.readFile(path.join(dir, f), 'utf8');
  if (!text.trimEnd().endsWith(']')) continue; // sessions still profiling (prefill) left no complete file
  for (const e of JSON.parse(text) as Event[]) {
    if (e.cat === 'Session' && e.name === 'model_run') runUs += e.dur;
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    if (op === 'Loop') continue; // its body's nodes are profiled one by one
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
  }
}
await fs.rm(dir, { recursive: true, force: true });
// Two generate calls ran newTokens - 1 decode steps each (plus at most 3 discarded Loop steps).
const steps = 2 * (newTokens - 1);
const kernels = [...byOp.values()].reduce((a, x) => a + x, 0);
const ms = (us: number) => (us / 1000 / steps).toFixed(3);
const lines = [
  `batch ${b}, ${threads} thread(s), tokens per run ${tokensPerRun}, load average ${os.loadavg()[0]?.toFixed(1)}`,
  `generate: ${((b * newTokens) / wallS).toFixed(0)} tok/s; per decode step: ORT run ${ms(runUs)} ms, kernels ${ms(kernels)} ms`,
  ...[...byOp]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 14)
    .map(([op, us]) => `  ${op.padEnd(18)} ${ms(us)} ms  ${((100 * us) / kernels).toFixed(1)}%`),
];
process.stdout.write(`${lines.join('\n')}\n`);
