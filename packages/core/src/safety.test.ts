import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.js';
import { applyOverrides, loadConfig, resolveCommandConfig } from './config.js';
import { escapeControl, PathError, ResourceError, RunDirError } from './errors.js';
import { readJsonlAll } from './jsonl.js';
import { type FileLine, MAX_LINE_BYTES, readLines } from './lines.js';
import { assertNotAnInput, checkAppendFile, checkInputFile, classifyError, ensureDir } from './paths.js';
import { createRunDir, RUN_MARKER } from './run-dir.js';
import { nonStrictObjectPaths } from './schema-walk.js';
import { liveTempFiles, TEMP_FILE_MARKER, tempPathFor } from './temp-files.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'gopo-safety-'));

async function lines(
  content: string | Buffer,
  maxLineBytes?: number,
  chunkBytes?: number,
): Promise<FileLine[]> {
  const f = path.join(tmp(), 'x.txt');
  writeFileSync(f, content);
  const out: FileLine[] = [];
  for await (const l of readLines(f, {
    ...(maxLineBytes ? { maxLineBytes } : {}),
    ...(chunkBytes ? { chunkBytes } : {}),
  }))
    out.push(l);
  return out;
}

describe('the line definition', () => {
  it('splits on \\n, drops the \\r of \\r\\n, keeps a lone \\r, needs no final \\n', async () => {
    expect((await lines('a\r\nb\rc\n\nd\r')).map((l) => l.text)).toEqual(['a', 'b\rc', '', 'd']);
  });

  it('reports invalid UTF-8 with its line, wherever the chunks fall', async () => {
    const bad = Buffer.concat([
      Buffer.from('ok\né\n'),
      Buffer.from([0x7b, 0xff, 0x7d, 0x0a]),
      Buffer.from('x'),
    ]);
    for (const chunk of [1, 2, 3, 1 << 20]) {
      const got = await lines(bad, undefined, chunk);
      expect(
        got.map((l) => l.text ?? `!${l.line}`),
        `chunk ${chunk}`,
      ).toEqual(['ok', 'é', '!3', 'x']);
      expect(got[2]!.fault).toMatch(/invalid UTF-8/);
    }
  });

  it('a line over the limit is a line error and the lines after it are read', async () => {
    for (const chunk of [3, 8, 64]) {
      const got = await lines(`short\n${'y'.repeat(40)}\nafter\n${'z'.repeat(41)}`, 16, chunk);
      expect(got.map((l) => l.line)).toEqual([1, 2, 3, 4]);
      expect(got.map((l) => l.text)).toEqual(['short', undefined, 'after', undefined]);
      expect(got[1]!.fault).toMatch(/longer than 16 bytes/);
    }
    // exactly at the limit, with or without \r\n
    expect((await lines(`${'a'.repeat(16)}\r\n${'b'.repeat(16)}`, 16, 5)).map((l) => l.text?.length)).toEqual(
      [16, 16],
    );
    expect(MAX_LINE_BYTES).toBe(16 * 1024 * 1024);
  });
});

