export { type GopoLossConfig, GopoLossConfigSchema } from './gopo-config.js';
export { maskedLogSoftmax, NoAdmissibleStrategyError, rankAdmissible, sampleMasked } from './masking.js';
export {
  buildPreferencePairs,
  gopoPairwiseLoss,
  groupAdvantages,
  groupRelativeLoss,
  type LossWithGrad,
  type PreferencePair,
  type TrajectoryLogProbs,
} from './preference-loss.js';
