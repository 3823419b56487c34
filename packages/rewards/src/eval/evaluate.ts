import { promises as fs } from 'node:fs';
import {
  assertNotJsonArray,
  ConfigError,
  checkInputFile,
  FileFormatError,
  formatFieldPath,
  type JsonlIssue,
  Rng,
  siblingModule,
  startModuleWorker,
} from '@gopo/core';
import { GOAL_TYPES, type GoalType, type Session } from '@gopo/dialogue';
import { compileBusinessReward } from '../business-reward.js';
import type { MetricsConfig } from '../config.js';
import {
  isRegisteredMetric,
  metricRegistry,
  type ScoringContext,
  SESSION_METRICS,
  type SessionMetric,
  scoreSessionInto,
  sessionViewInto,
} from '../session-metrics.js';
import { bootstrapTable, type Interval, type PairedDifference, pairedCompare } from './bootstrap.js';
import { lineAlignedRanges } from './line-reader.js';
import { GOAL_INDEX, type LineReader, MAX_LISTED, type RangeScore, scoreRange } from './score-range.js';
import { ScoreTable } from './score-table.js';
import type { ScoreWorkerInput } from './score-worker.js';

/** Resolves the configured metric names (all registered metrics when none are named). */
export function selectMetrics(config: MetricsConfig, source = '(config)'): SessionMetric[] {
  if (!config.metrics) return [...SESSION_METRICS];
  const seen = new Set<string>();
  return config.metrics.map((name, i) => {
    if (!metricRegistry.has(name) || seen.has(name)) {
      const why = seen.has(name)
        ? `metric "${name}" is listed twice`
        : `unknown metric "${name}"; valid: ${metricRegistry.names().join(', ')}`;
      throw new ConfigError({ file: source, path: ['metrics', i] }, why);
    }
    seen.add(name);
    return metricRegistry.get(name);
  });
}

export function scoringContext(config: MetricsConfig, source?: string): ScoringContext {
  return { config, business: compileBusinessReward(config.gre, source) };
}

export interface ScoredFile {
  readonly file: string;
  readonly table: ScoreTable;
  /** session_id -> row, kept only when pairing was asked for. */
  readonly ids: Map<string, number> | null;
  readonly duplicateIds: number;
  readonly skipped: number;
  readonly skippedLines: readonly JsonlIssue[];
}

export interface ScoreFileOptions {
  readonly skipInvalid?: boolean;
  /** Keep session ids (needed to pair two files). */
  readonly keepIds?: boolean;
  /** Called with each row after scoring, for pairing against another file (one worker only). */
  readonly onSession?: (session: Session, row: number) => void;
  /** Worker threads to parse and score with (default 1: this thread). Same result for any count. */
  readonly workers?: number;
  /** How lines are read (see ScoreRangeOptions.reader); same result either way. */
  readonly reader?: LineReader;
  /**
   * Called with the bytes read so far as the file is scored (after each chunk; with worker threads
   * only once, at the end).
   */
  readonly onProgress?: (bytesRead: number, fileBytes: number) => void;
}

/**
 * Streams a Mgshop-style JSONL log, validating and scoring each session into a ScoreTable; memory is
 * the table plus one chunk of lines. Without `skipInvalid`, every invalid line is still found (so the
 * error can list them) but nothing is returned: the error names the first one's line and field path,
 * and the line numbers of up to ten more.
 *
 * With `workers` > 1 the file is cut into that many line-aligned byte ranges, scored by worker
 * threads, and the results are joined in file order: the table, ids, counts and errors are exactly
 * those of one worker (JSON.parse bounds one core; see the README). It needs registry metrics and
 * no `onSession`.
 */