describe('JSONL readers', () => {
  const Rec = z.object({ id: z.string() });
  it('refuse a JSON array, a folder, and name bad UTF-8 lines', async () => {
    const dir = tmp();
    const arr = path.join(dir, 'a.json');
    writeFileSync(arr, '\n  [\n  {"id": "a"}\n]\n');
    await expect(readJsonlAll(arr, Rec)).rejects.toThrow(/a\.json:2.*JSON array, not JSON Lines/);
    await expect(readJsonlAll(dir, Rec)).rejects.toThrow(PathError);
    const bad = path.join(dir, 'b.jsonl');
    writeFileSync(
      bad,
      Buffer.concat([Buffer.from('{"id":"a"}\n{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]),
    );
    await expect(readJsonlAll(bad, Rec)).rejects.toThrow(/b\.jsonl:2 .*invalid UTF-8/);
  });
});

describe('paths', () => {
  it('mkdir fails with a message, never spins, under /proc and below a file', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'file'), '');
    expect(() => ensureDir(path.join(dir, 'file', 'sub'))).toThrow(/is a regular file, not a folder/);
    if (existsSync('/proc/self')) expect(() => ensureDir('/proc/gopo-none/x')).toThrow(PathError);
  });

  it('atomic writes refuse folders and devices, write through links to regular files', async () => {
    const dir = tmp();
    await expect(writeFileAtomic(dir, 'x')).rejects.toThrow(/is a folder/);
    const fifo = path.join(dir, 'fifo');
    if (spawnSync('mkfifo', [fifo]).status === 0)
      await expect(writeFileAtomic(fifo, 'x')).rejects.toThrow(/FIFO.*refusing/);
    const real = path.join(dir, 'real.txt');
    writeFileSync(real, 'old');
    const link = path.join(dir, 'link.txt');
    symlinkSync(real, link);
    await writeFileAtomic(link, 'new');
    expect(readFileSync(real, 'utf8')).toBe('new');
    expect(readdirSync(dir).sort()).toEqual(
      ['fifo', 'link.txt', 'real.txt'].filter((f) => existsSync(path.join(dir, f))),
    );
    symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'dangling'));
    await expect(writeFileAtomic(path.join(dir, 'dangling'), 'x')).rejects.toThrow(/missing file/);
    symlinkSync(dir, path.join(dir, 'dirlink'));
    await expect(writeFileAtomic(path.join(dir, 'dirlink'), 'x')).rejects.toThrow(/links to a folder/);
    expect(liveTempFiles()).toEqual([]);
  });

  it('temporary files are named recognisably', () => {
    const t = path.basename(tempPathFor('/x/out.jsonl'));
    expect(t).toMatch(
      new RegExp(`^\\.out\\.jsonl${TEMP_FILE_MARKER.replace('.', '\\.')}${process.pid}-[0-9a-f]{8}$`),
    );
  });

  it('an output that is an input, a folder as input, a folder as log file', () => {
    const dir = tmp();
    const f = path.join(dir, 'logs.jsonl');
    writeFileSync(f, '');
    symlinkSync(f, path.join(dir, 'alias.jsonl'));
    expect(() => assertNotAnInput(path.join(dir, 'alias.jsonl'), [{ path: f, what: 'log file' }])).toThrow(
      /same file as the log file/,
    );
    expect(() => checkInputFile(dir)).toThrow(/is a folder/);
    expect(() => checkAppendFile(dir)).toThrow(/is a folder/);
  });

  it('classifies allocation failures and path errors as user errors', () => {
    expect(classifyError(new RangeError('Array buffer allocation failed'))).toBeInstanceOf(ResourceError);
    expect(
      classifyError(new Error('Failed to allocate memory for requested buffer of size 1')),
    ).toBeInstanceOf(ResourceError);
    const sys = Object.assign(new Error('EACCES'), { code: 'EACCES', path: '/x' });
    expect(classifyError(sys)).toBeInstanceOf(PathError);
    expect(classifyError(new TypeError('bug'))).toBeInstanceOf(TypeError);
  });
});

describe('escapeControl', () => {
  it('makes control bytes visible', () => {
    expect(escapeControl('a\x1b[31mb\x00\n\u202e')).toBe('a\\x1b[31mb\\x00\\n\\u202e');
    expect(escapeControl('plain é ✓')).toBe('plain é ✓');
  });
});

