import { isUtf8 } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import {
  type ByteRange,
  decodeLines,
  INVALID_UTF8_MESSAGE,
  type JsonlIssue,
  lineTooLongMessage,
  MAX_LINE_BYTES,
  readLineBatches,
} from '@gopo/core';
import { GOAL_TYPES, type Session, safeParseSession } from '@gopo/dialogue';
import {
  isRegisteredMetric,
  type ScoringContext,
  type SessionMetric,
  scoreSessionInto,
  sessionViewInto,
} from '../session-metrics.js';
import { ScoreTable } from './score-table.js';
import { LINE_FALLBACK, LINE_SESSION, SessionScanner } from './session-scan.js';

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

export type LineReader = 'wasm' | 'json';

export interface ScoreRangeOptions {
  readonly skipInvalid?: boolean;
  readonly keepIds?: boolean;
  readonly onSession?: (session: Session, row: number) => void;
  /**
   * How lines are read: 'wasm' (default) takes the WebAssembly scanner where it applies (registered
   * metrics, no onSession); 'json' runs JSON.parse and the schema on every line. Same result.
   */
  readonly reader?: LineReader;
  /** Called after each chunk with the bytes of the file (or range) read so far. */
  readonly onProgress?: (bytesRead: number) => void;
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

interface RangeSink {
  /** Takes one non-blank line's session or issue, in line order. */
  line(result: Session | JsonlIssue): void;
  finish(lines: number): RangeScore;
}

/** Scores sessions into a table in line order and keeps the first issues (shared by both readers). */
function rangeSink(
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  options: ScoreRangeOptions,
): RangeSink {
  const table = new ScoreTable(metrics.length, 4096);
  const ids: string[] | null = options.keepIds ? [] : null;
  const issues: JsonlIssue[] = [];
  let invalid = 0;
  const scratch = new Float64Array(2);
  const view = sessionViewInto(null, null);
  return {
    line(result) {
      if (!isSession(result)) {
        invalid++;
        if (issues.length < MAX_LISTED + 1) issues.push(result);
        return;
      }
      // After an invalid line the run fails, unless told to skip: lines are only checked.
      if (invalid > 0 && !options.skipInvalid) return;
      const row = table.rows;
      const offset = table.addRow(GOAL_INDEX.get(result.goal.type)!);
      const v = sessionViewInto(result, view);
      scoreSessionInto(result, metrics, ctx, table.num, table.den, offset, scratch, v);
      ids?.push(result.session_id);
      options.onSession?.(result, row);
    },
    finish: (lines) => ({ table, ids, lines, invalid, issues }),
  };
}

/** A line of the JSON path: null when blank, else its session or issue. */
function jsonLine(text: string, line: number): Session | JsonlIssue | null {
  // A line that opens an object is not blank; only other lines need the trim.
  if (text.charCodeAt(0) !== 123 && text.trim() === '') return null;
  return parseSessionLine(text, line);
}

/**
 * Streams the lines of `range` (the whole file when null), validating and scoring each session into
 * a table. After an invalid line, unless `skipInvalid`, sessions are no longer scored (the run will
 * fail) but lines are still checked, so the error can list them.
 *
 * Registered metrics without `onSession` take the WebAssembly scanner (session-scan.ts), which hands
 * the metrics skeleton sessions and sends every line it does not vouch for down the JSON path; the
 * table, ids and issues are those of the JSON path (session-scan.test.ts compares them).
 */
export async function scoreRange(
  file: string,
  range: ByteRange | null,
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  options: ScoreRangeOptions = {},
): Promise<RangeScore> {
  let sink = rangeSink(metrics, ctx, options);
  const scanned = options.reader !== 'json' && !options.onSession && metrics.every(isRegisteredMetric);
  if (scanned) {
    try {
      return sink.finish(await scanLines(file, range, sink, options.keepIds ?? false, options.onProgress));
    } catch (e) {
      // A trap inside the WASM scanner is a scanner bug (the one found so far, a line cut short at
      // the end of the input, is fixed and has its test); it must not cost the user the run, so the
      // JSON path, the reference reader, reads the range again into a fresh sink.
      if (!isWasmTrap(e)) throw e;
      sink = rangeSink(metrics, ctx, options);
    }
  }
  let lineCount = 0;
  for await (const { first, lines, faults, bytesRead } of readLineBatches(file, { range })) {
    lineCount = first + lines.length - 1;
    let f = 0;
    for (let k = 0; k < lines.length; k++) {
      const fault = faults[f];
      if (fault?.line === first + k) {
        sink.line(faultIssue(fault.line, fault.message));
        f++;
        continue;
      }
      const result = jsonLine(lines[k]!, first + k);
      if (result) sink.line(result);
    }
    options.onProgress?.(bytesRead);
  }
  return sink.finish(lineCount);
}

/** A WebAssembly trap (WebAssembly.RuntimeError; the project's TS lib has no WebAssembly globals). */
const isWasmTrap = (e: unknown): boolean => e instanceof Error && e.constructor.name === 'RuntimeError';

const faultIssue = (line: number, message: string): JsonlIssue => ({ line, path: [], message });

/**
 * Lines of `bytes` (whole lines, each ending with \n but perhaps the last) through the JSON path, each
 * checked for UTF-8 on its own: for a region of the scanner's input that failed the UTF-8 check.
 * Returns the number of lines.
 */
function jsonPathLines(bytes: Uint8Array, firstLine: number, sink: RangeSink): number {
  let n = 0;
  for (let start = 0; start < bytes.length; n++) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl;
    const text = decodeLines(bytes.subarray(start, end));
    if (text === null) sink.line(faultIssue(firstLine + n, INVALID_UTF8_MESSAGE));
    else {
      const result = jsonLine(text.endsWith('\r') ? text.slice(0, -1) : text, firstLine + n);
      if (result) sink.line(result);
    }
    start = end + 1;
  }
  return n;
}

