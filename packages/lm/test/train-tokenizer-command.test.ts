import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type CliContext, FileFormatError, MissingFileError, UsageError } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { generateShopCorpus, lmCommands, Tokenizer, trainTokenizerCommand } from '../src/index.js';

let dir: string;
let output: string[];
let ctx: CliContext;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lm-cli-'));
  ({ ctx, output } = testCliContext({ seed: 0 }));
});

const args = (o: Record<string, unknown>) => trainTokenizerCommand.options.parse(o);

describe('gopo lm train-tokenizer', () => {
  it('is exported in lmCommands under lm train-tokenizer', () => {
    expect(lmCommands.map((c) => c.path.join(' '))).toContain('lm train-tokenizer');
  });

  it('trains on text and JSONL files and writes a loadable tokenizer.json', async () => {
    const txt = path.join(dir, 'corpus.txt');
    await fs.writeFile(txt, generateShopCorpus(1, 20_000).join(''));
    const jsonl = path.join(dir, 'logs.jsonl');
    await fs.writeFile(
      jsonl,
      `${JSON.stringify({
        session_id: 's1',
        turns: [
          { role: 'user', text: 'Wo ist meine Bestellung?' },
          { role: 'agent', text: 'Einen Moment bitte.' },
        ],
      })}\n\n` + `${JSON.stringify({ text: 'plain record' })}\n`,
    );
    const out = path.join(dir, 'out', 'tok.json');
    const code = await trainTokenizerCommand.run(
      args({ input: [txt, jsonl], vocabSize: 600, strategies: ['greet', 'haggle'], out }),
      ctx,
    );
    expect(code).toBe(0);
    expect(output.join('\n')).toMatch(/wrote .*tok\.json: vocab \d+ \(9 special/);
    const tok = await Tokenizer.load(out);
    expect(tok.strategies).toEqual(['greet', 'haggle']);
    expect(tok.vocabSize).toBeLessThanOrEqual(600);
    expect(tok.decode(tok.encode('Wo ist meine Bestellung? 😀'))).toBe('Wo ist meine Bestellung? 😀');
  });

  it('reports a missing input file', async () => {
    await expect(
      trainTokenizerCommand.run(
        args({ input: [path.join(dir, 'nope.txt')], out: path.join(dir, 't.json') }),
        ctx,
      ),
    ).rejects.toThrow(MissingFileError);
  });

  it('reports invalid UTF-8 and bad JSONL with file and line, writing nothing', async () => {
    const bad = path.join(dir, 'bad.txt');
    await fs.writeFile(bad, Buffer.concat([Buffer.from('fine line\nsecond\nbroken \xff here\n', 'latin1')]));
    const out = path.join(dir, 't.json');
    const run = (input: string) => trainTokenizerCommand.run(args({ input: [input], out }), ctx);
    await expect(run(bad)).rejects.toThrow(FileFormatError);
    await expect(run(bad)).rejects.toThrow(/bad\.txt:3: invalid UTF-8/);
    const badJsonl = path.join(dir, 'bad.jsonl');
    await fs.writeFile(badJsonl, '{"text":"ok"}\n{"text": oops}\n');
    await expect(run(badJsonl)).rejects.toThrow(/bad\.jsonl:2\b.*invalid JSON/);
    const noText = path.join(dir, 'notext.jsonl');
    await fs.writeFile(noText, '{"text":"ok"}\n{"other":1}\n');
    await expect(run(noText)).rejects.toThrow(/notext\.jsonl:2: no "text"/);
    await expect(fs.access(out)).rejects.toThrow();
  });

  it('rejects a vocab size too small for the special tokens and an empty corpus', async () => {
    const txt = path.join(dir, 'c.txt');
    await fs.writeFile(txt, 'hello');
    await expect(
      trainTokenizerCommand.run(args({ input: [txt], vocabSize: 100, out: path.join(dir, 't.json') }), ctx),
    ).rejects.toThrow(/--vocab-size: must be at least 276/);
    const empty = path.join(dir, 'e.txt');
    await fs.writeFile(empty, '');
    await expect(
      trainTokenizerCommand.run(args({ input: [empty], out: path.join(dir, 't.json') }), ctx),
    ).rejects.toThrow(UsageError);
  });
});
