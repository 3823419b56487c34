export {
  CsAgent,
  type CsGenerationConfig,
  type CsGenerationConfigInput,
  CsGenerationConfigSchema,
  type GeneratedReply,
} from './cs-agent.js';
export { CS_LENGTH_BUCKET, type CsObjective, CsUpdater, packReplies, type ReplyItem } from './cs-updater.js';
export { replyRecords } from './reply-corpus.js';
export { mentionedEntities } from './reply-entities.js';
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
export { DEFAULT_REPLY_HISTORY_TURNS, replyPromptFor, replyPromptMessages } from './reply-prompt.js';
