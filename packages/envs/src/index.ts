export {
  envsCommands,
  evalToolPolicies,
  simulateCommand,
  TOOL_EVAL_ENVS,
  type ToolEvalOptions,
  ToolEvalOptionsSchema,
  taubenchReplayCommand,
} from './commands.js';
export {
  type PolicySummary,
  type ResettableToolEnv,
  runPolicyTrials,
  summarizePolicy,
  trialSeed,
} from './eval-policy.js';
export {
  comparedItems,
  couponFor,
  purchaseQuote,
  realizeStrategy,
  recommendedItem,
  returnedItem,
  searchCatalog,
  statusPhrase,
} from './shop/agent-templates.js';
export {
  cautiousStrategy,
  cautiousStrategyPolicy,
  HISTORY_MIX,
  hastyStrategyPolicy,
  historyStrategyPolicy,
  oracleStrategyPolicy,
  shopStrategyPolicies,
  templateReplyPolicy,
  templateStrategyPolicy,
  uniformStrategyPolicy,
} from './shop/agents.js';
export {
  type AgentAction,
  type Observation,
  outcomeStatus,
  type ResetResult,
  ShopEnv,
  type ShopEnvConfig,
  type ShopEnvConfigInput,
  ShopEnvConfigSchema,
  type StepInfo,
  type StepResult,
} from './shop/env.js';
export { shopFacts } from './shop/facts.js';
export { adherence, detectStrategy, type NluResult, nluJudge, understand } from './shop/nlu.js';
export { encodeObservation, observationFeatureNames, observationSize } from './shop/observation.js';
export { type OracleDecision, oracleDecision, oracleReference } from './shop/oracle.js';
export {
  greedyPolicy,
  greedyStrategy,
  heuristicStrategy,
  oraclePolicy,
  POLICY_NAMES,
  type PolicyName,
  randomPolicy,
  type ShopPolicy,
  shopPolicies,
  templatePolicy,
} from './shop/policies.js';
export {
  COMPLAINT_ISSUES,
  type ComplaintIssue,
  drawScenario,
  goalSlots,
  type HiddenGoal,
  type Persona,
  PersonaSchema,
  parseScenarioConfig,
  type Scenario,
  type ScenarioConfig,
  ScenarioConfigSchema,
} from './shop/scenario.js';
export {
  episodeSeed,
  runEpisode,
  type SimulateOptions,
  type SimulationSummary,
  SummaryAccumulator,
  simulate,
  summarize,
} from './shop/simulate.js';
export type { AgentView, Revealed, ShopProgress } from './shop/state.js';
export { collectTemplateTurns, type TemplateTurn, type TemplateTurnOptions } from './shop/template-turns.js';
export { type EndReason, type UserReaction, UserSimulator } from './shop/user-sim.js';
export { templateCount, USER_ACTS, USER_TEMPLATES, type UserAct } from './shop/user-templates.js';
export {
  bestCoupon,
  CATEGORIES,
  type Coupon,
  type Customer,
  couponApplies,
  generateWorld,
  type Item,
  type Order,
  type OrderStatus,
  returnAllowed,
  type StorePolicies,
  type World,
  type WorldConfig,
  WorldConfigSchema,
} from './shop/world.js';
export { parseRetailRequest, RetailRuleAgent, retailOracle, retailPolicies } from './taubench/agents.js';
export { calculate } from './taubench/calculate.js';
export {
  type KeyOrder,
  loadRetailData,
  loadRetailTasks,
  RETAIL_TASK_SPLITS,
  type RetailAction,
  RetailActionSchema,
  type RetailData,
  RetailDataError,
  type RetailOrder,
  RetailOrderSchema,
  type RetailProduct,
  RetailProductSchema,
  type RetailTask,
  RetailTaskSchema,
  type RetailTaskSplit,
  type RetailUser,
  RetailUserSchema,
  retailTaskFile,
} from './taubench/data.js';
export { canonicalJson, RetailDb } from './taubench/db.js';
export {
  RETAIL_SYSTEM_PROMPT,
  type RetailEndReason,
  RetailEnv,
  type RetailEnvConfig,
  type RetailEnvConfigInput,
  RetailEnvConfigSchema,
  type RetailPrivileged,
} from './taubench/env.js';
export { type PyDumpOptions, pyFloatRepr, pyJsonDumps, pyRound2 } from './taubench/python.js';
export { parseTaskIds, type ReplaySummary, replayFileName, writeGoldReplays } from './taubench/replay.js';
export { RESPOND_ACTION, type RetailReward, replayGoldActions, retailReward } from './taubench/reward.js';
export { RETAIL_REPLY_STRATEGY, RETAIL_SOP_FILE, retailSop } from './taubench/sop.js';
export {
  executeRetailCall,
  isRetailTool,
  isRetailWriteTool,
  RETAIL_TERMINATE_TOOLS,
  RETAIL_TOOL_NAMES,
  RETAIL_TOOLS,
  RETAIL_WRITE_TOOLS,
  type RetailToolName,
  type RetailWriteToolName,
} from './taubench/tools.js';
export {
  describeRequest,
  RetailCustomer,
  type RetailCustomerReply,
  type RetailIdentity,
  type RetailRequest,
  retailIdentity,
} from './taubench/user.js';
export {
  callIds,
  runToolEpisode,
  type ToolEnv,
  ToolEnvBase,
  type ToolEpisode,
  ToolEpisodeSchema,
  type ToolOutcome,
  type ToolPolicy,
  type ToolStepInfo,
  type ToolStepResult,
  toolEnvConfigFields,
  toolPolicyRegistry,
} from './tool-env.js';
export { ToolwozRuleAgent, toolwozOracle, toolwozPolicies } from './toolwoz/agents.js';
export {
  BOOK_PARAMS,
  idField,
  loadToolwozDb,
  normalizeTime,
  type Row,
  SEARCH_PARAMS,
  TIME_PARAMS,
  TOOLWOZ_DOMAINS,
  ToolwozDb,
  type ToolwozDomain,
  visibleRow,
} from './toolwoz/db.js';
export {
  TOOLWOZ_SYSTEM_PROMPT,
  type ToolwozEndReason,
  ToolwozEnv,
  type ToolwozEnvConfig,
  type ToolwozEnvConfigInput,
  ToolwozEnvConfigSchema,
} from './toolwoz/env.js';
export {
  type DomainGoal,
  DomainGoalSchema,
  goalApiCalls,
  goalsFromMultiwoz,
  loadMultiwozGoals,
  type MultiwozGoalStats,
  type SampledGoalsOptions,
  SampledGoalsSchema,
  sampleGoals,
  type ToolwozGoal,
  ToolwozGoalSchema,
} from './toolwoz/goals.js';
export { type SlotValues, ToolwozNlu } from './toolwoz/nlu.js';
export { type GoalApiStatus, type ToolwozScore, toolwozScore } from './toolwoz/reward.js';
export {
  bookingReference,
  executeToolwozCall,
  isToolwozTool,
  TOOLWOZ_TOOL_NAMES,
  TOOLWOZ_TOOLS,
  type ToolwozCallResult,
  type ToolwozToolName,
  type ToolwozToolOptions,
} from './toolwoz/tools.js';
export { ToolwozUser, type ToolwozUserEnd, type ToolwozUserReply } from './toolwoz/user.js';
