import { promises as fs } from 'node:fs';
import {
  ConfigError,
  FileFormatError,
  formatFieldPath,
  type JsonlIssue,
  MissingFileError,
  parseJsonlLine,
  Rng,
} from '@gopo/core';
import { GOAL_TYPES, type GoalType, type Session, SessionSchema } from '@gopo/dialogue';
import { bootstrapTable, type Interval, type PairedDifference, pairedCompare } from './bootstrap.js';
import { compileBusinessReward } from './business-reward.js';
import type { MetricsConfig } from './config.js';
import { readLines } from './line-reader.js';
import { ScoreTable } from './score-table.js';
import {
  metricRegistry,
  type ScoringContext,
  SESSION_METRICS,
  type SessionMetric,
  scoreSessionInto,
} from './session-metrics.js';

const GOAL_INDEX = new Map<string, number>(GOAL_TYPES.map((g, i) => [g, i]));

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
  /** Called with each row after scoring, for pairing against another file. */
  readonly onSession?: (session: Session, row: number) => void;
}

const MAX_LISTED = 10;

/**
 * Streams a Mgshop-style JSONL log, validating and scoring each session into a ScoreTable; memory is
 * the table plus one line. Without `skipInvalid`, every invalid line is still found (so the error can
 * list them) but nothing is returned: the error names the first one's line and field path, and the
 * line numbers of up to ten more.
 */
export async function scoreFile(
  file: string,
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  options: ScoreFileOptions = {},
): Promise<ScoredFile> {
  try {
    await fs.access(file);
  } catch {
    throw new MissingFileError(file, 'log file');
  }
  const table = new ScoreTable(metrics.length, 4096);
  const ids = options.keepIds ? new Map<string, number>() : null;
  let duplicateIds = 0;
  const issues: JsonlIssue[] = [];
  let invalid = 0;
  const scratch = new Float64Array(2);
  for await (const [line, text] of readLines(file)) {
    if (text.length === 0 || text.trim() === '') continue;
    const parsed = parseJsonlLine(text, line, SessionSchema);
    if (!parsed.ok) {
      invalid++;
      if (issues.length < MAX_LISTED + 1) issues.push(parsed.issues[0]!);
      continue;
    }
    if (invalid > 0 && !options.skipInvalid) continue; // the run fails; keep scanning only to list lines
    const session = parsed.value;
    const row = table.rows;
    const offset = table.addRow(GOAL_INDEX.get(session.goal.type)!);
    scoreSessionInto(session, metrics, ctx, table.num, table.den, offset, scratch);
    if (ids) {
      if (ids.has(session.session_id)) duplicateIds++;
      else ids.set(session.session_id, row);
    }
    options.onSession?.(session, row);
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
  return { file, table, ids, duplicateIds, skipped: invalid, skippedLines: issues };
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
): Evaluation {
  const rng = Rng.fromSeed(seed, 'rewards/bootstrap');
  const ci = bootstrapTable(scored.table, GOAL_TYPES.length, {
    resamples: config.bootstrap.resamples,
    confidence: config.bootstrap.confidence,
    rng,
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
  readonly onlyInA: number;
  readonly onlyInB: number;
  readonly metrics: MetricComparison[];
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
): Comparison {
  if (!a.ids || !b.ids) throw new Error('compareScored needs files scored with keepIds');
  const W = metrics.length;
  const pa = new ScoreTable(W, Math.max(1, Math.min(a.ids.size, b.ids.size)));
  const pb = new ScoreTable(W, Math.max(1, Math.min(a.ids.size, b.ids.size)));
  let paired = 0;
  for (const [id, rowA] of a.ids) {
    const rowB = b.ids.get(id);
    if (rowB === undefined) continue;
    paired++;
    const oa = pa.addRow(a.table.group[rowA]!);
    const ob = pb.addRow(b.table.group[rowB]!);
    pa.num.set(a.table.num.subarray(rowA * W, rowA * W + W), oa);
    pa.den.set(a.table.den.subarray(rowA * W, rowA * W + W), oa);
    pb.num.set(b.table.num.subarray(rowB * W, rowB * W + W), ob);
    pb.den.set(b.table.den.subarray(rowB * W, rowB * W + W), ob);
  }
  const diffs: PairedDifference[] =
    paired === 0
      ? metrics.map(() => ({ delta: Number.NaN, low: Number.NaN, high: Number.NaN, pValue: Number.NaN }))
      : pairedCompare(pa, pb, config.bootstrap.test, {
          resamples: config.bootstrap.resamples,
          confidence: config.bootstrap.confidence,
          rng: Rng.fromSeed(seed, 'rewards/paired'),
        });
  return {
    test: config.bootstrap.test,
    paired,
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
  for (const s of sessions) {
    const offset = table.addRow(GOAL_INDEX.get(s.goal.type)!);
    scoreSessionInto(s, metrics, ctx, table.num, table.den, offset, scratch);
  }
  return table;
}
