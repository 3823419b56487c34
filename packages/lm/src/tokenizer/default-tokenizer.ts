import { fileURLToPath } from 'node:url';
import { type BpeTrainConfig, BpeTrainConfigSchema, trainBpe } from './bpe-trainer.js';
import { generateShopCorpus } from './shop-corpus.js';
import { CORE_SPECIAL_TOKENS, DEFAULT_STRATEGY_NAMES } from './special-tokens.js';
import { Tokenizer } from './tokenizer.js';
import { serializeTokenizerJson } from './tokenizer-json.js';

/** How the shipped default tokenizer is made; changing any of these changes the committed file. */
export const DEFAULT_TOKENIZER_RECIPE = {
  corpusSeed: 20260215,
  corpusChars: 400_000,
  train: BpeTrainConfigSchema.parse({
    vocabSize: 2048,
    minFrequency: 2,
    specialTokens: [...CORE_SPECIAL_TOKENS],
    strategies: [...DEFAULT_STRATEGY_NAMES],
    bosToken: '<|bos|>',
  }) satisfies BpeTrainConfig,
} as const;

/** Where the default tokenizer lives in the package (assets/ sits beside src/ and dist/). */
export const DEFAULT_TOKENIZER_PATH = fileURLToPath(
  new URL('../../assets/default-tokenizer.json', import.meta.url),
);

/** Trains the default tokenizer from its recipe and returns the tokenizer.json text. Deterministic. */
export function buildDefaultTokenizerJsonText(): string {
  const corpus = generateShopCorpus(
    DEFAULT_TOKENIZER_RECIPE.corpusSeed,
    DEFAULT_TOKENIZER_RECIPE.corpusChars,
  );
  const { tokenizerJson } = trainBpe(corpus, DEFAULT_TOKENIZER_RECIPE.train);
  return serializeTokenizerJson(tokenizerJson);
}

/**
 * The small shop tokenizer shipped with the package: 2,048 ids, the core special tokens and one
 * strategy token per default shop strategy, trained on the generated shop corpus.
 */
export async function loadDefaultTokenizer(): Promise<Tokenizer> {
  return Tokenizer.load(DEFAULT_TOKENIZER_PATH);
}