describe('configs', () => {
  const Schema = z.strictObject({
    lr: z.number().default(1).describe('lr'),
    bootstrap: z
      .strictObject({ resamples: z.number().default(10).describe('n') })
      .prefault({})
      .describe('b'),
    weights: z.record(z.string(), z.number()).default({}).describe('w'),
  });

  it('an unknown key names file, line and the valid keys', async () => {
    const f = path.join(tmp(), 'm.yaml');
    writeFileSync(f, 'lr: 2\nbootstrp:\n  resamples: 5\n');
    await expect(loadConfig(f, Schema)).rejects.toThrow(
      'm.yaml:2 at bootstrp: unknown key "bootstrp"; valid: lr, bootstrap, weights',
    );
  });

  it('--set refuses unknown paths, empty segments and prototype keys', () => {
    expect(applyOverrides({}, ['bootstrap.resamples=5', 'weights.any=2'], Schema)).toEqual({
      bootstrap: { resamples: 5 },
      weights: { any: 2 },
    });
    expect(() => applyOverrides({}, ['nosuch.key=1'], Schema)).toThrow(
      '--set nosuch.key: no key "nosuch"; valid: lr, bootstrap, weights',
    );
    expect(() => applyOverrides({}, ['bootstrap.x=1'], Schema)).toThrow(
      /no key "x" under bootstrap; valid: resamples/,
    );
    expect(() => applyOverrides({}, ['a..b=1'])).toThrow(/empty key/);
    for (const k of ['__proto__.x=1', 'a.constructor.prototype.x=1'])
      expect(() => applyOverrides({}, [k])).toThrow(/not allowed as a key/);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('--set applies without a config file', async () => {
    expect(await resolveCommandConfig(Schema, { configFile: undefined, overrides: ['lr=3'] })).toMatchObject({
      lr: 3,
    });
  });

  it('a YAML alias bomb is a config error', async () => {
    const f = path.join(tmp(), 'bomb.yaml');
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      rows.push(
        `${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(9)
          .fill(`*${'abcdefghi'[i - 1]}`)
          .join(', ')}]`,
      );
    writeFileSync(f, `${rows.join('\n')}\n`);
    await expect(loadConfig(f, z.unknown())).rejects.toThrow(/bomb\.yaml: invalid YAML: .*alias/);
  });

  it('nonStrictObjectPaths finds objects that drop unknown keys', () => {
    expect(nonStrictObjectPaths(Schema)).toEqual([]);
    expect(nonStrictObjectPaths(z.strictObject({ a: z.object({ b: z.number() }).optional() }))).toEqual([
      'a',
    ]);
  });
});

describe('run folders', () => {
  it('run names are one plain segment', async () => {
    const parent = tmp();
    for (const name of ['.', '..', '.hidden', 'a/b', '../x', '', 'a\\b', `x${'y'.repeat(200)}`])
      await expect(createRunDir(name, {}, { parent, overwrite: true }), name).rejects.toThrow(/run name/);
  });

  it('overwrite removes only a run folder that holds none of the inputs', async () => {
    const parent = tmp();
    mkdirSync(path.join(parent, 'precious'));
    writeFileSync(path.join(parent, 'precious', 'thesis.tex'), 'years of work');
    await expect(createRunDir('precious', {}, { parent, overwrite: true })).rejects.toThrow(RunDirError);
    expect(existsSync(path.join(parent, 'precious', 'thesis.tex'))).toBe(true);

    const run = await createRunDir('r', { a: 1 }, { parent });
    expect(existsSync(path.join(run.root, RUN_MARKER))).toBe(true);
    writeFileSync(run.file('data.jsonl'), '');
    await expect(
      createRunDir('r', {}, { parent, overwrite: true, inputs: [run.file('data.jsonl')] }),
    ).rejects.toThrow(/holds the input/);
    const again = await createRunDir('r', { a: 2 }, { parent, overwrite: true });
    expect(again.resumed).toBe(false);
    expect(existsSync(again.file('data.jsonl'))).toBe(false);
  });

  it('a resume with a changed config names the change and needs allowConfigChange', async () => {
    const parent = tmp();
    await createRunDir('r', { sft: { lr: 1, maxSteps: 10 } }, { parent });
    await expect(
      createRunDir('r', { sft: { lr: 2, maxSteps: 10 } }, { parent, resume: true }),
    ).rejects.toThrow(/different config \(sft\.lr 1 -> 2\).*--allow-config-change/);
    const r = await createRunDir(
      'r',
      { sft: { lr: 2, maxSteps: 10 } },
      { parent, resume: true, allowConfigChange: true },
    );
    expect(r.configChanges).toEqual([{ path: 'sft.lr', before: 1, after: 2 }]);
    expect(readFileSync(r.file('config-changes.jsonl'), 'utf8')).toContain('sft.lr');
  });
});
