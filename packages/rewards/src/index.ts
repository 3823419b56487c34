export { type BleuOptions, type BleuResult, type BleuSmoothing, corpusBleu, tokenize13a } from './bleu.js';
export {
  BUSINESS_FUNCTIONS,
  BUSINESS_VARIABLE_NAMES,
  BUSINESS_VARIABLES,
  type BusinessScope,
  type BusinessVariable,
  businessScope,
  businessScopeInto,
  type CompiledBusinessReward,
  compileBusinessReward,
} from './business-reward.js';
export {
  type BootstrapConfig,
  BootstrapConfigSchema,
  defaultMetricsConfig,
  type EsndcgConfig,
  EsndcgConfigSchema,
  type GreConfig,
  GreConfigSchema,
  type KlControllerConfig,
  KlControllerConfigSchema,
  MAX_RESAMPLES,
  type MetricsConfig,
  type MetricsConfigInput,
  MetricsConfigSchema,
  type Milestone,
  MilestoneSchema,
  milestonesFor,
  type ObjectiveConfig,
  ObjectiveConfigSchema,
  type StepRewardConfig,
  StepRewardConfigSchema,
  type TseConfig,
  TseConfigSchema,
} from './config.js';
export {
  esndcgFromScores,
  esndcgMonteCarlo,
  esndcgOfTurns,
  esndcgScore,
  type JudgedTurn,
  judgedTurns,
  type MonteCarloEstimate,
  relevance,
} from './esndcg.js';
export {
  type BootstrapOptions,
  bootstrapMean,
  bootstrapTable,
  type Interval,
  type PairedDifference,
  type PairedTest,
  pairedCompare,
  quantile,
  type TableIntervals,
} from './eval/bootstrap.js';
export { type EvalOptions, EvalOptionsSchema, evalCommand, rewardsCommands } from './eval/command.js';
export {
  type Comparison,
  compareScored,
  type Evaluation,
  type GoalBreakdown,
  type MetricComparison,
  type MetricSummary,
  type ScoredFile,
  type ScoreFileOptions,
  scoreFile,
  scoreSessions,
  scoringContext,
  selectMetrics,
  summarize,
} from './eval/evaluate.js';
export { type EvalReport, formatReport, type ReportFormat } from './eval/format.js';
export type { LineReader } from './eval/score-range.js';
export { ScoreTable } from './eval/score-table.js';
export {
  type ApiCall,
  type GoalCall,
  goalApiReward,
  goalCallCompleted,
  isUnconstrained,
  type JoshSummary,
  joshSummary,
  normalizeValue,
} from './josh.js';
export {
  AdaptiveKlController,
  createKlController,
  FixedKlController,
  type KlController,
  klPenalizedReward,
} from './kl-controller.js';
export {
  type DomainGoal,
  type DomainOutcome,
  informOf,
  type MultiwozDialogue,
  type MultiwozScores,
  multiwozScores,
  successOf,
} from './multiwoz.js';
export {
  loadMultiwoz,
  loadMultiwozDatabase,
  MULTIWOZ_ENTITY_DOMAINS,
  type MultiwozDatabase,
  type MultiwozRaw,
  type MultiwozReference,
  prepareMultiwoz,
} from './multiwoz-data.js';
export { type SequenceReward, sequenceReward, type TurnRewardParts, turnReward } from './objective.js';
export { passAtK, passHatK, type TaskTrials, trialsByTask } from './pass-k.js';
export {
  createMetricRegistry,
  metricRegistry,
  type ScoringContext,
  SESSION_METRICS,
  type SessionMetric,
  type SessionView,
  scoreSession,
  scoreSessionInto,
  sessionView,
  sessionViewInto,
} from './session-metrics.js';
export {
  generationReward,
  overlap,
  type ProgressiveInput,
  progressiveRewards,
  type SetOverlap,
  type TokenMark,
  todReward,
  understandingReward,
} from './step-rewards.js';
export { milestoneTurns, tseScore } from './tse.js';
