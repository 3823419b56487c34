export { envsCommands, simulateCommand } from './commands.js';
export { couponFor, realizeStrategy, searchCatalog, statusPhrase } from './shop/agent-templates.js';
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
export { adherence, detectStrategy, type NluResult, understand } from './shop/nlu.js';
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
  simulate,
  summarize,
} from './shop/simulate.js';
export type { AgentView, Revealed, ShopProgress } from './shop/state.js';
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
export {
  callIds,
  runToolEpisode,
  type ToolEnv,
  type ToolEpisode,
  type ToolPolicy,
  type ToolStepInfo,
  type ToolStepResult,
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
