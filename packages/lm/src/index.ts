// --- Model and generation (model/, generate/, export/) ---

export { lmCommands } from './commands.js';
export { exportCommand } from './export/commands.js';
export {
  exportLlamaOnnx,
  type OnnxExportManifest,
  type OnnxExportOptions,
  type OnnxExportOptionsInput,
  OnnxExportOptionsSchema,
} from './export/onnx.js';
export { generateCommand } from './generate/commands.js';
export { decodeLoopModel, STEPS_PER_ITERATION } from './generate/decode-loop.js';
export {
  type FinishReason,
  type GenerateExtras,
  type GenerateOptions,
  type GenerateOptionsInput,
  GenerateOptionsSchema,
  type GenerationResult,
  generate,
  streamableText,
  type TextDecoderLike,
  type TokenEvent,
} from './generate/generate.js';
export {
  applyRepetitionPenalty,
  argmax,
  filteredDistribution,
  kthLargest,
  type SamplingOptions,
  SamplingOptionsSchema,
  sampleNext,
} from './generate/sampling.js';
export {
  isLoraParam,
  LORA_A,
  LORA_B,
  type LoraConfig,
  type LoraConfigInput,
  LoraConfigSchema,
  loraFrozenNames,
  loraModules,
  loraScale,
  matchesTarget,
  mergeLora,
  unmergeLora,
  withLora,
} from './lora/lora.js';
// --- SFT and LoRA (train/, lora/) ---
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type AdapterConfig,
  AdapterConfigSchema,
  adapterConfigFrom,
  type LoadedAdapter,
  loadLoraAdapter,
  loraConfigFrom,
  PEFT_PREFIX,
  saveLoraAdapter,
} from './lora/peft.js';
export {
  type DecoderSize,
  eosIds,
  freshLlamaConfig,
  type LlamaConfig,
  type LlamaConfigInput,
  LlamaConfigSchema,
  type LlamaDims,
  llamaDims,
  parseLlamaConfig,
  type RopeScaling,
  RopeScalingSchema,
  readLlamaConfig,
  ropeInvFreq,
} from './model/config.js';
export {
  AUTO_INITIALIZER_BYTES,
  buildStepGraph,
  type CompiledGraph,
  LlamaModel,
  type LlamaModelOptions,
  pastName,
  presentName,
} from './model/llama-model.js';
export {
  attendMaskFromSegments,
  type KvPair,
  type LlamaForwardOptions,
  type LlamaForwardResult,
  type LlamaGraphOptions,
  type LlamaStepOptions,
  llamaForward,
  llamaHeadWeight,
  llamaLogits,
  llamaParamShapes,
  llamaStep,
  llamaTokenLogProbs,
  llamaTokenLogProbsWithHidden,
  positionsFromMask,
} from './model/model.js';
export {
  CONFIG_FILE,
  type LlamaWeights,
  loadLlamaDir,
  readLlamaWeights,
  saveLlamaDir,
  TOKENIZER_FILE,
  WEIGHTS_FILE,
} from './model/weights.js';
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
export { trainTokenizerCommand } from './tokenizer/commands.js';
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
  CorruptTokenizerError,
  checkTokenizerIntegrity,
  parseTokenizerJson,
  parseTokenizerJsonText,
  serializeTokenizerJson,
  type TokenizerJson,
  TokenizerJsonSchema,
} from './tokenizer/tokenizer-json.js';
export { sftCommand } from './train/command.js';
export {
  readSftExamples,
  type SftExample,
  type SftRecord,
  SftRecordSchema,
  type TokenizeOptions,
  tokenizeRecord,
} from './train/data.js';
export {
  IGNORE_INDEX,
  type PackedRow,
  type PackOptions,
  type PackResult,
  packExamples,
  rowsToBatch,
} from './train/packing.js';
export {
  runSft,
  type SftConfig,
  type SftConfigInput,
  SftConfigSchema,
  type SftResult,
  type SftRunOptions,
} from './train/sft.js';
export {
  llamaSftModel,
  type SftGraphOptions,
  type SftLogitsInputs,
  type SftModel,
  sftEvalOutputs,
  sftLogits,
  sftLoss,
} from './train/sft-model.js';
export { type SyntheticDialogue, syntheticDialogues } from './train/synthetic-dialogues.js';
