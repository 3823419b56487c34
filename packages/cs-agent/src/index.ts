export {
  extractReplyExamples,
  type ReplyExample,
  type ReplyExampleConfig,
  ReplyExampleConfigSchema,
} from './reply-examples.js';
export {
  type TurnRewardConfig,
  TurnRewardConfigSchema,
  type TurnSignals,
  turnReward,
} from './turn-reward.js';
