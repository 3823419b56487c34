export {
  CaseBank,
  MEMENTO_BANK_FORMAT,
  type MementoBankHeader,
  MementoBankHeaderSchema,
  type MementoCase,
  MementoCaseSchema,
} from './case-bank.js';
export {
  type CaseEvidence,
  CaseScorer,
  type CaseScorerConfig,
  type CaseScorerConfigInput,
  CaseScorerConfigSchema,
  type ScorerExample,
} from './case-scorer.js';
export { agentCaseState, caseStateText } from './case-state.js';
export { episodeCases } from './episode-cases.js';
export {
  type MementoConfig,
  type MementoConfigInput,
  MementoConfigSchema,
  MementoPolicy,
  type MementoPolicyOptions,
  type MementoStats,
} from './memento-policy.js';
export { FlatIndex, type Neighbor, ORT_MIN_WORK, type SearchOptions } from './similarity-index.js';
export {
  StateEmbedder,
  type StateEmbeddingConfig,
  type StateEmbeddingConfigInput,
  StateEmbeddingConfigSchema,
} from './state-embedding.js';
