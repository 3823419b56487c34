/**
 * Where the Expert forward's time goes during rollouts: plays one in-process rollout (the default
 * config's 8 scenarios x 4, after a warm-up) with ORT profiling on (GOPO_NN_PROFILE, see the nn
 * README) and prints the kernel time per op type over every length bucket's session, the share of
 * the attention-score work, and the forward's wall time beside ORT's own run time.
 *
 *   node --conditions=@gopo/source --import tsx bench/profile-rollout.ts
 *   (BENCH_THREADS, default all cores; PROFILE_BY=node groups by node, layer indices folded)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { templateReplyPolicy } from '@gopo/envs';
import { ExpertAgent } from '@gopo/expert-agent';
import { loadDefaultTokenizer } from '@gopo/lm';
import { Forward } from '@gopo/nn';
import { GopoTrainConfigSchema } from '../src/gopo/config.js';
import { shopEnvFactory } from '../src/gopo/run.js';
import { trainingJobs } from '../src/gopo/scenarios.js';
import { InProcessPool } from '../src/rollout/worker-pool.js';

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const dir = mkdtempSync(join(os.tmpdir(), 'gopo-rollout-profile-'));
process.env.GOPO_NN_PROFILE = join(dir, 'ort');
const c = GopoTrainConfigSchema.parse({});
const makeEnv = shopEnvFactory(c);
const agent = ExpertAgent.random({}, await loadDefaultTokenizer(), makeEnv().strategies, 1, {
  intraOpThreads: threads,
});
const pool = new InProcessPool({ strategy: agent, reply: templateReplyPolicy }, makeEnv, c.rollout.maxLive);
await pool.run(trainingJobs(2, 0, c.rollout.scenarios, c.rollout.groupSize));
let wallMs = 0;
let calls = 0;
const run = Forward.prototype.run;
Forward.prototype.run = async function (this: Forward, batch) {
  const t0 = performance.now();
  try {
    return await run.call(this, batch);
  } finally {
    wallMs += performance.now() - t0;
    calls++;
  }
};
const t0 = performance.now();
const results = await pool.run(trainingJobs(2, 1, c.rollout.scenarios, c.rollout.groupSize));
const rolloutMs = performance.now() - t0;
// The sessions sit behind private fields (a development tool, not API).
type Held = { built: { session: { endProfiling(): void } } };
const forwards = (agent as unknown as { forwards: Map<number, Promise<Held>> }).forwards;
for (const f of forwards.values()) (await f).built.session.endProfiling();
delete process.env.GOPO_NN_PROFILE;

// Kernel time per op type over both rollouts (the warm-up's first runs touch fresh memory; with
// many small runs that is noise), and ORT's model_run time of the timed rollout's share.
const byOp = new Map<string, number>();
let runUs = 0;
let kernelUs = 0;
for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
  for (const e of JSON.parse(readFileSync(join(dir, f), 'utf8')) as ProfileEvent[]) {
    if (e.name === 'model_run') runUs += e.dur;
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op =
      process.env.PROFILE_BY === 'node'
        ? `${e.name.replace(/_kernel_time$/, '').replace(/\.\d+\./g, '.*.')} (${e.args?.op_name})`
        : (e.args?.op_name ?? '?');
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
    kernelUs += e.dur;
  }
}
rmSync(dir, { recursive: true, force: true });
const decisions = results.reduce((n, r) => n + r.decisions.length, 0);
console.log(
  `timed rollout: ${results.length} dialogues, ${decisions} decisions, ${(rolloutMs / 1000).toFixed(2)} s; forward ${calls} calls, ${(wallMs / 1000).toFixed(2)} s wall (${threads} threads)`,
);
console.log(
  `both rollouts: ORT model_run ${(runUs / 1e6).toFixed(2)} s, kernels ${(kernelUs / 1e6).toFixed(2)} s (${forwards.size} length buckets)`,
);
console.log(`${process.env.PROFILE_BY === 'node' ? 'node' : 'op type'}`.padEnd(22), 'kernel s   share');
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 20))
  console.log(
    `${op.padEnd(process.env.PROFILE_BY === 'node' ? 70 : 22)} ${(us / 1e6).toFixed(3).padStart(9)} ${((100 * us) / kernelUs).toFixed(1).padStart(6)}%`,
  );
