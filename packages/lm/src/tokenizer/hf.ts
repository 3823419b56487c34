import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import type { TokenizerJson } from './tokenizer-json.js';

export type { HfTokenizer };

/**
 * Loads tokenizer.json content with @huggingface/tokenizers. Its decode tidies spaces around
 * punctuation by default (clean_up_tokenization_spaces), which would break exact round trips, so the
 * config turns that off.
 */
export function loadHfTokenizer(json: TokenizerJson): HfTokenizer {
  return new HfTokenizer(structuredClone(json), { clean_up_tokenization_spaces: false });
}
