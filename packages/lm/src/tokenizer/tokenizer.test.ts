import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileFormatError, MissingFileError, UnknownNameError, UsageError } from '@gopo/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefaultTokenizer } from './default-tokenizer.js';
import { TRICKY_STRINGS } from './testing-corpus.js';
import { Tokenizer } from './tokenizer.js';

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadDefaultTokenizer();
});

describe('Tokenizer round trip', () => {
  it('decode(encode(s)) === s on arbitrary Unicode', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (s) => {
        expect(tok.decode(tok.encode(s))).toBe(s);
        expect(tok.decode(tok.encode(s, { parseSpecial: false }))).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it('is exact on emoji, CJK, combining marks, whitespace runs and special-token lookalikes', () => {
    for (const s of TRICKY_STRINGS) {
      expect(tok.decode(tok.encode(s))).toBe(s);
      expect(tok.decode(tok.encode(s, { addSpecial: true }), { skipSpecial: true })).toBe(
        s.replace(/<\|(user|agent|end|strategy:recommend)\|>/g, ''),
      );
    }
  });

  it('maps real special tokens to their ids but leaves lookalikes as ordinary tokens', () => {
    const ids = tok.encode('<|user|>hi<|usr|><|strategy:nope|>');
    expect(ids[0]).toBe(tok.specialTokenId('<|user|>'));
    expect(ids.slice(1).some((id) => tok.isSpecial(id))).toBe(false);
    const plain = tok.encode('<|user|>', { parseSpecial: false });
    expect(plain.some((id) => tok.isSpecial(id))).toBe(false);
    expect(tok.decode(plain)).toBe('<|user|>');
  });

  it('adds <|bos|> on request and skips specials on decode on request', () => {
    const ids = tok.encode('Hello!', { addSpecial: true });
    expect(ids[0]).toBe(tok.bosId);
    expect(tok.decode(ids)).toBe('<|bos|>Hello!');
    expect(tok.decode(ids, { skipSpecial: true })).toBe('Hello!');
  });

  it('compresses shop text (learned merges are used)', () => {
    const s = 'Hello! I would recommend the Acme headphones in black. They are wireless and cost $59.99.';
    expect(tok.encode(s).length).toBeLessThan(s.length / 3);
  });
});

describe('Tokenizer special tokens and vocabulary', () => {
  it('has the core tokens at ids 0..6 and one token per shop strategy', () => {
    expect([...tok.specialTokens.keys()].slice(0, 7)).toEqual([
      '<|pad|>',
      '<|bos|>',
      '<|eos|>',
      '<|system|>',
      '<|user|>',
      '<|agent|>',
      '<|end|>',
    ]);
    expect([tok.padId, tok.bosId, tok.eosId, tok.endId]).toEqual([0, 1, 2, 6]);
    expect(tok.strategies).toHaveLength(13);
    expect(tok.strategyTokenId('greet')).toBe(7);
    expect(tok.idToToken(tok.strategyTokenId('recommend'))).toBe('<|strategy:recommend|>');
    expect(tok.vocabSize).toBeGreaterThan(1500);
    expect(tok.vocabSize).toBeLessThanOrEqual(2048);
  });

  it('unknown names list the valid ones', () => {
    expect(() => tok.strategyTokenId('haggle')).toThrow(UnknownNameError);
    expect(() => tok.strategyTokenId('haggle')).toThrow(/greet/);
    expect(() => tok.specialTokenId('<|tool|>')).toThrow(/<\|user\|>/);
  });

  it('streams bytes: token bytes concatenate to the UTF-8 of the text', () => {
    const s = 'café 😀 日本';
    const ids = tok.encode(s);
    const bytes = Buffer.concat(ids.map((id) => tok.tokenBytes(id)));
    expect(bytes.toString('utf8')).toBe(s);
  });
});

describe('Tokenizer.encodeBatch', () => {
  it('pads right to the longest row with masks', () => {
    const b = tok.encodeBatch(['hi', 'a much longer sentence here']);
    expect(b.ids).toHaveLength(2);
    expect(b.ids[0]).toHaveLength(b.length);
    expect(b.length).toBe(Math.max(...b.lengths));
    expect(b.attentionMask[0]).toEqual([
      ...Array(b.lengths[0]).fill(1),
      ...Array(b.length - b.lengths[0]!).fill(0),
    ]);
    expect(b.ids[0]!.slice(b.lengths[0])).toEqual(Array(b.length - b.lengths[0]!).fill(tok.padId));
    expect(tok.decode(b.ids[1]!.slice(0, b.lengths[1]))).toBe('a much longer sentence here');
  });

  it('pads left, to a multiple, and to max length', () => {
    const left = tok.encodeBatch(['hi', 'hello there friend'], { paddingSide: 'left', padToMultipleOf: 8 });
    expect(left.length % 8).toBe(0);
    expect(left.ids[0]![left.length - 1]).toBe(tok.encode('hi').at(-1));
    expect(left.attentionMask[0]![0]).toBe(0);
    const fixed = tok.encodeBatch(['hi'], { padding: 'max_length', maxLength: 16 });
    expect(fixed.length).toBe(16);
  });

  it('truncates only when asked', () => {
    const long = 'word '.repeat(50);
    expect(() => tok.encodeBatch([long], { maxLength: 10 })).toThrow(UsageError);
    const cut = tok.encodeBatch([long], { maxLength: 10, truncation: true });
    expect(cut.lengths).toEqual([10]);
    expect(() => tok.encodeBatch([long], { padding: 'max_length' })).toThrow(/maxLength/);
  });
});

describe('Tokenizer loading and saving', () => {
  it('saves atomically and loads back the same tokenizer', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lm-tok-'));
    const file = path.join(dir, 'tokenizer.json');
    await tok.save(file);
    const again = await Tokenizer.load(file);
    expect(again.encode('Hello <|user|> 😀')).toEqual(tok.encode('Hello <|user|> 😀'));
    expect((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a missing file, bad JSON and a bad field with file and path', async () => {
    await expect(Tokenizer.load('/nonexistent/tokenizer.json')).rejects.toThrow(MissingFileError);
    expect(() => Tokenizer.fromJson('{not json', 'x.json')).toThrow(/x\.json: invalid JSON/);
    const json = structuredClone(tok.json) as { model: { merges: unknown[] } };
    json.model.merges[3] = ['nope-not-a-token', 'x'];
    expect(() => Tokenizer.fromJson(json, 't.json')).toThrow(FileFormatError);
    expect(() => Tokenizer.fromJson(json, 't.json')).toThrow(/t\.json at model\.merges\[3\]/);
    const prefix = structuredClone(tok.json) as { pre_tokenizer: { add_prefix_space: boolean } };
    prefix.pre_tokenizer.add_prefix_space = true;
    expect(() => Tokenizer.fromJson(prefix, 'p.json')).toThrow(/pre_tokenizer\.add_prefix_space/);
  });
});
