/**
 * `gopo experiment`: every method of the config over every seed, then the report. Resumable at the
 * method/seed grain: a finished method/seed leaves results/<id>/seed-<S>.json (its settings key, its
 * held-out metric values, episodes, curve) and seed-<S>.sessions.jsonl (the held-out sessions, a
 * Mgshop-style log `gopo eval` reads), and is never rerun; an unfinished GOPO run resumes from its
 * last phase checkpoint (methods/<id>/seed-<S>/).
 */
import { existsSync, promises as fs, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import {
  acquireLock,
  type ConfigChange,
  createRunDir,
  diffConfig,
  formatConfigChanges,
  LockedError,
  type Logger,
  UsageError,
  writeFileAtomicSync,
  writeJsonAtomic,
} from '@gopo/core';
import { readSessionsAll, type Session, writeSessions } from '@gopo/dialogue';
import { z } from 'zod';
import { shopEnvFactory } from '../gopo/run.js';
import { evalJobs } from '../gopo/scenarios.js';
import { InProcessPool } from '../rollout/worker-pool.js';
import { type ExperimentConfig, type ExperimentMethod, methodLabel } from './config.js';
import { type CurvePoint, methodGopoConfig, metricValues, trainMethod } from './methods.js';
import { type ExperimentReport, pooledSessionId, writeExperimentReport } from './report.js';

export const MethodSeedResultSchema = z.strictObject({
  method: z.string(),
  seed: z.number().int(),
  key: z.string().describe('the settings this result was produced with (a change makes it stale)'),
  episodes: z.number().int(),
  models: z.string(),
  values: z.record(z.string(), z.number().nullable()),
  curve: z.array(
    z.strictObject({ episodes: z.number(), metrics: z.record(z.string(), z.number().nullable()) }),
  ),
  wallSeconds: z.number(),
});
export type MethodSeedResult = z.infer<typeof MethodSeedResultSchema>;

export interface ExperimentRunOptions {
  readonly runName: string;
  readonly runsDir: string;
  readonly overwrite: boolean;
  readonly logger: Logger;
  readonly progress?: boolean;
  /** Only these method ids (the others' finished results still enter the report). */
  readonly only?: readonly string[];
}

/** What shapes a method/seed's result: its entry, the shared config, the budget and the evaluation. */
function resultKey(e: ExperimentConfig, m: ExperimentMethod): string {
  return JSON.stringify({ method: m, gopo: e.gopo, budget: e.budget, eval: e.eval });
}

/**
 * The settings that differ between a finished result and what the config asks of it now; fields the
 * result predates (a setting added to the code since, at its default) are no change.
 */
export function resultChanges(r: MethodSeedResult, e: ExperimentConfig, m: ExperimentMethod): ConfigChange[] {
  return diffConfig(JSON.parse(r.key), JSON.parse(resultKey(e, m))).filter((c) => c.before !== undefined);
}

/** JSON has no NaN: missing metric values are stored as null. */
const toJsonValues = (r: Record<string, number>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));

async function readResult(file: string): Promise<MethodSeedResult> {
  const parsed = MethodSeedResultSchema.safeParse(JSON.parse(await fs.readFile(file, 'utf8')));
  if (!parsed.success)
    throw new UsageError(
      `${file}: not a method result (${parsed.error.issues[0]?.message}); remove it to rerun`,
    );
  return parsed.data;
}

/** Trains and evaluates one method for one seed; writes its result and held-out sessions. */
async function runMethodSeed(
  e: ExperimentConfig,
  m: ExperimentMethod,
  seed: number,
  root: string,
  o: ExperimentRunOptions,
): Promise<MethodSeedResult> {
  const dir = path.join(root, 'results', m.id);
  await fs.mkdir(dir, { recursive: true });
  // One process per method/seed: a second invocation (another --only, say) skips it.
  const lock = acquireLock(path.join(dir, `seed-${seed}.lock`), `${methodLabel(m)}, seed ${seed}`);
  const wall = wallClock(path.join(dir, `seed-${seed}.wall.json`));
  try {
    return await trainAndEvaluate(e, m, seed, root, o, wall);
  } finally {
    wall.stop();
    lock.release();
  }
}

const WallSchema = z.strictObject({ seconds: z.number().min(0) });
const WALL_HEARTBEAT_MS = 30_000;

/**
 * The wall time of a method/seed over every invocation that worked on it: what earlier (interrupted)
 * invocations spent, read from `file`, plus this one's, written back every 30 s so that a kill loses
 * at most that much. A resumed run's result would otherwise count only its last stretch.
 */
function wallClock(file: string): { seconds(): number; stop(): void } {
  let before = 0;
  if (existsSync(file)) {
    const parsed = WallSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (parsed.success) before = parsed.data.seconds;
  }
  const t0 = Date.now();
  const seconds = () => before + (Date.now() - t0) / 1000;
  const save = () => writeFileAtomicSync(file, `${JSON.stringify({ seconds: seconds() })}\n`);
  const timer = setInterval(save, WALL_HEARTBEAT_MS);
  timer.unref();
  return {
    seconds,
    stop: () => {
      clearInterval(timer);
      save();
    },
  };
}

