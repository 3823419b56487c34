export {
  CsAgent,
  type CsGenerationConfig,
  type CsGenerationConfigInput,
  CsGenerationConfigSchema,
  type GeneratedReply,
} from './cs-agent.js';
export { replyRecords } from './reply-corpus.js';
export {
  extractReplyExamples,
  type ReplyExample,
  type ReplyExampleConfig,
  ReplyExampleConfigSchema,
} from './reply-examples.js';
export { DEFAULT_REPLY_HISTORY_TURNS, replyPromptFor, replyPromptMessages } from './reply-prompt.js';
