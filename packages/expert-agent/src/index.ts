export {
  actionLogProbs,
  type DecisionInputs,
  decisionLogProbs,
  type GroupRelativeInputs,
  groupRelativeGraphLoss,
  maskedDecisionLogits,
  type PairInputs,
  pairwiseLoss,
  sftDecisionLoss,
  type TokenPairInputs,
  tokenPairwiseLoss,
} from './decision-graph.js';
export { type EncodableDecision, type EncodedTrajectory, ExpertEncoder } from './encoder.js';
export {
  ExpertAgent,
  type ExpertRuntimeOptions,
  earlierDecisions,
  expertLlamaConfig,
} from './expert-agent.js';
export {
  EXPERT_FILE,
  type ExpertFile,
  ExpertFileSchema,
  type ExpertModelConfig,
  type ExpertModelConfigInput,
  ExpertModelConfigSchema,
} from './expert-config.js';
export {
  type ExpertObjective,
  ExpertUpdater,
  type ObjectiveInputs,
  TRAIN_LENGTH_BUCKET,
} from './expert-updater.js';
export { type GopoLossConfig, GopoLossConfigSchema } from './gopo-config.js';
export {
  encodeBatch,
  type GopoUpdateOptions,
  type GopoUpdateResult,
  gopoUpdate,
  NonFiniteTrainingError,
  type TrajectoryRows,
  withReferenceLogProbs,
} from './gopo-update.js';
export { maskedLogSoftmax, NoAdmissibleStrategyError, rankAdmissible, sampleMasked } from './masking.js';
export {
  buildPreferencePairs,
  type DecisionLogProbs,
  type DecisionLossWithGrad,
  gopoPairwiseLoss,
  gopoTokenPairwiseLoss,
  groupAdvantages,
  groupRelativeLoss,
  type LossWithGrad,
  type PreferencePair,
  type TrajectoryLogProbs,
} from './preference-loss.js';
export { type DecisionRows, packRows, type RowInput, type RowShape, roundUp } from './rows.js';
export {
  decisionAccuracy,
  lengthBucketedBatches,
  sftWarmStart,
  type WarmStartOptions,
} from './warm-start.js';