async function trainAndEvaluate(
  e: ExperimentConfig,
  m: ExperimentMethod,
  seed: number,
  root: string,
  o: ExperimentRunOptions,
  wall: { seconds(): number },
): Promise<MethodSeedResult> {
  const dir = path.join(root, 'results', m.id);
  const trained = await trainMethod(m, {
    experiment: e,
    seed,
    runsDir: path.join(root, 'methods', m.id),
    logger: o.logger,
    progress: o.progress ?? true,
  });
  try {
    const c = methodGopoConfig(e, m, seed);
    const pool = new InProcessPool(trained.roles, shopEnvFactory(c), c.rollout.maxLive);
    const results = await pool.run(evalJobs(e.eval.scenarios, { greedy: !trained.sample, streamSeed: seed }));
    const sessions = results.map((r) => r.session);
    await writeSessions(path.join(dir, `seed-${seed}.sessions.jsonl`), sessions);
    const result: MethodSeedResult = {
      method: m.id,
      seed,
      key: resultKey(e, m),
      episodes: trained.episodes,
      models: trained.models,
      values: toJsonValues(metricValues(sessions, c, seed)),
      curve: trained.curve.map((p: CurvePoint) => ({
        episodes: p.episodes,
        metrics: toJsonValues({ ...p.metrics }),
      })),
      wallSeconds: wall.seconds(),
    };
    // Written last: its presence marks the method/seed finished.
    await writeJsonAtomic(path.join(dir, `seed-${seed}.json`), result);
    return result;
  } finally {
    await trained.close();
  }
}

/** Overwriting would delete the folders of method/seeds another process is running: refuse. */
function refuseIfMethodsRunning(root: string): void {
  const results = path.join(root, 'results');
  if (!existsSync(results)) return;
  for (const id of readdirSync(results)) {
    const dir = path.join(results, id);
    if (!statSync(dir).isDirectory()) continue;
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.lock')))
      acquireLock(path.join(dir, f), `experiment ${root} (method ${id})`).release();
  }
}

/** Runs (or resumes) the experiment and writes report.md, report.html and results.json. */
export async function runExperiment(
  e: ExperimentConfig,
  o: ExperimentRunOptions,
): Promise<ExperimentReport & { runDir: string }> {
  const t0 = Date.now();
  // The experiment's config may grow (a method added) between invocations; each method/seed result
  // carries its own settings key, so the root config is recorded, not enforced. The root is not
  // locked: each method/seed is, so invocations with disjoint --only lists can run side by side.
  if (o.overwrite) refuseIfMethodsRunning(path.join(path.resolve(o.runsDir), o.runName));
  const run = await createRunDir(o.runName, e, {
    parent: o.runsDir,
    resume: !o.overwrite,
    overwrite: o.overwrite,
    allowConfigChange: true,
    lock: false,
  });
  const unknown = (o.only ?? []).filter((id) => !e.methods.some((m) => m.id === id));
  if (unknown.length > 0)
    throw new UsageError(
      `--only names no method: ${unknown.join(', ')}; methods: ${e.methods.map((m) => m.id).join(', ')}`,
    );
  const resultFile = (m: ExperimentMethod, seed: number) =>
    path.join(run.root, 'results', m.id, `seed-${seed}.json`);
  const checkedResult = async (m: ExperimentMethod, seed: number): Promise<MethodSeedResult> => {
    const r = await readResult(resultFile(m, seed));
    const changed = resultChanges(r, e, m);
    if (changed.length > 0)
      throw new UsageError(
        `${methodLabel(m)}, seed ${seed} was run with other settings (${formatConfigChanges(changed)}); ` +
          `remove ${path.join(run.root, 'results', m.id)} and ${path.join(run.root, 'methods', m.id)} to rerun it, or give it a new id`,
      );
    return r;
  };
  for (const m of e.methods) {
    for (const seed of e.seeds) {
      if (existsSync(resultFile(m, seed))) {
        await checkedResult(m, seed);
        o.logger.info(`${methodLabel(m)}, seed ${seed}: finished earlier (${resultFile(m, seed)})`);
      } else if (!o.only || o.only.includes(m.id)) {
        o.logger.info(`${methodLabel(m)}, seed ${seed}: training and evaluating`);
        try {
          const r = await runMethodSeed(e, m, seed, run.root, o);
          o.logger.info(
            `${methodLabel(m)}, seed ${seed}: TSE ${r.values.tse?.toFixed(1)}, success ${r.values.success_rate?.toFixed(1)} (${r.wallSeconds.toFixed(0)} s)`,
          );
        } catch (err) {
          if (!(err instanceof LockedError)) throw err;
          o.logger.warn(`skipped: ${err.message}`);
        }
      }
    }
  }
  // The report takes every result finished by now, those of invocations running beside this one included.
  const perMethod = new Map<string, MethodSeedResult[]>();
  const sessions = new Map<string, Session[]>();
  for (const m of e.methods) {
    const rows: MethodSeedResult[] = [];
    for (const seed of e.seeds) {
      if (!existsSync(resultFile(m, seed))) continue;
      rows.push(await checkedResult(m, seed));
      const logged = await readSessionsAll(
        path.join(run.root, 'results', m.id, `seed-${seed}.sessions.jsonl`),
      );
      const pooled = sessions.get(m.id) ?? [];
      for (const s of logged) pooled.push({ ...s, session_id: pooledSessionId(seed, s.session_id) });
      sessions.set(m.id, pooled);
    }
    if (rows.length > 0) perMethod.set(m.id, rows);
  }
  const report = await writeExperimentReport(run.root, e, perMethod, sessions, (Date.now() - t0) / 1000);
  return { ...report, runDir: run.root };
}
