export {
  CsAgent,
  type CsGenerationConfig,
  type CsGenerationConfigInput,
  CsGenerationConfigSchema,
  type GeneratedReply,
} from './cs-agent.js';
export { CS_LENGTH_BUCKET, type CsObjective, CsUpdater, packReplies, type ReplyItem } from './cs-updater.js';
export {
  checkFacts,
  FACT_KINDS,
  type FactAccuracy,
  type FactAccuracyPart,
  type FactCheck,
  type FactKind,
  type FactMention,
  type FactMentionSpan,
  type FactPatterns,
  type FactPatternsInput,
  FactPatternsSchema,
  factAccuracy,
  factMentionSpans,
  factMentions,
  parseFactPatterns,
  SHOP_FACT_PATTERNS,
} from './fact-check.js';
export {
  type GaeResult,
  gae,
  klPenalizedTokenRewards,
  type TrajectoryReply,
  type TrajectoryTargets,
  trajectoryTargets,
  whiten,
  whitenRows,
} from './gae.js';
export {
  adherenceRate,
  compareJudges,
  type JudgeAgreement,
  JudgeLengthError,
  type JudgesReport,
  judgeAgreement,
} from './judges.js';
export {
  type FittedPrompt,
  fitToolPrompt,
  LmToolAgent,
  type LmToolAgentConfig,
  type LmToolAgentConfigInput,
  LmToolAgentConfigSchema,
  type LmToolAgentStats,
  type SampledToolStep,
  toolStepIds,
} from './lm-tool-agent.js';
export {
  expandPhrasing,
  PARAPHRASE_TEMPLATES,
  type ParaphraseCorpus,
  type ParaphraseCorpusConfig,
  type ParaphraseCorpusConfigInput,
  ParaphraseCorpusConfigSchema,
  type ParaphraseExample,
  ParaphraseTemplateError,
  paraphraseCorpus,
} from './paraphrase-corpus.js';
export {
  clippedValueLoss,
  type PpoConfig,
  PpoConfigSchema,
  ppoLoss,
  ppoLossHost,
  replyLogProbsAndValues,
} from './ppo-losses.js';
export { replyRecords } from './reply-corpus.js';
export {
  extractReplyExamples,
  type ReplyExample,
  type ReplyExampleConfig,
  ReplyExampleConfigSchema,
} from './reply-examples.js';
export {
  clippedSurrogateHost,
  clippedSurrogateLoss,
  type KtoConfig,
  KtoConfigSchema,
  ktoHost,
  ktoLoss,
  type ReplyRlConfig,
  ReplyRlConfigSchema,
  replyTokenLogProbs,
} from './reply-losses.js';
export {
  DEFAULT_REPLY_HISTORY_TURNS,
  type ReplyPromptOptions,
  replyPromptFor,
  replyPromptMessages,
} from './reply-prompt.js';
export {
  buildShippedClassifier,
  type ClassifierMetrics,
  loadShippedClassifier,
  measureClassifier,
  SHIPPED_CLASSIFIER_DIR,
  SHIPPED_CLASSIFIER_RECIPE,
  type TemplateReplySpec,
  templateReplies,
} from './shipped-classifier.js';
export {
  CLASSIFIER_CONFIG_FILE,
  CLASSIFIER_FORMAT,
  CLASSIFIER_TOKENIZER_FILE,
  CLASSIFIER_WEIGHTS_FILE,
  ClassifierWeightsError,
  type LabelledReply,
  StrategyClassifier,
  type StrategyClassifierFile,
  StrategyClassifierFileSchema,
  type StrategyClassifierModel,
  type StrategyClassifierModelInput,
  StrategyClassifierModelSchema,
  type StrategyClassifierTrain,
  type StrategyClassifierTrainInput,
  StrategyClassifierTrainSchema,
  type TrainClassifierOptions,
  type TrainedClassifier,
} from './strategy-classifier.js';
export {
  FALLBACK_PLAN,
  FALLBACK_REPLY,
  fallbackStep,
  MALFORMED_REASONS,
  type MalformedReason,
  type ParsedToolStep,
  parseToolStep,
  renderToolPrompt,
  renderToolStep,
  TOOL_STEP_MARKERS,
  type ToolPromptOptions,
  ToolPromptOptionsSchema,
  toolSignature,
} from './tool-step-format.js';
export { loadValueHead, saveValueHead, VALUE_HEAD_FILE, VALUE_HEAD_PARAMS, valueHead } from './value-head.js';
