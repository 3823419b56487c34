export { BpeEncoder, type DecodeOptions, type EncodeOptions } from './tokenizer/bpe-encoder.js';
export {
  type BpeTrainConfig,
  BpeTrainConfigSchema,
  type BpeTrainOptions,
  type BpeTrainResult,
  type BpeTrainStats,
  trainBpe,
  trainBpeFromCounts,
  WordCounter,
} from './tokenizer/bpe-trainer.js';
export {
  BYTE_TO_UNICODE,
  byteLevelToBytes,
  PRETOKENIZE_PATTERN,
  pretokenize,
  toByteLevel,
  UNICODE_TO_BYTE,
} from './tokenizer/byte-level.js';
export {
  type ChatMessage,
  ChatMessageSchema,
  type ChatRole,
  ChatRoleSchema,
  ChatTemplate,
  type ChatTemplateConfig,
  ChatTemplateConfigSchema,
  type ChatTemplateOptions,
  type GenerationPrompt,
  type RenderedChat,
  type RenderOptions,
  RenderOptionsSchema,
} from './tokenizer/chat-template.js';
export { lmCommands, trainTokenizerCommand } from './tokenizer/commands.js';
export { type CorpusFormat, CorpusFormatSchema, readCorpusFiles } from './tokenizer/corpus-files.js';
export {
  buildDefaultTokenizerJsonText,
  DEFAULT_TOKENIZER_PATH,
  DEFAULT_TOKENIZER_RECIPE,
  loadDefaultTokenizer,
} from './tokenizer/default-tokenizer.js';
export { type HfTokenizer, loadHfTokenizer } from './tokenizer/hf.js';
export { generateShopCorpus, generateShopDialogue } from './tokenizer/shop-corpus.js';
export {
  CORE_SPECIAL_TOKENS,
  type CoreSpecialToken,
  DEFAULT_STRATEGY_NAMES,
  gopoSpecialTokens,
  parseStrategyToken,
  SpecialTokenMatcher,
  StrategyTokenNameSchema,
  strategyToken,
} from './tokenizer/special-tokens.js';
export {
  type BatchEncodeOptions,
  BatchEncodeOptionsSchema,
  type BatchEncoding,
  Tokenizer,
} from './tokenizer/tokenizer.js';
export {
  type AddedToken,
  AddedTokenSchema,
  type BpeModelParts,
  BpeModelSchema,
  buildTokenizerJson,
  parseTokenizerJson,
  parseTokenizerJsonText,
  serializeTokenizerJson,
  type TokenizerJson,
  TokenizerJsonSchema,
} from './tokenizer/tokenizer-json.js';
