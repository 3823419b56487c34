/**
 * Test support for packages that train or sample reply models: a tiny random Llama with the shipped
 * tokenizer, written as a model folder. What training does to it is beside the point; run folders,
 * checkpoints, resume and plumbing are what such tests check, and a 16-wide model keeps them fast.
 */
import { promises as fs } from 'node:fs';
import {
  DEFAULT_TOKENIZER_PATH,
  type LlamaConfig,
  type LlamaConfigInput,
  LlamaConfigSchema,
  LlamaModel,
  TOKENIZER_FILE,
  Tokenizer,
} from './index.js';

/**
 * A 1-layer, 16-wide Llama config over `vocab` ids with grouped-query attention (2 heads, 1 kv head),
 * 64 positions and a tied head: small enough for float64 graph checks and update tests. Overrides win.
 */
export function tinyLlamaConfig(vocab: number, overrides: Partial<LlamaConfigInput> = {}): LlamaConfig {
  return LlamaConfigSchema.parse({
    vocab_size: vocab,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 64,
    tie_word_embeddings: true,
    ...overrides,
  });
}

export interface TinyModelOptions {
  /** Initialisation seed. */
  readonly seed?: number;
  /** Positions the model accepts (default 1024: room for a shop prompt). */
  readonly maxPositions?: number;
}

/** Writes a random 1-layer, 16-wide Llama and the shipped tokenizer to `dir`; returns `dir`. */
export async function saveTinyRandomModel(dir: string, options: TinyModelOptions = {}): Promise<string> {
  const tok = await Tokenizer.load(DEFAULT_TOKENIZER_PATH);
  const model = LlamaModel.random(
    {
      vocab_size: tok.vocabSize,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      max_position_embeddings: options.maxPositions ?? 1024,
      eos_token_id: tok.eosId,
      pad_token_id: tok.padId,
      bos_token_id: tok.bosId,
    },
    options.seed ?? 0,
  );
  await model.save(dir, { [TOKENIZER_FILE]: await fs.readFile(DEFAULT_TOKENIZER_PATH) });
  return dir;
}
