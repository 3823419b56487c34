import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.js';
import { loadConfig } from './config.js';
import { ConfigError, FileFormatError } from './errors.js';
import { JsonlWriter, readJsonl, readJsonlAll } from './jsonl.js';
import { createRunDir } from './run-dir.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'gopo-core-'));

describe('atomic writes', () => {
  it('replaces the file and leaves no temporary files', async () => {
    const dir = tmp();
    const f = path.join(dir, 'a', 'out.txt');
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, 'two');
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(readdirSync(path.dirname(f))).toEqual(['out.txt']);
  });
});

const Rec = z.object({ id: z.string(), n: z.number().int() });

describe('JSONL', () => {
  it('streams valid records with line numbers, skipping blank lines', async () => {
    const f = path.join(tmp(), 'x.jsonl');
    writeFileSync(f, '{"id":"a","n":1}\n\n{"id":"b","n":2}\n');
    const recs = [];
    for await (const r of readJsonl(f, Rec)) recs.push(r);
    expect(recs).toEqual([
      { line: 1, value: { id: 'a', n: 1 } },
      { line: 3, value: { id: 'b', n: 2 } },
    ]);
  });

  it('names file, line and field of an invalid record', async () => {
    const f = path.join(tmp(), 'bad.jsonl');
    writeFileSync(f, '{"id":"a","n":1}\n{"id":"b","n":"x"}\n');
    await expect(readJsonlAll(f, Rec)).rejects.toThrow(/bad\.jsonl:2 at n: /);
    const err = await readJsonlAll(f, Rec).catch((e) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.location).toMatchObject({ line: 2, path: ['n'] });
  });

  it('reports invalid JSON and can skip invalid lines', async () => {
    const f = path.join(tmp(), 'bad.jsonl');
    writeFileSync(f, '{"id":"a","n":1}\n{oops\n{"id":"c","n":3}\n');
    await expect(readJsonlAll(f, Rec)).rejects.toThrow(/:2 at \(root\): invalid JSON/);
    const skipped: number[] = [];
    const ok = await readJsonlAll(f, Rec, { skipInvalid: true, onInvalid: (i) => skipped.push(i.line) });
    expect(ok.map((r) => r.id)).toEqual(['a', 'c']);
    expect(skipped).toEqual([2]);
  });

  it('writer publishes only on close and keeps the old file on abort', async () => {
    const f = path.join(tmp(), 'out.jsonl');
    writeFileSync(f, 'old\n');
    const w = new JsonlWriter(f, Rec);
    await w.write({ id: 'a', n: 1 });
    expect(readFileSync(f, 'utf8')).toBe('old\n');
    await w.abort();
    expect(readFileSync(f, 'utf8')).toBe('old\n');
    const w2 = new JsonlWriter(f, Rec);
    await w2.write({ id: 'a', n: 1 });
    await expect(w2.write({ id: 'b', n: 1.5 } as never)).rejects.toThrow(/out\.jsonl:2 at n/);
    await w2.close();
    expect(readFileSync(f, 'utf8')).toBe('{"id":"a","n":1}\n');
  });
});

describe('config loading', () => {
  const Schema = z.object({
    lr: z.number().positive().default(1e-3).describe('learning rate'),
    model: z.object({ layers: z.number().int().min(1) }),
  });

  it('loads YAML with defaults and overrides', async () => {
    const f = path.join(tmp(), 'c.yaml');
    writeFileSync(f, 'model:\n  layers: 2\n');
    expect(await loadConfig(f, Schema)).toEqual({ lr: 1e-3, model: { layers: 2 } });
    expect(await loadConfig(f, Schema, { overrides: ['lr=0.5', 'model.layers=4'] })).toEqual({
      lr: 0.5,
      model: { layers: 4 },
    });
  });

  it('names the file, line and field path of a bad value', async () => {
    const f = path.join(tmp(), 'c.yaml');
    writeFileSync(f, 'lr: 0.1\nmodel:\n  layers: 0\n');
    const err = await loadConfig(f, Schema).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/c\.yaml:3 at model\.layers: /);
  });

  it('reports syntax errors and missing files', async () => {
    const f = path.join(tmp(), 'c.json');
    writeFileSync(f, '{"lr": }');
    await expect(loadConfig(f, Schema)).rejects.toThrow(/c\.json.*invalid JSON/);
    await expect(loadConfig(path.join(tmp(), 'nope.yaml'), Schema)).rejects.toThrow(/config file not found/);
  });
});

describe('run directories', () => {
  it('creates the layout, logs metrics and refuses to clobber without resume', async () => {
    const parent = tmp();
    const run = await createRunDir('exp1', { lr: 1 }, { parent });
    expect(existsSync(run.checkpointsDir)).toBe(true);
    expect(JSON.parse(readFileSync(run.configFile, 'utf8'))).toEqual({ lr: 1 });
    await run.logMetrics(1, { 'loss/gopo': 0.5 });
    expect(JSON.parse(readFileSync(run.metricsFile, 'utf8').trim())).toMatchObject({
      step: 1,
      'loss/gopo': 0.5,
    });
    await expect(createRunDir('exp1', {}, { parent })).rejects.toThrow(/already holds a run/);
    const resumed = await createRunDir('exp1', { lr: 1 }, { parent, resume: true });
    expect(resumed.resumed).toBe(true);
    expect(readFileSync(resumed.metricsFile, 'utf8')).toContain('loss/gopo');
  });

  it('accepts a changed execution-only setting on resume and records it; refuses the others', async () => {
    const parent = tmp();
    await createRunDir('r', { sft: { lr: 1, threads: 1 } }, { parent });
    const executionOnly = ['sft.threads'];
    await expect(
      createRunDir('r', { sft: { lr: 2, threads: 2 } }, { parent, resume: true, executionOnly }),
    ).rejects.toThrow(/different config \(sft\.lr 1 -> 2\); resume with/);
    const r = await createRunDir(
      'r',
      { sft: { lr: 1, threads: 2 } },
      { parent, resume: true, executionOnly },
    );
    expect(r.configChanges).toEqual([{ path: 'sft.threads', before: 1, after: 2 }]);
    expect(readFileSync(r.file('config-changes.jsonl'), 'utf8')).toContain('"sft.threads"');
    expect(JSON.parse(readFileSync(r.configFile, 'utf8')).sft.threads).toBe(2);
  });
});

describe('AtomicFileWriter', () => {
  it('streams many chunks past the high-water mark without leaking listeners', async () => {
    const { AtomicFileWriter } = await import('./atomic-file.js');
    const f = path.join(tmp(), 'big.bin');
    const w = new AtomicFileWriter(f);
    const chunk = new Uint8Array(1 << 16).fill(7);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    for (let i = 0; i < 64; i++) await w.write(chunk);
    await w.commit();
    process.off('warning', onWarning);
    expect(readFileSync(f).length).toBe(64 << 16);
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
