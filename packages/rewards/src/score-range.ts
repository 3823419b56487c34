import type { JsonlIssue } from '@gopo/core';
import { GOAL_TYPES, type Session, safeParseSession } from '@gopo/dialogue';
import { type ByteRange, readLineBatches } from './line-reader.js';
import { ScoreTable } from './score-table.js';
import {
  type ScoringContext,
  type SessionMetric,
  scoreSessionInto,
  sessionViewInto,
} from './session-metrics.js';

export const GOAL_INDEX: ReadonlyMap<string, number> = new Map(GOAL_TYPES.map((g, i) => [g, i]));

/** Invalid lines listed in an error besides the first. */
export const MAX_LISTED = 10;

/** What scoring one byte range of a log yields (line numbers are relative to the range's start). */
export interface RangeScore {
  readonly table: ScoreTable;
  /** session_id of each row, in row order, when asked for. */
  readonly ids: string[] | null;
  /** Lines in the range, blank ones included. */
  readonly lines: number;
  readonly invalid: number;
  /** The first MAX_LISTED + 1 issues, one per invalid line. */
  readonly issues: JsonlIssue[];
}

export interface ScoreRangeOptions {
  readonly skipInvalid?: boolean;
  readonly keepIds?: boolean;
  readonly onSession?: (session: Session, row: number) => void;
}

/**
 * One JSONL line as a validated session, or the first issue that rejects it (what parseJsonlLine
 * with SessionSchema reports, through the fast validator).
 */
function parseSessionLine(text: string, line: number): Session | JsonlIssue {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { line, path: [], message: `invalid JSON (${(e as Error).message})` };
  }
  const r = safeParseSession(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  return {
    line,
    path: issue.path.filter((p): p is string | number => typeof p !== 'symbol'),
    message: issue.message,
  };
}

function isSession(x: Session | JsonlIssue): x is Session {
  return (x as Session).turns !== undefined; // an issue has line, path and message only
}

/**
 * Streams the lines of `range` (the whole file when null), validating and scoring each session into
 * a table. After an invalid line, unless `skipInvalid`, sessions are no longer scored (the run will
 * fail) but lines are still checked, so the error can list them.
 */
export async function scoreRange(
  file: string,
  range: ByteRange | null,
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  options: ScoreRangeOptions = {},
): Promise<RangeScore> {
  const table = new ScoreTable(metrics.length, 4096);
  const ids: string[] | null = options.keepIds ? [] : null;
  const issues: JsonlIssue[] = [];
  let invalid = 0;
  let lineCount = 0;
  const scratch = new Float64Array(2);
  const view = sessionViewInto(null, null);
  for await (const { first, lines } of readLineBatches(file, 1 << 20, range)) {
    lineCount = first + lines.length - 1;
    for (let k = 0; k < lines.length; k++) {
      const text = lines[k]!;
      // A line that opens an object is not blank; only other lines need the trim.
      if (text.charCodeAt(0) !== 123 && text.trim() === '') continue;
      const session = parseSessionLine(text, first + k);
      if (!isSession(session)) {
        invalid++;
        if (issues.length < MAX_LISTED + 1) issues.push(session);
        continue;
      }
      if (invalid > 0 && !options.skipInvalid) continue;
      const row = table.rows;
      const offset = table.addRow(GOAL_INDEX.get(session.goal.type)!);
      const v = sessionViewInto(session, view);
      scoreSessionInto(session, metrics, ctx, table.num, table.den, offset, scratch, v);
      ids?.push(session.session_id);
      options.onSession?.(session, row);
    }
  }
  return { table, ids, lines: lineCount, invalid, issues };
}
