import {
  escapeControl,
  FileFormatError,
  formatLocation,
  type JsonlIssue,
  JsonlWriter,
  readJsonl,
} from '@gopo/core';
import { safeParseSession } from './fast-session.js';
import { type Session, SessionSchema } from './log-schema.js';
import { StrictSessionSchema } from './strict-events.js';

/** A session and the 1-based line it was read from. */
export interface SessionRecord {
  readonly line: number;
  readonly session: Session;
}

export interface ReadSessionsOptions {
  /** Skip invalid lines (each issue goes to `onInvalid`) instead of throwing on the first one. */
  readonly skipInvalid?: boolean;
  readonly onInvalid?: (issue: JsonlIssue) => void;
  /** Also require the fields each event type needs (StrictSessionSchema). */
  readonly strict?: boolean;
}

/**
 * Streams sessions from a Mgshop-style JSONL log. Without `skipInvalid` the first bad line throws a
 * FileFormatError naming file, line and field path; with it, every issue of every bad line is reported.
 */
export async function* readSessions(
  file: string,
  options: ReadSessionsOptions = {},
): AsyncGenerator<SessionRecord> {
  if (options.strict) {
    for await (const rec of readJsonl(file, StrictSessionSchema, options))
      yield { line: rec.line, session: rec.value as Session };
    return;
  }
  // readJsonl reports unparsable lines; the sessions go through the fast validator, and a bad one is
  // reported the way readJsonl would have reported SessionSchema's issues.
  for await (const rec of readJsonl(file, undefined, options)) {
    const parsed = safeParseSession(rec.value);
    if (parsed.success) {
      yield { line: rec.line, session: parsed.data };
      continue;
    }
    const issues: JsonlIssue[] = parsed.error.issues.map((i) => ({
      line: rec.line,
      path: i.path.filter((p): p is string | number => typeof p !== 'symbol'),
      message: i.message,
    }));
    if (options.skipInvalid) {
      for (const issue of issues) options.onInvalid?.(issue);
      continue;
    }
    const first = issues[0]!;
    const more = issues.length > 1 ? ` (+${issues.length - 1} more issue(s) on this line)` : '';
    throw new FileFormatError({ file, line: rec.line, path: first.path }, first.message + more);
  }
}

/** Reads a whole log into memory. */
export async function readSessionsAll(file: string, options: ReadSessionsOptions = {}): Promise<Session[]> {
  const out: Session[] = [];
  for await (const r of readSessions(file, options)) out.push(r.session);
  return out;
}

/** Result of validating a whole log file without stopping at the first bad line. */
export interface LogValidationReport {
  readonly file: string;
  readonly validSessions: number;
  /** Distinct lines that failed. */
  readonly invalidLines: number;
  /** Every issue on every bad line. */
  readonly issues: readonly JsonlIssue[];
  /** Turns of the valid sessions by role (user and agent turns are counted apart everywhere). */
  readonly userTurns: number;
  readonly agentTurns: number;
  readonly byGoal: Readonly<Record<string, number>>;
  readonly byStatus: Readonly<Record<string, number>>;
  /** Sessions with at least one agent turn carrying a reference (what ESNDCG needs). */
  readonly withReference: number;
}

/** Validates every line of a log, collecting all issues, with a summary of the valid sessions. */
export async function validateLogFile(
  file: string,
  options: { strict?: boolean } = {},
): Promise<LogValidationReport> {
  const issues: JsonlIssue[] = [];
  const badLines = new Set<number>();
  let valid = 0;
  let userTurns = 0;
  let agentTurns = 0;
  let withReference = 0;
  const byGoal: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  const onInvalid = (i: JsonlIssue) => {
    issues.push(i);
    badLines.add(i.line);
  };
  for await (const { session } of readSessions(file, {
    skipInvalid: true,
    onInvalid,
    strict: options.strict ?? false,
  })) {
    valid++;
    for (const t of session.turns) {
      if (t.role === 'user') userTurns++;
      else agentTurns++;
    }
    byGoal[session.goal.type] = (byGoal[session.goal.type] ?? 0) + 1;
    byStatus[session.outcome.status] = (byStatus[session.outcome.status] ?? 0) + 1;
    if (session.turns.some((t) => t.role === 'agent' && t.reference !== undefined)) withReference++;
  }
  return {
    file,
    validSessions: valid,
    invalidLines: badLines.size,
    issues,
    userTurns,
    agentTurns,
    byGoal,
    byStatus,
    withReference,
  };
}

/** One issue as `file:line at field.path: message` (control characters from the file escaped). */
export function formatLogIssue(file: string, issue: JsonlIssue): string {
  return escapeControl(`${formatLocation({ file, line: issue.line, path: issue.path })}: ${issue.message}`);
}

/**
 * The error for a log that yields no session to report on: an empty file, blank lines only, or
 * (with skipping) invalid lines only. A summary of nothing would print n/a everywhere and exit 0.
 */
export function noSessionsError(file: string, skippedLines = 0): FileFormatError {
  return new FileFormatError(
    { file },
    skippedLines > 0
      ? `no valid sessions (${skippedLines} invalid line(s) skipped)`
      : 'no sessions: the file is empty or holds only blank lines',
  );
}

/**
 * Writes sessions atomically (temp file renamed on close), validating each one first: a session that
 * would not read back is refused with its line and field path.
 */
export class SessionWriter {
  private readonly writer: JsonlWriter<Session>;

  constructor(readonly file: string) {
    this.writer = new JsonlWriter<Session>(file, SessionSchema);
  }

  get count(): number {
    return this.writer.count;
  }

  write(session: Session): Promise<void> {
    return this.writer.write(session);
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  abort(): Promise<void> {
    return this.writer.abort();
  }
}

/** Writes a list of sessions to `file` atomically. */
export async function writeSessions(file: string, sessions: Iterable<Session>): Promise<number> {
  const w = new SessionWriter(file);
  try {
    for (const s of sessions) await w.write(s);
    await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return w.count;
}
