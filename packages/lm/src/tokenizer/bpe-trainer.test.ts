import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BpeTrainConfigSchema, trainBpe } from './bpe-trainer.js';
import { BYTE_TO_UNICODE, pretokenize } from './byte-level.js';

const G = '\u0120'; // byte-level space

/**
 * Reference trainer for the test: recounts every pair from scratch before each merge (no
 * incremental bookkeeping), with the same rule for ties (count, then smaller left id, then right).
 */
function naiveMerges(texts: string[], maxMerges: number, minFrequency: number): [string, string][] {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of pretokenize(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const enc = new TextEncoder();
  const words = [...counts.entries()].map(([w, f]) => ({ syms: [...enc.encode(w)] as number[], f }));
  const str: string[] = BYTE_TO_UNICODE.slice();
  const ids = new Map(str.map((s, i) => [s, i]));
  const merges: [string, string][] = [];
  while (str.length - 256 < maxMerges) {
    const pc = new Map<string, { a: number; b: number; c: number }>();
    for (const { syms, f } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]},${syms[i + 1]}`;
        const e = pc.get(k) ?? { a: syms[i]!, b: syms[i + 1]!, c: 0 };
        e.c += f;
        pc.set(k, e);
      }
    }
    let best: { a: number; b: number; c: number } | undefined;
    for (const e of pc.values()) {
      if (!best || e.c > best.c || (e.c === best.c && (e.a < best.a || (e.a === best.a && e.b < best.b))))
        best = e;
    }
    if (!best || best.c < minFrequency) break;
    const merged = str[best.a]! + str[best.b]!;
    merges.push([str[best.a]!, str[best.b]!]);
    let id = ids.get(merged);
    if (id === undefined) {
      id = str.length;
      str.push(merged);
      ids.set(merged, id);
    }
    for (const w of words) {
      const out: number[] = [];
      for (let i = 0; i < w.syms.length; ) {
        if (i + 1 < w.syms.length && w.syms[i] === best.a && w.syms[i + 1] === best.b) {
          out.push(id);
          i += 2;
        } else out.push(w.syms[i++]!);
      }
      w.syms = out;
    }
  }
  return merges;
}

const noSpecials = { specialTokens: [], strategies: [], bosToken: null };

describe('trainBpe', () => {
  it('learns the hand-computed merges of a tiny corpus', () => {
    // words: "ab" x1, " ab" x2, " cd" x1 -> (a,b)=3 first, then (Ġ,ab)=2, then the tie (Ġ,c)=(c,d)=1
    // goes to the smaller left byte (space 32 < c 99), then (Ġc,d).
    const r = trainBpe(['ab ab ab cd'], { ...noSpecials, vocabSize: 256 + 10, minFrequency: 1 });
    expect(r.parts.merges).toEqual([
      ['a', 'b'],
      [G, 'ab'],
      [G, 'c'],
      [`${G}c`, 'd'],
    ]);
    expect(r.stats.stoppedBy).toBe('no_pairs');
    const r2 = trainBpe(['ab ab ab cd'], { ...noSpecials, vocabSize: 256 + 10, minFrequency: 2 });
    expect(r2.parts.merges).toHaveLength(2);
    expect(r2.stats.stoppedBy).toBe('min_frequency');
    const r3 = trainBpe(['ab ab ab cd'], { ...noSpecials, vocabSize: 257, minFrequency: 1 });
    expect(r3.parts.merges).toEqual([['a', 'b']]);
    expect(r3.stats.stoppedBy).toBe('vocab_size');
  });

  it('matches a from-scratch reference trainer on random corpora (incremental counts are exact)', () => {
    const word = fc.string({
      unit: fc.constantFrom('a', 'b', 'c', 'é', ' ', '1', '!', 'aa', '\n'),
      maxLength: 12,
    });
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 3 }),
        (texts, minFreq) => {
          const r = trainBpe(texts, { ...noSpecials, vocabSize: 256 + 40, minFrequency: minFreq });
          expect(r.parts.merges).toEqual(naiveMerges(texts, 40, minFreq));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('is deterministic and independent of corpus order', () => {
    const texts = ['the cat sat on the mat', 'the dog ate the hat', 'a cat, a dog, a hat!', '123 456 123'];
    const a = trainBpe(texts, { ...noSpecials, vocabSize: 300, minFrequency: 1 });
    const b = trainBpe([...texts].reverse(), { ...noSpecials, vocabSize: 300, minFrequency: 1 });
    expect(b.parts).toEqual(a.parts);
  });

  it('puts special tokens at fixed ids and never learns them from text', () => {
    const texts = Array.from({ length: 50 }, () => '<|user|>hi there<|agent|>hello!<|end|>');
    const r = trainBpe(texts, { vocabSize: 400, minFrequency: 2, strategies: ['greet'] });
    expect(r.parts.vocab.slice(0, 8)).toEqual([
      '<|pad|>',
      '<|bos|>',
      '<|eos|>',
      '<|system|>',
      '<|user|>',
      '<|agent|>',
      '<|end|>',
      '<|strategy:greet|>',
    ]);
    expect(r.parts.vocab[8]).toBe(BYTE_TO_UNICODE[0]);
    // Only the text between the tokens was counted: no learned token contains "<|" glued to letters.
    for (const tok of r.parts.vocab.slice(8 + 256)) expect(tok).not.toMatch(/user|agent|end\|/);
    // "hi", " there", "hello", "!" per text.
    expect(r.stats.totalWords).toBe(50 * 4);
    expect(new Set(r.parts.vocab).size).toBe(r.parts.vocab.length);
  });

  it('never learns a token spelled like a special token', () => {
    const r = trainBpe(['### ### ### ###'], {
      vocabSize: 300,
      minFrequency: 1,
      specialTokens: ['##'],
      strategies: [],
      bosToken: null,
    });
    expect(r.parts.vocab.filter((t) => t === '##')).toHaveLength(1);
    expect(new Set(r.parts.vocab).size).toBe(r.parts.vocab.length);
  });

  it('rejects impossible configs with the field named', () => {
    const bad = (o: object) => BpeTrainConfigSchema.safeParse(o);
    expect(bad({ vocabSize: 100 }).error?.issues[0]?.path).toEqual(['vocabSize']);
    expect(bad({ specialTokens: ['<|a|>', '<|a|>'] }).error?.issues[0]?.path).toEqual(['specialTokens', 1]);
    expect(bad({ bosToken: '<|start|>' }).error?.issues[0]?.path).toEqual(['bosToken']);
    expect(bad({ strategies: ['Not Snake'] }).error?.issues[0]?.path).toEqual(['strategies', 0]);
  });
});
