/**
 * The streaming path of `gopo eval` as it was before the fast path, kept as the baseline that
 * bench/eval.ts measures against in the same run: one async-generator step, tuple and Buffer decode
 * per line; JSON.parse + SessionSchema (zod) per line; a fresh view and business scope per session;
 * the business reward evaluated by mathjs. Its metric values are the same (eval.ts checks that).
 */
import { createReadStream } from 'node:fs';
import { parseJsonlLine } from '@gopo/core';
import { type Session, SessionSchema } from '@gopo/dialogue';
import { all, create } from 'mathjs';
import {
  businessScope,
  ScoreTable,
  type ScoringContext,
  type SessionMetric,
  type SessionView,
} from '../src/index.js';

const math = create(all!, {});

async function* readLinesPerLine(file: string): AsyncGenerator<[line: number, text: string]> {
  let carry: Buffer | null = null;
  let line = 0;
  const decode = (buf: Buffer, start: number, end: number) => {
    const stop = end > start && buf[end - 1] === 13 ? end - 1 : end;
    return buf.toString('utf8', start, stop);
  };
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    carry = null;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      line++;
      yield [line, decode(buf, start, nl)];
      start = nl + 1;
    }
    if (start < buf.length) carry = buf.subarray(start);
  }
  if (carry && carry.length > 0) yield [line + 1, decode(carry, 0, carry.length)];
}

function legacyView(session: Session): SessionView {
  let adherenceTurns = 0;
  let adherentTurns = 0;
  for (const turn of session.turns) {
    if (turn.role !== 'agent' || turn.strategy === undefined) continue;
    const detected = (turn as Record<string, unknown>).detected_strategy;
    if (typeof detected !== 'string') continue;
    adherenceTurns++;
    if (detected === turn.strategy) adherentTurns++;
  }
  return { session, scope: businessScope(session), adherenceTurns, adherentTurns };
}

/** The scoring context with the business reward evaluated by mathjs, as before. */
export function legacyContext(ctx: ScoringContext): ScoringContext {
  const code = math.compile(ctx.business.expression);
  const clip = ctx.business.clip;
  return {
    config: ctx.config,
    business: {
      ...ctx.business,
      native: false,
      evaluate(scope) {
        const v = code.evaluate(scope) as number;
        return clip ? Math.min(clip[1], Math.max(clip[0], v)) : v;
      },
    },
  };
}

/** Scores a list of validated sessions the old way (fresh views, mathjs GRE). */
export function legacyScoreSessions(
  sessions: readonly Session[],
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  groupOf: (s: Session) => number,
): ScoreTable {
  const lctx = legacyContext(ctx);
  const table = new ScoreTable(metrics.length);
  const scratch = new Float64Array(2);
  for (const s of sessions) {
    const offset = table.addRow(groupOf(s));
    const view = legacyView(s);
    for (let m = 0; m < metrics.length; m++) {
      metrics[m]!.score(view, lctx, scratch);
      table.num[offset + m] = scratch[0]!;
      table.den[offset + m] = scratch[1]!;
    }
  }
  return table;
}

/** The old streaming loop of scoreFile (valid files only: the bench files have no bad lines). */
export async function legacyScoreFile(
  file: string,
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  groupOf: (s: Session) => number,
): Promise<ScoreTable> {
  const lctx = legacyContext(ctx);
  const table = new ScoreTable(metrics.length, 4096);
  const scratch = new Float64Array(2);
  for await (const [line, text] of readLinesPerLine(file)) {
    if (text.length === 0 || text.trim() === '') continue;
    const parsed = parseJsonlLine(text, line, SessionSchema);
    if (!parsed.ok) throw new Error(`line ${line}: ${parsed.issues[0]!.message}`);
    const offset = table.addRow(groupOf(parsed.value));
    const view = legacyView(parsed.value);
    for (let m = 0; m < metrics.length; m++) {
      metrics[m]!.score(view, lctx, scratch);
      table.num[offset + m] = scratch[0]!;
      table.den[offset + m] = scratch[1]!;
    }
  }
  return table;
}
