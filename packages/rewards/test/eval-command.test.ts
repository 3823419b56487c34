import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type CliContext, ConfigError, FileFormatError } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import { describe, expect, it } from 'vitest';
import { type EvalOptions, EvalOptionsSchema, evalCommand, rewardsCommands } from '../src/index.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const logs = path.join(fixtures, 'logs.jsonl');
const logsB = path.join(fixtures, 'logs-b.jsonl');
const expected = JSON.parse(readFileSync(path.join(fixtures, 'logs.expected.json'), 'utf8'));

function ctx(configFile?: string): { ctx: CliContext; output: string[] } {
  const _output: string[] = [];
  return testCliContext({ configFile });
}

const args = (a: Partial<EvalOptions> & { logs: string }): EvalOptions =>
  EvalOptionsSchema.parse({ resamples: 200, ...a });

interface JsonReport {
  evaluation: {
    sessions: number;
    skipped: number;
    metrics: { name: string; value: number; low: number; high: number; sessions: number }[];
    byGoal: { goal: string; sessions: number; metrics: { name: string; value: number }[] }[];
  };
  comparison?: {
    paired: number;
    onlyInA: number;
    onlyInB: number;
    metrics: { name: string; delta: number; pValue: number }[];
  };
}

async function runJson(a: Partial<EvalOptions> & { logs: string }, configFile?: string): Promise<JsonReport> {
  const c = ctx(configFile);
  expect(await evalCommand.run(args({ format: 'json', ...a }), c.ctx)).toBe(0);
  return JSON.parse(c.output.join(''));
}

describe('gopo eval on the golden fixture', () => {
  it('is exported as a command spec', () => {
    expect(rewardsCommands.map((c) => c.path.join(' '))).toEqual(['eval']);
  });

  it('reproduces every hand-computed metric', async () => {
    const r = await runJson({ logs });
    expect(r.evaluation.sessions).toBe(5);
    const byName = Object.fromEntries(r.evaluation.metrics.map((m) => [m.name, m]));
    for (const [name, value] of Object.entries(expected.metrics as Record<string, number>)) {
      expect(byName[name]?.value, name).toBeCloseTo(value, 9);
      expect(byName[name]!.low, name).toBeLessThanOrEqual(value + 1e-9);
      expect(byName[name]!.high, name).toBeGreaterThanOrEqual(value - 1e-9);
    }
    for (const [name, n] of Object.entries(expected.definedSessions as Record<string, number>))
      expect(byName[name]?.sessions, name).toBe(n);
    const purchase = r.evaluation.byGoal.find((g) => g.goal === 'purchase')!;
    expect(purchase.sessions).toBe(2);
    expect(purchase.metrics.find((m) => m.name === 'tse')!.value).toBeCloseTo(
      expected.byGoal.purchase.tse,
      9,
    );
    expect(purchase.metrics.find((m) => m.name === 'gre')!.value).toBeCloseTo(
      expected.byGoal.purchase.gre,
      9,
    );
    expect(r.evaluation.byGoal.map((g) => g.goal)).toEqual([
      'purchase',
      'order_status',
      'return_refund',
      'product_question',
    ]);
  });

  it('pairs two systems by session_id and reports the difference', async () => {
    const r = await runJson({ logs, against: logsB });
    const c = r.comparison!;
    expect([c.paired, c.onlyInA, c.onlyInB]).toEqual([
      expected.against.paired,
      expected.against.onlyInA,
      expected.against.onlyInB,
    ]);
    const d = Object.fromEntries(c.metrics.map((m) => [m.name, m]));
    expect(d.tse!.delta).toBeCloseTo(expected.against.delta.tse, 9);
    expect(d.gre!.delta).toBeCloseTo(expected.against.delta.gre, 9);
    expect(d.conversion_rate!.delta).toBe(0);
    expect(d.conversion_rate!.pValue).toBe(1);
  });

  it('renders table and markdown, and writes --out atomically', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gopo-eval-'));
    const out = path.join(dir, 'report.md');
    const c = ctx();
    await evalCommand.run(args({ logs, against: logsB, format: 'md', out }), c.ctx);
    const text = readFileSync(out, 'utf8');
    expect(text).toBe(c.output.join(''));
    expect(text).toMatch(/\| tse \| 38\.51 \|/);
    expect(text).toMatch(/4 paired sessions, 1 only in A, 1 only in B/);
    const t = ctx();
    await evalCommand.run(args({ logs }), t.ctx);
    expect(t.output.join('')).toMatch(/^tse\s+38\.51\s+\[/m);
  });

  it('reads metrics.yaml: metric subset and custom weights; an unknown variable fails at load', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gopo-eval-'));
    const cfg = path.join(dir, 'metrics.yaml');
    writeFileSync(
      cfg,
      'metrics: [tse, gre]\ngre:\n  expression: "converted"\ntse:\n  milestones:\n    order_status: []\n',
    );
    const r = await runJson({ logs }, cfg);
    expect(r.evaluation.metrics.map((m) => m.name)).toEqual(['tse', 'gre']);
    expect(r.evaluation.metrics[1]!.value).toBeCloseTo(0.2, 12);
    // s4 (order_status) now has no TSE: mean over the other 4
    expect(r.evaluation.metrics[0]!.sessions).toBe(4);
    expect(r.evaluation.metrics[0]!.value).toBeCloseTo((expected.metrics.tse * 5) / 4, 9);
    writeFileSync(cfg, 'gre:\n  expression: "success - 0.1 * turnz"\n');
    await expect(evalCommand.run(args({ logs }), ctx(cfg).ctx)).rejects.toThrow(/unknown variable "turnz"/);
    writeFileSync(cfg, 'esndcg:\n  pRef: 1.5\n');
    const bad = evalCommand.run(args({ logs }), ctx(cfg).ctx);
    await expect(bad).rejects.toThrow(ConfigError);
    await expect(evalCommand.run(args({ logs }), ctx(cfg).ctx)).rejects.toThrow(
      /metrics\.yaml:2 at esndcg\.pRef/,
    );
  });
});

