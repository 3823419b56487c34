export {
  extractReplyExamples,
  type ReplyExample,
  type ReplyExampleConfig,
  ReplyExampleConfigSchema,
} from './reply-examples.js';
