export {
  ChatBackendError,
  type ChatClientOptions,
  ChatCompletionClient,
  type ChatServerConfig,
} from './backends/chat-client.js';
export { OpenAiReplyPolicy } from './backends/openai-reply.js';
export {
  OpenAiToolAgent,
  type OpenAiToolAgentConfig,
  type OpenAiToolAgentOptions,
  toolChatRequest,
} from './backends/openai-tool-agent.js';
export { createReplyBackend, type ReplyBackend } from './backends/reply-backends.js';
export {
  agentCaseState,
  CaseBank,
  type CaseEvidence,
  CaseScorer,
  type CaseScorerConfig,
  type CaseScorerConfigInput,
  CaseScorerConfigSchema,
  caseStateText,
  episodeCases,
  FlatIndex,
  MEMENTO_BANK_FORMAT,
  type MementoBankHeader,
  MementoBankHeaderSchema,
  type MementoCase,
  MementoCaseSchema,
  type MementoConfig,
  type MementoConfigInput,
  MementoConfigSchema,
  MementoPolicy,
  type MementoPolicyOptions,
  type MementoStats,
  type Neighbor,
  ORT_MIN_WORK,
  type ScorerExample,
  type SearchOptions,
  StateEmbedder,
  type StateEmbeddingConfig,
  type StateEmbeddingConfigInput,
  StateEmbeddingConfigSchema,
} from './baselines/memento/index.js';
export {
  type FlatPpoConfig,
  type FlatPpoConfigInput,
  FlatPpoConfigSchema,
  type FlatPpoCurvePoint,
  type FlatPpoResult,
  type FlatPpoRunOptions,
  type FlatRolesOptions,
  flatRoles,
  loadFlatAgentRoles,
  RecordingReplyPolicy,
  runFlatPpo,
} from './baselines/ppo/index.js';
export { loadPhaseCheckpoint, type PhaseCheckpoint, savePhaseCheckpoint } from './checkpoints.js';
export { EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, type MainIo, main } from './cli/main.js';
export { ALL_COMMANDS } from './cli/registry.js';
export { dataCommand } from './commands/data.js';
export { demoCommand } from './commands/demo.js';
export { evalPolicyCommand, readRunConfig, reportCommand } from './commands/eval-policy.js';
export { experimentCommand } from './commands/experiment.js';
export { expertSftCommand } from './commands/expert-sft.js';
export { joshCommand } from './commands/josh.js';
export { ppoCommand } from './commands/ppo.js';
export { trainCommand } from './commands/train.js';
export { type CsEvaluation, distinct2, evaluateReplies } from './cs/evaluate.js';
export { type CsTrainMode, csObjective } from './cs/objective.js';
export {
  type CsPhaseContext,
  type CsPhaseResult,
  collectTurns,
  csKtoPhase,
  csRlPhase,
  type Scored,
  sampleAndScore,
} from './cs/phases.js';
export { csPpoPhase, replyTokenScores } from './cs/ppo-phase.js';
export {
  type PpoBatch,
  type PpoTrajectory,
  ppoBatch,
  ppoEpochs,
  referenceTokenLogprobs,
} from './cs/ppo-steps.js';
export { CsSftConfigSchema, runCsSft, writeReplyCorpus } from './cs/sft.js';
export { factKey, factTokenMarks, statedValues, stepTokenRewards } from './cs/step-marks.js';
export { CsTrainConfigSchema, type CsTrainResult, runCsTraining } from './cs/train.js';
export {
  type ExperimentConfig,
  type ExperimentConfigInput,
  ExperimentConfigSchema,
  type ExperimentMethod,
  ExperimentMethodSchema,
} from './experiment/config.js';
export {
  budgetedGopoConfig,
  type CurvePoint,
  type MethodContext,
  type TrainedMethod,
  trainMethod,
} from './experiment/methods.js';
export { type ExperimentReport, writeExperimentReport } from './experiment/report.js';
export { type ExperimentRunOptions, MethodSeedResultSchema, runExperiment } from './experiment/run.js';
export { GOPO_ABLATIONS, type GopoAblation, type GopoAblationName } from './gopo/ablations.js';
export {
  compareMethods,
  comparisonTable,
  type MethodResult,
  type MethodSpec,
  type RolesMethodSpec,
  type StrategyMethodSpec,
  tInterval,
} from './gopo/compare.js';
export {
  AgentInitSchema,
  CsPhaseConfigSchema,
  type GopoTrainConfig,
  type GopoTrainConfigInput,
  GopoTrainConfigSchema,
  PolicyConfigSchema,
  ReplyBackendConfigSchema,
  WarmStartConfigSchema,
} from './gopo/config.js';
export { evaluateHeldOut, type PolicyEvaluation, REPORT_METRICS, scoreInMemory } from './gopo/evaluate.js';
export { dealGroups, type OfflineOptions, readLoggedTrajectories, runOfflineGopo } from './gopo/offline.js';
export { type RunSummary, summaryMarkdown, writeRunReport } from './gopo/report.js';
export {
  DEFAULT_WARM_START_DIR,
  openRunSession,
  phasePlan,
  type RunSession,
  runGopoTraining,
  shopEnvFactory,
  type TrainRunOptions,
  type TrainRunResult,
} from './gopo/run.js';
export { EVAL_SEED_BASE, evalJobs, trainingJobs } from './gopo/scenarios.js';
export { loggedRows, simulateHistory, trainWarmStart, type WarmStartResult } from './gopo/warm-start.js';
export {
  type JoshAgentConfig,
  JoshAgentConfigSchema,
  type JoshConfig,
  type JoshConfigInput,
  JoshConfigSchema,
  type JoshPpoConfig,
  JoshPpoConfigSchema,
} from './josh/config.js';
export {
  type JoshKtoRecord,
  JoshKtoRecordSchema,
  type JoshSftRecord,
  JoshSftRecordSchema,
  joshRecords,
} from './josh/datasets.js';
export {
  type AgentEval,
  type EvalAgent,
  evaluate as evaluateJoshAgents,
  lmEvalAgent,
  type SeedStat,
  seedStat,
} from './josh/evaluate.js';
export { corruptStep, noisyScriptedPolicy } from './josh/noisy-policy.js';
export { type PpoStageSummary, runPpoStage } from './josh/ppo.js';
export {
  JOSH_STAGES,
  type JoshRunOptions,
  type JoshRunResult,
  type JoshStage,
  joshReport,
  runJosh,
  type SelfPlaySummary,
} from './josh/run.js';
export {
  type JoshNode,
  type JoshOutcome,
  type JoshPolicy,
  type JoshSearchConfig,
  JoshSearchConfigSchema,
  type JoshSearchResult,
  type JoshStep,
  joshSearch,
  ReplayDivergenceError,
  replaySteps,
} from './josh/search.js';
export {
  JOSH_ENVS,
  type JoshEnvName,
  type JoshItem,
  type JoshTask,
  retailJoshTask,
  toolwozJoshTask,
} from './josh/tasks.js';
export {
  type EpisodeRewardOptions,
  episodeTokenScores,
  itemTokenMarks,
  type MarkedStep,
  type ToolStepReward,
  ToolStepRewardSchema,
} from './josh/tool-step-rewards.js';
export {
  normalizedMatchEnd,
  requestKey,
  type StatedItem,
  type StepItemSource,
  type StepTruth,
  slotKey,
  toolwozStatedItems,
  toolwozStepItems,
  toolwozStepTruth,
} from './josh/toolwoz-step-items.js';
export { sequenceRewardFn } from './rewards.js';
export { assembleBatch } from './rollout/batch.js';
export {
  type EpisodeJob,
  EpisodeJobSchema,
  type EpisodeResult,
  EpisodeResultSchema,
  type EpisodeRoles,
  type FlatRoles,
  flatActionStrategy,
  type HierarchicalRoles,
  NO_STRATEGY_COMMAND,
  runEpisodes,
  type TurnRecord,
} from './rollout/episodes.js';
export {
  RolloutWorkerError,
  RolloutWorkerExitError,
  ThreadPool,
  type ThreadPoolOptions,
} from './rollout/thread-pool.js';
export { InProcessPool, type RolloutWorkerPool, type RunJobsOptions } from './rollout/worker-pool.js';
export {
  type RolloutWorkerSpec,
  type RolloutWorkerSpecInput,
  RolloutWorkerSpecSchema,
} from './rollout/worker-spec.js';
