import { promises as fs } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildDefaultTokenizerJsonText, DEFAULT_TOKENIZER_PATH } from './default-tokenizer.js';
import { generateShopCorpus } from './shop-corpus.js';

describe('default tokenizer asset', () => {
  it('regenerating it gives the committed file byte for byte', async () => {
    const committed = await fs.readFile(DEFAULT_TOKENIZER_PATH, 'utf8');
    expect(buildDefaultTokenizerJsonText() === committed).toBe(true);
    expect(Buffer.byteLength(committed)).toBeLessThan(300 * 1024);
  });

  it('the corpus generator is deterministic per seed', () => {
    expect(generateShopCorpus(5, 5000)).toEqual(generateShopCorpus(5, 5000));
    expect(generateShopCorpus(5, 5000)).not.toEqual(generateShopCorpus(6, 5000));
    expect(generateShopCorpus(5, 5000).join('').length).toBeGreaterThanOrEqual(5000);
  });
});