export async function scoreFile(
  file: string,
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  options: ScoreFileOptions = {},
): Promise<ScoredFile> {
  checkInputFile(file, 'log file');
  await assertNotJsonArray(file);
  const size = (await fs.stat(file)).size;
  const workers = Math.max(1, Math.floor(options.workers ?? 1));
  if (workers > 1 && options.onSession)
    throw new Error('scoreFile: onSession needs the sessions on this thread; use workers: 1');
  if (workers > 1 && !metrics.every(isRegisteredMetric))
    throw new Error('scoreFile: worker threads can only run registered metrics; use workers: 1');
  const onProgress = options.onProgress;
  const parts =
    workers > 1 && size > 0
      ? await scoreInWorkers(file, size, workers, metrics, ctx, options)
      : [
          await scoreRange(file, null, metrics, ctx, {
            ...options,
            onProgress: onProgress && ((bytes) => onProgress(bytes, size)),
          }),
        ];
  onProgress?.(size, size);

  const total = parts.reduce((n, p) => n + p.table.rows, 0);
  const table = parts.length === 1 ? parts[0]!.table : new ScoreTable(metrics.length, Math.max(1, total));
  if (parts.length > 1)
    for (const p of parts) {
      const n = p.table.rows * p.table.width;
      table.num.set(p.table.num.subarray(0, n), table.rows * table.width);
      table.den.set(p.table.den.subarray(0, n), table.rows * table.width);
      table.group.set(p.table.group.subarray(0, p.table.rows), table.rows);
      table.rows += p.table.rows;
    }
  // Line numbers of each part are relative to its range.
  const issues: JsonlIssue[] = [];
  let invalid = 0;
  let lineOffset = 0;
  for (const p of parts) {
    invalid += p.invalid;
    for (const i of p.issues)
      if (issues.length < MAX_LISTED + 1) issues.push({ ...i, line: i.line + lineOffset });
    lineOffset += p.lines;
  }
  if (invalid > 0 && !options.skipInvalid) {
    const first = issues[0]!;
    const others = issues.slice(1, MAX_LISTED + 1).map((i) => `${i.line} (${formatFieldPath(i.path)})`);
    const more =
      invalid > 1
        ? `; ${invalid} invalid lines in all, also at line ${others.join(', ')}${invalid > others.length + 1 ? ', ...' : ''}`
        : '';
    throw new FileFormatError(
      { file, line: first.line, path: first.path },
      `${first.message}${more} (use --skip-invalid to score the rest)`,
    );
  }
  let ids: Map<string, number> | null = null;
  let duplicateIds = 0;
  if (options.keepIds) {
    ids = new Map();
    let row = 0;
    for (const p of parts)
      for (const id of p.ids!) {
        if (ids.has(id)) duplicateIds++;
        else ids.set(id, row);
        row++;
      }
  }
  return { file, table, ids, duplicateIds, skipped: invalid, skippedLines: issues };
}

interface WorkerResult {
  rows: number;
  num: Float64Array;
  den: Float32Array;
  group: Uint8Array;
  ids: string[] | null;
  lines: number;
  invalid: number;
  issues: JsonlIssue[];
}

// Under the source condition (tests, benches) the worker is a .ts file, started through tsx.
const WORKER_URL = siblingModule(import.meta.url, 'score-worker');

async function scoreInWorkers(
  file: string,
  size: number,
  workers: number,
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  options: ScoreFileOptions,
): Promise<RangeScore[]> {
  const ranges = await lineAlignedRanges(file, size, workers);
  const results = await Promise.all(
    ranges.map(
      (range) =>
        new Promise<WorkerResult>((resolve, reject) => {
          const input: ScoreWorkerInput = {
            file,
            range,
            config: ctx.config,
            metrics: metrics.map((m) => m.name),
            skipInvalid: options.skipInvalid ?? false,
            keepIds: options.keepIds ?? false,
            reader: options.reader ?? 'wasm',
          };
          const w = startModuleWorker(WORKER_URL, { workerData: input });
          w.once('message', resolve);
          w.once('error', reject);
          // After a message, resolve() has already settled the promise and this is a no-op.
          w.once('exit', (code) => reject(new Error(`score worker exited (code ${code}) without a result`)));
        }),
    ),
  );
  return results.map((r) => {
    const table = new ScoreTable(metrics.length, 1);
    table.num = r.num;
    table.den = r.den;
    table.group = r.group;
    table.rows = r.rows;
    return { table, ids: r.ids, lines: r.lines, invalid: r.invalid, issues: r.issues };
  });
}

export interface MetricSummary {
  readonly name: string;
  readonly describe: string;
  readonly higherIsBetter: boolean;
  /** Sessions on which the metric is defined. */
  readonly sessions: number;
  readonly value: number;
  readonly low: number;
  readonly high: number;
}

export interface GoalBreakdown {
  readonly goal: GoalType;
  readonly sessions: number;
  readonly metrics: MetricSummary[];
}

export interface Evaluation {
  readonly file: string;
  readonly sessions: number;
  readonly skipped: number;
  readonly metrics: MetricSummary[];
  readonly byGoal: GoalBreakdown[];
}

function summaries(
  table: ScoreTable,
  metrics: readonly SessionMetric[],
  intervals: Interval[],
  group: number,
): MetricSummary[] {
  return metrics.map((m, j) => ({
    name: m.name,
    describe: m.describe,
    higherIsBetter: m.higherIsBetter,
    sessions: table.definedCount(j, group),
    value: intervals[j]!.value * m.scale,
    low: intervals[j]!.low * m.scale,
    high: intervals[j]!.high * m.scale,
  }));
}