/** Reads on from `pos` past the next \n (an overlong line's rest); returns where the next line starts. */
async function skipLine(fh: FileHandle, pos: number, end: number, buf: Buffer): Promise<number> {
  for (;;) {
    const want = Math.min(buf.length, end - pos);
    if (want <= 0) return pos;
    const { bytesRead } = await fh.read(buf, 0, want, pos);
    if (bytesRead === 0) return pos;
    const nl = buf.subarray(0, bytesRead).indexOf(10);
    if (nl >= 0) return pos + nl + 1;
    pos += bytesRead;
  }
}

/** Bytes of the line in `bytes` that ends at `nl` (a \n, or the end), its \r not counted. */
const lineLength = (bytes: Uint8Array, start: number, nl: number) =>
  (nl > start && bytes[nl - 1] === 13 ? nl - 1 : nl) - start;

/**
 * The scanner's reader: whole chunks are read into its memory and scanned; returns the line count.
 * Session ids are decoded only when `keepIds`.
 */
async function scanLines(
  file: string,
  range: ByteRange | null,
  sink: RangeSink,
  keepIds: boolean,
  onProgress: ((bytesRead: number) => void) | undefined,
  chunkBytes = 1 << 20,
  maxLineBytes = MAX_LINE_BYTES,
): Promise<number> {
  const scanner = new SessionScanner();
  const fh = await open(file, 'r');
  try {
    let pos = range?.start ?? 0;
    const end = range?.end ?? Number.POSITIVE_INFINITY;
    let carry = 0; // bytes of an incomplete line at the input's start
    let line = 0;
    let skipBuf: Buffer | null = null;
    for (;;) {
      const want = Math.min(chunkBytes, end - pos);
      let input = scanner.reserve(carry + Math.max(want, 0));
      const bytesRead = want > 0 ? (await fh.read(input, carry, want, pos)).bytesRead : 0;
      pos += bytesRead;
      const filled = carry + bytesRead;
      const eof = bytesRead === 0 || pos >= end;
      // The line carried over is the only one that can pass the limit (a chunk is shorter than it).
      let regionStart = 0;
      if (carry > 0) {
        const nl = input.subarray(0, filled).indexOf(10);
        const lineEnd = nl < 0 ? filled : nl;
        if (lineLength(input, 0, lineEnd) > maxLineBytes) {
          line++;
          sink.line(faultIssue(line, lineTooLongMessage(maxLineBytes)));
          if (nl < 0) {
            skipBuf ??= Buffer.alloc(chunkBytes);
            pos = eof ? pos : await skipLine(fh, pos, end, skipBuf);
            carry = 0;
            onProgress?.(pos - (range?.start ?? 0));
            if (eof || pos >= end) return line;
            continue;
          }
          regionStart = nl + 1;
        }
      }
      const regionEnd = eof ? filled : input.lastIndexOf(10, filled - 1) + 1;
      if (regionEnd <= regionStart && !eof) {
        input.copyWithin(0, regionStart, filled);
        carry = filled - regionStart; // a line longer than a chunk: read on
        continue;
      }
      // The scanner reads bytes, not characters: a region that is not UTF-8 goes line by line
      // through the JSON path, where each bad line is an error with its number.
      if (regionEnd > regionStart && !isUtf8(input.subarray(regionStart, regionEnd))) {
        line += jsonPathLines(input.subarray(regionStart, regionEnd), line + 1, sink);
        input.copyWithin(0, regionEnd, filled);
        carry = filled - regionEnd;
        onProgress?.(pos - (range?.start ?? 0));
        if (eof) return line;
        continue;
      }
      for (let start = regionStart; start < regionEnd; ) {
        const { stop, lines } = scanner.scan(start, regionEnd);
        input = scanner.input;
        const tape = scanner.tape;
        let at = 0;
        for (let k = 0; k < lines; k++) {
          line++;
          const kind = tape[at]!;
          if (kind === LINE_SESSION) {
            const session = scanner.session(at, keepIds);
            if (session) sink.line(session);
            else sink.line(parseSessionLine(scanner.text(tape[at + 1]!, tape[at + 2]!), line));
            at = scanner.sessionEnd(at);
          } else {
            if (kind === LINE_FALLBACK) {
              const result = jsonLine(scanner.text(tape[at + 1]!, tape[at + 2]!), line);
              if (result) sink.line(result);
            }
            at += 3;
          }
        }
        start = stop;
      }
      input.copyWithin(0, regionEnd, filled);
      carry = filled - regionEnd;
      onProgress?.(pos - (range?.start ?? 0));
      if (eof) return line;
    }
  } finally {
    await fh.close();
  }
}