describe('gopo eval on invalid input', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gopo-eval-bad-'));
  const good = readFileSync(logs, 'utf8').trim().split('\n');
  const badFile = path.join(dir, 'bad.jsonl');
  writeFileSync(
    badFile,
    [
      good[0],
      '{"session_id": "x", "goal": {"type": "purchase"}, "turns": [{"role": "user", "text": "hi", "events": [{"type": "teleported"}]}], "outcome": {"status": "success"}}',
      '',
      '{not json',
      good[1],
      '{"session_id": "y", "goal": {"type": "purchase"}, "turns": [], "outcome": {"status": "won"}}',
    ].join('\n'),
  );

  it('fails with line numbers and field paths, exit 2 (GopoError), and writes nothing', async () => {
    const out = path.join(dir, 'report.json');
    writeFileSync(out, 'previous report');
    const run = evalCommand.run(args({ logs: badFile, out }), ctx().ctx);
    await expect(run).rejects.toThrow(FileFormatError);
    const err = await Promise.resolve(evalCommand.run(args({ logs: badFile, out }), ctx().ctx)).catch(
      (e: Error) => e,
    );
    expect((err as Error).message).toMatch(
      /bad\.jsonl:2 at turns\[0\]\.events\[0\]\.type: .*3 invalid lines in all, also at line 4 \(\(root\)\), 6 \(outcome\.status\)/,
    );
    expect(readFileSync(out, 'utf8')).toBe('previous report');
    const fresh = path.join(dir, 'never.json');
    await Promise.resolve(evalCommand.run(args({ logs: badFile, out: fresh }), ctx().ctx)).catch(
      () => undefined,
    );
    expect(existsSync(fresh)).toBe(false);
  });

  it('--skip-invalid scores the rest and reports how many were skipped', async () => {
    const r = await runJson({ logs: badFile, skipInvalid: true });
    expect(r.evaluation.sessions).toBe(2);
    expect(r.evaluation.skipped).toBe(3);
    const t = ctx();
    await evalCommand.run(args({ logs: badFile, skipInvalid: true }), t.ctx);
    expect(t.output.join('')).toMatch(/2 sessions, 3 invalid lines skipped/);
  });

  it('an empty log is a user error that says there were no sessions, not a table of n/a', async () => {
    const empty = path.join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n\n');
    const t = ctx();
    await expect(evalCommand.run(args({ logs: empty }), t.ctx)).rejects.toThrow(
      /empty\.jsonl: no sessions: the file is empty or holds only blank lines/,
    );
    expect(t.output).toEqual([]);
  });

  it('a missing file is a clear error', async () => {
    await expect(evalCommand.run(args({ logs: path.join(dir, 'nope.jsonl') }), ctx().ctx)).rejects.toThrow(
      /log file not found/,
    );
  });
});

describe('gopo eval --workers', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gopo-eval-workers-'));
  const good = readFileSync(logs, 'utf8').trim().split('\n');
  // Enough lines for every worker to get a range, with bad lines spread through the file.
  const mixed = path.join(dir, 'mixed.jsonl');
  const lines: string[] = [];
  for (let r = 0; r < 6; r++)
    for (const [i, l] of good.entries()) {
      lines.push(l);
      if (i === 2) lines.push(r % 2 ? '{not json' : '   ');
    }
  lines.push('{"session_id": "y", "goal": {"type": "purchase"}, "turns": [], "outcome": {"status": "won"}}');
  writeFileSync(mixed, lines.join('\r\n'));

  const report = async (a: Partial<EvalOptions> & { logs: string }) => {
    const c = ctx();
    const err = await Promise.resolve(evalCommand.run(args(a), c.ctx)).catch((e: Error) => e);
    return err instanceof Error ? `error: ${err.message}` : c.output.join('');
  };

  // Each worker loads the sources through tsx here (seconds apiece on 2 busy cores): few cases.
  it('gives exactly the report of one worker, errors and pairing included', {
    timeout: 120_000,
  }, async () => {
    for (const a of [
      { logs: mixed },
      { logs: mixed, against: logsB, skipInvalid: true, format: 'json' as const },
    ]) {
      const one = await report(a);
      expect(await report({ ...a, workers: 3 })).toBe(one);
    }
    expect(await report({ logs: mixed })).toMatch(/mixed\.jsonl:\d+ .*invalid lines in all/);
  });

  it('gives the same report with either line reader', async () => {
    for (const a of [
      { logs: mixed },
      { logs: mixed, against: logsB, skipInvalid: true, format: 'json' as const },
    ]) {
      const wasm = await report({ ...a, reader: 'wasm' });
      expect(wasm).not.toMatch(/^error: .*reader/);
      expect(await report({ ...a, reader: 'json' })).toBe(wasm);
    }
  });
});
