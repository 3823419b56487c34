export {
  extractReplyExamples,
  type ReplyExample,
  type ReplyExampleConfig,
  ReplyExampleConfigSchema,
} from './reply-examples.js';
export { replyPromptFor, replyPromptMessages } from './reply-prompt.js';
