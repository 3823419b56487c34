import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type CliContext, FileFormatError, type JsonlIssue, readJsonlAll } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logsValidateCommand } from './commands.js';
import { readSessionsAll, validateLogFile, writeSessions } from './log-io.js';
import { type Session, SessionSchema } from './log-schema.js';

const session = (id: string): Session => ({
  session_id: id,
  domain: 'shop',
  goal: { type: 'purchase', slots: { category: 'headphones' } },
  turns: [
    { role: 'user', text: 'headphones please', events: [{ type: 'need_stated' }] },
    {
      role: 'agent',
      text: 'hello',
      strategy: 'greet',
      events: [],
      reference: { strategy: 'greet', acceptable: [] },
    },
  ],
  outcome: { status: 'failure', converted: false, resolved: false, escalated: false, order_value: 0 },
});

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-dialogue-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

function ctx(lines: string[]): CliContext {
  const c = testCliContext();
  return { ...c.ctx, out: (t) => lines.push(t) };
}

describe('session log I/O', () => {
  it('round-trips sessions through the writer and reader', async () => {
    const file = path.join(dir, 'ok.jsonl');
    await writeSessions(file, [session('a'), session('b')]);
    const back = await readSessionsAll(file);
    expect(back.map((s) => s.session_id)).toEqual(['a', 'b']);
    expect(back[0]).toEqual(session('a'));
  });

  it('refuses to write an invalid session and leaves the old file intact', async () => {
    const file = path.join(dir, 'keep.jsonl');
    await writeSessions(file, [session('a')]);
    const bad = { ...session('b'), goal: { type: 'teleport', slots: {} } } as unknown as Session;
    await expect(writeSessions(file, [session('x'), bad])).rejects.toThrow(/keep\.jsonl:2 at goal\.type/);
    expect((await readSessionsAll(file)).map((s) => s.session_id)).toEqual(['a']);
  });

  it('reports every invalid line with its number and field path', async () => {
    const file = path.join(dir, 'mixed.jsonl');
    const badTurn = session('c') as unknown as { turns: { role: string }[] };
    badTurn.turns[1]!.role = 'bot';
    await fs.writeFile(
      file,
      [
        JSON.stringify(session('a')),
        '{oops',
        '',
        JSON.stringify(badTurn),
        JSON.stringify({ ...session('d'), outcome: undefined }),
      ].join('\n'),
    );
    const report = await validateLogFile(file);
    expect(report.validSessions).toBe(1);
    expect(report.invalidLines).toBe(3);
    expect(report.issues.map((i) => [i.line, i.path.join('.')])).toEqual([
      [2, ''],
      [4, 'turns.1.role'],
      [5, 'outcome'],
    ]);
    await expect(readSessionsAll(file)).rejects.toThrow(FileFormatError);
  });

  it('reads exactly what readJsonl with SessionSchema reads, with the same errors', async () => {
    const file = path.join(dir, 'same.jsonl');
    const sparse = {
      session_id: 's',
      goal: { type: 'complaint' },
      turns: [],
      outcome: { status: 'success' },
    };
    const twoIssues = { ...session('e'), session_id: '', domain: 7 };
    await fs.writeFile(
      file,
      [JSON.stringify(session('a')), JSON.stringify(sparse), JSON.stringify(twoIssues), '[1]'].join('\n'),
    );
    const collect = async (read: (o: object) => Promise<unknown[]>) => {
      const issues: JsonlIssue[] = [];
      const values = await read({ skipInvalid: true, onInvalid: (i: JsonlIssue) => issues.push(i) });
      const error = await read({}).catch((e: Error) => e.message);
      return { values, issues, error };
    };
    const fast = await collect((o) => readSessionsAll(file, o));
    const zod = await collect((o) => readJsonlAll(file, SessionSchema, o));
    expect(fast.values).toStrictEqual(zod.values);
    expect(fast.issues).toStrictEqual(zod.issues);
    expect(fast.issues.map((i) => i.line)).toEqual([3, 3, 4]);
    expect(fast.error).toBe(zod.error);
    expect(fast.error).toMatch(/same\.jsonl:3 at session_id: .*\(\+1 more issue\(s\) on this line\)/);
  });
});

describe('gopo logs validate', () => {
  it('prints a summary for a good file', async () => {
    const file = path.join(dir, 'good.jsonl');
    await writeSessions(file, [session('a'), session('b')]);
    const out: string[] = [];
    expect(
      await logsValidateCommand.run(
        { file, skipInvalid: false, strict: true, sop: 'shop', format: 'text' },
        ctx(out),
      ),
    ).toBe(0);
    expect(out.join('\n')).toMatch(/2 valid session\(s\), 0 invalid/);
    expect(out.join('\n')).toMatch(/sessions with references: 2/);
    expect(out.join('\n')).toMatch(/goals: purchase=2/);
    expect(out.join('\n')).toMatch(/SOP shop: 0 violation\(s\) over 2 agent turn\(s\)/);
  });

  it('fails with file:line and field path on bad lines, or counts them with --skip-invalid', async () => {
    const file = path.join(dir, 'bad.jsonl');
    await fs.writeFile(file, `${JSON.stringify(session('a'))}\n{"session_id": "x"}\n`);
    const out: string[] = [];
    await expect(
      logsValidateCommand.run({ file, skipInvalid: false, strict: false, format: 'text' }, ctx(out)),
    ).rejects.toThrow(/bad\.jsonl:2 at goal/);
    expect(out.some((l) => l.includes('bad.jsonl:2 at turns'))).toBe(true);
    const out2: string[] = [];
    expect(
      await logsValidateCommand.run({ file, skipInvalid: true, strict: false, format: 'text' }, ctx(out2)),
    ).toBe(0);
    expect(out2[0]).toMatch(/1 valid session\(s\), 1 invalid line\(s\) skipped/);
  });
});

describe('strict events', () => {
  it('requires the fields each event type needs', async () => {
    const file = path.join(dir, 'strict.jsonl');
    const s = session('a');
    s.turns[1]!.events.push({ type: 'item_shown' });
    await writeSessions(file, [s]);
    expect((await validateLogFile(file)).invalidLines).toBe(0);
    const strict = await validateLogFile(file, { strict: true });
    expect(strict.issues.map((i) => i.path.join('.'))).toEqual(['turns.1.events.0.item_id']);
  });
});
