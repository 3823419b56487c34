import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BpeEncoder } from './bpe-encoder.js';
import { trainBpe } from './bpe-trainer.js';
import { loadHfTokenizer } from './hf.js';
import { generateShopCorpus } from './shop-corpus.js';
import { TRICKY_STRINGS } from './testing-corpus.js';
import type { TokenizerJson } from './tokenizer-json.js';
import { parseTokenizerJsonText, serializeTokenizerJson } from './tokenizer-json.js';

/**
 * @huggingface/tokenizers is the independent reference: it loads the tokenizer.json we write and must
 * produce exactly our ids and texts.
 */
let json: TokenizerJson;
let ours: BpeEncoder;
let hf: ReturnType<typeof loadHfTokenizer>;

beforeAll(() => {
  const corpus = [...generateShopCorpus(7, 60_000), ...TRICKY_STRINGS, ...TRICKY_STRINGS];
  const trained = trainBpe(corpus, { vocabSize: 900, minFrequency: 2 });
  // Through text and back, as a user of the file would load it.
  json = parseTokenizerJsonText(serializeTokenizerJson(trained.tokenizerJson));
  ours = new BpeEncoder(json);
  hf = loadHfTokenizer(json);
});

function agree(text: string): void {
  for (const addSpecial of [false, true]) {
    const ids = ours.encode(text, { addSpecial });
    expect(ids, JSON.stringify(text)).toEqual(hf.encode(text, { add_special_tokens: addSpecial }).ids);
    if (ids.length > 0) {
      for (const skipSpecial of [false, true]) {
        expect(ours.decode(ids, { skipSpecial })).toBe(hf.decode(ids, { skip_special_tokens: skipSpecial }));
      }
    }
  }
}

describe('our encoder vs @huggingface/tokenizers', () => {
  it('agree token for token on held-out shop text', () => {
    const held = generateShopCorpus(99, 30_000);
    for (const t of held) agree(t);
    expect(ours.encode(held.join('')).length).toBeGreaterThan(3000);
  });

  it('agree on tricky strings', () => {
    for (const t of TRICKY_STRINGS) agree(t);
  });

  it('agree on arbitrary Unicode and on mixes with special tokens', () => {
    const piece = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.constantFrom('<|user|>', '<|end|>', '<|strategy:greet|>', '<|', '|>', ' ', '\n', "'s", '  '),
      fc.constantFrom(...TRICKY_STRINGS),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (parts) => agree(parts.join(''))),
      { numRuns: 300 },
    );
  });

  it('agree on long pieces (the heap path of the encoder)', () => {
    const letters = generateShopCorpus(3, 20_000)
      .join('')
      .replace(/[^a-zA-Z]/g, '');
    for (const t of [
      letters,
      'recommend'.repeat(200),
      '1'.repeat(1001),
      `${' '.repeat(500)}x`,
      '😀'.repeat(100),
    ]) {
      agree(t);
    }
    const longWord = fc.string({
      unit: fc.constantFrom('t', 'h', 'e', 'a', 'r', 'o', 'n', 's', 'é'),
      minLength: 65,
      maxLength: 400,
    });
    fc.assert(
      fc.property(longWord, (w) => agree(w)),
      { numRuns: 100 },
    );
  });

  it('agree on special-token ids and vocabulary', () => {
    expect(ours.vocabSize).toBe(hf.get_vocab().size);
    for (const [content, id] of ours.addedTokens()) expect(hf.token_to_id(content)).toBe(id);
  });
});