/** Point estimates, percentile bootstrap intervals, and the per-goal-type breakdown of a scored file. */
export function summarize(
  scored: ScoredFile,
  metrics: readonly SessionMetric[],
  config: MetricsConfig,
  seed: number,
  onResample?: (done: number, total: number) => void,
): Evaluation {
  const rng = Rng.fromSeed(seed, 'rewards/bootstrap');
  const ci = bootstrapTable(scored.table, GOAL_TYPES.length, {
    resamples: config.bootstrap.resamples,
    confidence: config.bootstrap.confidence,
    rng,
    ...(onResample ? { onResample } : {}),
  });
  const byGoal: GoalBreakdown[] = [];
  GOAL_TYPES.forEach((goal, g) => {
    let sessions = 0;
    for (let i = 0; i < scored.table.rows; i++) if (scored.table.group[i] === g) sessions++;
    if (sessions > 0)
      byGoal.push({ goal, sessions, metrics: summaries(scored.table, metrics, ci.byGroup[g]!, g) });
  });
  return {
    file: scored.file,
    sessions: scored.table.rows,
    skipped: scored.skipped,
    metrics: summaries(scored.table, metrics, ci.overall, -1),
    byGoal,
  };
}

export interface MetricComparison {
  readonly name: string;
  readonly higherIsBetter: boolean;
  readonly a: number;
  readonly b: number;
  readonly delta: number;
  readonly low: number;
  readonly high: number;
  readonly pValue: number;
}

export interface Comparison {
  readonly test: string;
  readonly paired: number;
  /** Units the bootstrap resampled: `paired`, or the clusters of CompareOptions.clusterOf. */
  readonly units: number;
  readonly onlyInA: number;
  readonly onlyInB: number;
  readonly metrics: MetricComparison[];
}

/** How compareScored pairs and resamples sessions. */
export interface CompareOptions {
  /** Called as bootstrap resamples finish (progress). */
  readonly onResample?: (done: number, total: number) => void;
  /**
   * The cluster of a session id: paired sessions of one cluster are merged into one unit (their
   * numerators and denominators summed, so every pooled value is unchanged) and the bootstrap
   * resamples units. Repeated measurements of one scenario (its runs under several seeds) are then
   * not counted as independent. Absent: every session is its own unit.
   */
  readonly clusterOf?: (sessionId: string) => string;
}

/**
 * Pairs two scored files by session_id (first occurrence of each id) and compares every metric on
 * the paired sessions only.
 */
export function compareScored(
  a: ScoredFile,
  b: ScoredFile,
  metrics: readonly SessionMetric[],
  config: MetricsConfig,
  seed: number,
  options: CompareOptions = {},
): Comparison {
  if (!a.ids || !b.ids) throw new Error('compareScored needs files scored with keepIds');
  const W = metrics.length;
  const pa = new ScoreTable(W, Math.max(1, Math.min(a.ids.size, b.ids.size)));
  const pb = new ScoreTable(W, Math.max(1, Math.min(a.ids.size, b.ids.size)));
  const units = new Map<string, [number, number]>();
  const add = (into: ScoreTable, offset: number, from: ScoreTable, row: number) => {
    for (let m = 0; m < W; m++) {
      into.num[offset + m]! += from.num[row * W + m]!;
      into.den[offset + m]! += from.den[row * W + m]!;
    }
  };
  let paired = 0;
  for (const [id, rowA] of a.ids) {
    const rowB = b.ids.get(id);
    if (rowB === undefined) continue;
    paired++;
    const key = options.clusterOf ? options.clusterOf(id) : id;
    let unit = units.get(key);
    if (!unit) {
      unit = [pa.addRow(a.table.group[rowA]!), pb.addRow(b.table.group[rowB]!)];
      units.set(key, unit);
    }
    add(pa, unit[0], a.table, rowA);
    add(pb, unit[1], b.table, rowB);
  }
  const diffs: PairedDifference[] =
    paired === 0
      ? metrics.map(() => ({ delta: Number.NaN, low: Number.NaN, high: Number.NaN, pValue: Number.NaN }))
      : pairedCompare(pa, pb, config.bootstrap.test, {
          resamples: config.bootstrap.resamples,
          confidence: config.bootstrap.confidence,
          rng: Rng.fromSeed(seed, 'rewards/paired'),
          ...(options.onResample ? { onResample: options.onResample } : {}),
        });
  return {
    test: config.bootstrap.test,
    paired,
    units: pa.rows,
    onlyInA: a.ids.size - paired,
    onlyInB: b.ids.size - paired,
    metrics: metrics.map((m, j) => ({
      name: m.name,
      higherIsBetter: m.higherIsBetter,
      a: pa.ratio(j) * m.scale,
      b: pb.ratio(j) * m.scale,
      delta: diffs[j]!.delta * m.scale,
      low: diffs[j]!.low * m.scale,
      high: diffs[j]!.high * m.scale,
      pValue: diffs[j]!.pValue,
    })),
  };
}

/** Scores an in-memory batch of sessions (already validated) into a table; for library users. */
export function scoreSessions(
  sessions: Iterable<Session>,
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
): ScoreTable {
  const table = new ScoreTable(metrics.length);
  const scratch = new Float64Array(2);
  const view = sessionViewInto(null, null);
  for (const s of sessions) {
    const offset = table.addRow(GOAL_INDEX.get(s.goal.type)!);
    scoreSessionInto(s, metrics, ctx, table.num, table.den, offset, scratch, sessionViewInto(s, view));
  }
  return table;
}
