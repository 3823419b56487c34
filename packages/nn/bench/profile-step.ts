/**
 * Profiles the benchmark model's train step and forward: node counts by ONNX op type in each
 * emitted graph, and (with ORT profiling) the time spent per op type over a few runs. Use it to see
 * where the backward's cost goes before changing autodiff rules.
 *
 *   node --conditions=@gopo/source --import tsx bench/profile-step.ts [runs]
 *   (BENCH_QUICK=1 for the small model; BENCH_THREADS as in train-step.ts; PROFILE_BY=scope|phase|node
 *   groups by module scope, forward/backward/optimizer or node instead of op type)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel, Forward, ParamStore, Trainer } from '../src/index.js';
import { batchSpec, benchTrainerConfig, lossModel, threads, tokenIds } from './bench-model.js';

const runs = Number(process.argv[2] ?? 6);

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

/** Runs at the start of a profile left out of the sums: the first touches fresh arena memory. */
const WARMUP_RUNS = 2;

/** A node's module scope with layer indices folded (grad.model.layers.*.mlp.up_proj). */
function scopeOf(eventName: string): string {
  const node = eventName.replace(/_kernel_time$/, '');
  const scope = node.includes('/') ? node.slice(0, node.lastIndexOf('/')) : node;
  return scope.replace(/\.\d+\./g, '.*.').replace(/^optimizer\..*/, 'optimizer.*');
}

/** Which part of the step a node belongs to (autodiff and the optimizer name their scopes). */
function phaseOf(eventName: string): string {
  if (eventName.startsWith('optimizer') || eventName.startsWith('clip')) return 'optimizer + clip';
  return eventName.startsWith('grad.') ? 'backward' : 'forward';
}

/**
 * Sums the per-node kernel times of an ORT profile by op type (microseconds per run), over the runs
 * after the warm-up ones; also returns the mean wall time of those runs (model_run events).
 */
function summarise(file: string): { rows: [string, number, number][]; runMs: number } {
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  const runs = events
    .filter((e) => e.name === 'model_run')
    .sort((a, b) => a.ts - b.ts)
    .slice(WARMUP_RUNS);
  const perRun = Math.max(1, runs.length);
  const inTimedRun = (e: ProfileEvent) => runs.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
  const byOp = new Map<string, [number, number]>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !inTimedRun(e)) continue;
    const by = process.env.PROFILE_BY;
    const op =
      by === 'scope'
        ? scopeOf(e.name)
        : by === 'phase'
          ? phaseOf(e.name)
          : by === 'node'
            ? `${e.name.replace(/_kernel_time$/, '').replace(/\.\d+\./g, '.*.')} (${e.args?.op_name})`
            : (e.args?.op_name ?? '?');
    const cur = byOp.get(op) ?? [0, 0];
    byOp.set(op, [cur[0] + e.dur / perRun, cur[1] + 1 / perRun]);
  }
  const rows = [...byOp]
    .map(([op, [us, n]]) => [op, us, n] as [string, number, number])
    .sort((a, b) => b[1] - a[1]);
  return { rows, runMs: runs.reduce((a, r) => a + r.dur, 0) / perRun / 1000 };
}

function counts(bytes: Uint8Array): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of decodeModel(bytes).graph.node) m.set(n.opType, (m.get(n.opType) ?? 0) + 1);
  return m;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gopo-nn-profile-'));
  process.env.GOPO_NN_PROFILE = join(dir, 'ort');
  const trainer = await Trainer.create(lossModel, batchSpec, {
    ...benchTrainerConfig,
    intraOpThreads: threads,
  });
  const store = new ParamStore();
  for (const [n, v] of trainer.params.entries()) store.set(n, v);
  const fwd = await Forward.create((g, b) => ({ loss: lossModel(g, b) }), batchSpec, store, {
    intraOpThreads: threads,
  });
  const batch = { ids: tokenIds(1), targets: tokenIds(2) };
  for (let i = 0; i < runs; i++) await trainer.trainStep(batch);
  for (let i = 0; i < runs; i++) await fwd.run(batch);
  delete process.env.GOPO_NN_PROFILE;
  // The sessions sit behind private fields (this is a development tool, not API).
  type Held = { session: { model: { bytes: Uint8Array }; endProfiling(): void } };
  const stepSession = (trainer as unknown as { fused: Held }).fused.session;
  const fwdSession = (fwd as unknown as { built: Held }).built.session;
  const stepModel = stepSession.model;
  const fwdModel = fwdSession.model;
  const cs = counts(stepModel.bytes);
  const cf = counts(fwdModel.bytes);
  const ops = [...new Set([...cs.keys(), ...cf.keys()])].sort((a, b) => (cs.get(b) ?? 0) - (cs.get(a) ?? 0));
  console.log('op type            step  forward');
  for (const op of ops)
    console.log(
      `${op.padEnd(18)} ${String(cs.get(op) ?? 0).padStart(5)} ${String(cf.get(op) ?? 0).padStart(8)}`,
    );
  console.log(
    `total              ${[...cs.values()].reduce((a, b) => a + b, 0)} ${[...cf.values()].reduce((a, b) => a + b, 0)}`,
  );
  // ORT writes a session's profile file when profiling ends.
  stepSession.endProfiling();
  fwdSession.endProfiling();
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  for (const f of files) {
    const { rows, runMs } = summarise(join(dir, f));
    const total = rows.reduce((a, r) => a + r[1], 0);
    console.log(
      `\n${f}: ${(total / 1000).toFixed(1)} ms of kernel time per run, ${runMs.toFixed(1)} ms per run (${WARMUP_RUNS} warm-up runs left out)`,
    );
    for (const [op, us, n] of rows.slice(0, Number(process.env.PROFILE_TOP ?? 25)))
      console.log(
        `  ${op.padEnd(34)} ${(us / 1000).toFixed(2).padStart(8)} ms  ${n.toFixed(0).padStart(5)} nodes`,
      );
  }
  rmSync(dir, { recursive: true, force: true });
}

await main();
