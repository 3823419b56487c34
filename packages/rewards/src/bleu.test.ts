import { describe, expect, it } from 'vitest';
import { corpusBleu, tokenize13a } from './bleu.js';

// Reference values printed by sacrebleu 2.6.0 (`sacrebleu.corpus_bleu(hyps, [refs], smooth_method=...)`
// and `Tokenizer13a()`), with the hand computation beside each.
describe('13a tokenizer', () => {
  it.each([
    [
      'Hello, world! It\'s 3.5-4 dollars (approx.) & "cheap".',
      'Hello , world ! It\'s 3.5 - 4 dollars ( approx . ) & " cheap " .',
    ],
    ['a&amp;b &lt;c&gt; 1,000.5 end.', 'a & b < c > 1,000.5 end .'],
    ['x-y 3-4 {a}[b]~c^d_e`f|g @h:i;j=k?l', 'x-y 3 - 4 { a } [ b ] ~ c ^ d _ e ` f | g @ h : i ; j = k ? l'],
    ['  multiple   spaces\there  ', 'multiple spaces here'],
  ])('%s', (input, expected) => {
    expect(tokenize13a(input)).toBe(expected);
  });
});

describe('corpus BLEU', () => {
  it('identical sentences give 100', () => {
    const r = corpusBleu(['the cat sat on the mat'], [['the cat sat on the mat']]);
    expect(r.score).toBeCloseTo(100, 10);
    expect(r.counts).toEqual([6, 5, 4, 3]);
  });

  it('brevity penalty and clipped precisions (sacrebleu 42.38365628278778)', () => {
    // hyp 7 tokens "the cat sat on the mat ." ref 8 "the cat was sitting on the mat ."
    // matches 1-4: 6/7, 4/6, 2/5, 1/4; BP = exp(1 - 8/7) = 0.866878
    // BLEU = 0.866878 * (6/7 * 4/6 * 2/5 * 1/4)^(1/4) * 100 = 42.3837
    const r = corpusBleu(['the cat sat on the mat .'], [['the cat was sitting on the mat .']]);
    expect(r.counts).toEqual([6, 4, 2, 1]);
    expect(r.totals).toEqual([7, 6, 5, 4]);
    expect(r.bp).toBeCloseTo(Math.exp(1 - 8 / 7), 14);
    const hand = Math.exp(1 - 8 / 7) * ((6 / 7) * (4 / 6) * (2 / 5) * (1 / 4)) ** 0.25 * 100;
    expect(r.score).toBeCloseTo(hand, 10);
    expect(r.score).toBeCloseTo(42.38365628278778, 10);
  });

  it('two-sentence corpus, sums over sentences (sacrebleu 51.73042288331883)', () => {
    const r = corpusBleu(
      [
        'It is a guide to action which ensures that the military always obeys the commands of the party.',
        'he read the book because he was interested in world history',
      ],
      [
        [
          'It is a guide to action that ensures that the military will forever heed Party commands.',
          'he was interested in world history because he read the book',
        ],
      ],
    );
    expect(r.counts).toEqual([23, 17, 12, 8]);
    expect(r.totals).toEqual([30, 28, 26, 24]);
    expect([r.sysLen, r.refLen]).toEqual([30, 28]);
    expect(r.score).toBeCloseTo(100 * ((23 / 30) * (17 / 28) * (12 / 26) * (8 / 24)) ** 0.25, 10);
    expect(r.score).toBeCloseTo(51.73042288331883, 10);
  });

  it('13a tokenisation inside BLEU (sacrebleu 51.81097818962499)', () => {
    const r = corpusBleu(
      ['Hello, world! It\'s 3.5-4 dollars (approx.) & "cheap".'],
      [["Hello world! It's 3.5 - 4 dollars (approx) & cheap."]],
    );
    expect(r.counts).toEqual([14, 9, 7, 6]);
    expect(r.score).toBeCloseTo(51.81097818962499, 10);
  });

  it('zero higher-order matches: 0 without smoothing, sacrebleu exp smoothing gives 27.77619034011791', () => {
    const hyps = ['the dog runs fast today', 'a b'];
    const refs = [['the dog ran fast today', 'a c']];
    const none = corpusBleu(hyps, refs);
    expect(none.counts).toEqual([5, 2, 0, 0]);
    expect(none.totals).toEqual([7, 5, 3, 2]);
    expect(none.score).toBe(0);
    // exp: p3 = 100 / (2 * 3), p4 = 100 / (4 * 2)
    const exp = corpusBleu(hyps, refs, { smoothing: 'exp' });
    expect(exp.score).toBeCloseTo(((500 / 7) * 40 * (100 / 6) * (100 / 8)) ** 0.25, 10);
    expect(exp.score).toBeCloseTo(27.77619034011791, 10);
  });

  it('picks the closest reference length, shorter on ties; empty hypothesis scores 0', () => {
    const r = corpusBleu(['a b c d'], [['a b c'], ['a b c d e']]);
    expect(r.refLen).toBe(3);
    expect(r.bp).toBe(1);
    expect(corpusBleu([''], [['a b']]).score).toBe(0);
    expect(() => corpusBleu(['a'], [['a', 'b']])).toThrow(/reference stream 0 has 2/);
  });
});
