/**
 * The roles of a training run (DESIGN.md 2): a strategy policy, a reply policy and a session reward,
 * all async and batched, plus the environment they act in. Agents implement them, environments
 * implement `DialogueEnv`, the trainer drives them; none of them imports another.
 *
 * A learned policy sees an `AgentState` only: the dialogue so far, the SOP state and the facts the
 * agent retrieved. The simulator's hidden goal reaches an oracle through one named channel,
 * `PrivilegedInfo`, which the rollout engine hands only to policies that declare `privileged: true`;
 * no policy is ever handed the environment object.
 */
import type { Reference, Session, Turn } from './log-schema.js';

/** What an agent may see before it acts. */
export interface AgentState<View = unknown> {
  readonly sessionId: string;
  readonly domain: string;
  /** The dialogue so far, as log turns (the customer's latest message last). */
  readonly turns: readonly Turn[];
  /** Name of the SOP state the dialogue is in. */
  readonly sopState: string;
  /** SOP admissibility over the strategy set, in strategy-set order. */
  readonly admissible: readonly boolean[];
  /** What the agent has retrieved with its tools, as text lines (catalog matches, order record, ...). */
  readonly facts: readonly string[];
  /**
   * The domain's structured agent-visible view (for the shop: catalog, revealed slots, progress), for
   * scripted agents that fill templates from it. Never the hidden goal; absent for logged sessions.
   */
  readonly view?: View;
}

/** The privileged channel: what only an oracle may read, derived from the simulator's hidden goal. */
export interface PrivilegedInfo {
  /** The oracle's reference strategy and the other acceptable ones at this turn. */
  readonly reference: Reference;
}

/** A strategy policy's choice for one state. */
export interface StrategyDecision {
  /** Index of the chosen strategy in the policy's strategy set. */
  readonly action: number;
  /**
   * log pi(a | s) for every strategy: SOP-masked (-Infinity outside the admissible set) for a masked
   * policy, over every strategy for one with `masked: false`.
   */
  readonly logProbs: readonly number[];
  /**
   * Strategy indices the policy ranks, most probable first (ties in strategy-set order): the admissible
   * ones for a masked policy, every strategy for one with `masked: false`.
   */
  readonly ranking: readonly number[];
}

export interface DecideOptions {
  /** Take the most probable admissible strategy instead of sampling. */
  readonly greedy: boolean;
  /**
   * One U[0,1) draw per state, from the caller's per-dialogue seeded streams, so a dialogue's
   * trajectory does not depend on which other dialogues share its batch.
   */
  readonly uniforms: readonly number[];
  /** Per state, only for policies with `privileged: true`. */
  readonly privileged?: readonly PrivilegedInfo[];
}

/** The Expert Agent's role: states in; strategy, ranking and log-probs out. */
export interface StrategyPolicy {
  readonly name: string;
  /** The strategy set the decisions index into. */
  readonly strategies: readonly string[];
  /** Reads the privileged channel (an oracle). Learned policies never do. */
  readonly privileged?: boolean;
  /**
   * Whether the policy's decisions are SOP-masked (absent: true, the hard SOP of DESIGN.md 4.1). A
   * policy that declares `masked: false` (the "without SOP masking" ablation, DESIGN.md 4.6) may choose
   * an inadmissible strategy: the rollout engine then executes it and the environment decides what it
   * costs (its sopEnforcement; the turn logs an SOP violation). A masked policy's inadmissible choice
   * is an error.
   */
  readonly masked?: boolean;
  /** Version of the weights behind the decisions (0 for fixed policies); tags rollouts. */
  readonly version: number;
  decide(states: readonly AgentState[], options: DecideOptions): Promise<StrategyDecision[]>;
}

export interface ReplyRequest {
  readonly state: AgentState;
  /** The strategy the reply must follow. */
  readonly strategy: string;
  /** Seed for whatever the backend samples (template choice, tokens). */
  readonly seed: number;
}

/** The CS Agent's role: state, strategy and facts in; the reply text out. */
export interface ReplyPolicy {
  readonly name: string;
  reply(requests: readonly ReplyRequest[]): Promise<string[]>;
}

/**
 * An adherence judge: reads which strategy each reply performs (null: none it recognises). The CS
 * Agent is judged by two independent ones (the simulator's NLU and a classifier trained on a separate
 * paraphrase corpus), so that RL cannot win by gaming one.
 */
export interface StrategyJudge {
  readonly name: string;
  judge(texts: readonly string[]): Promise<(string | null)[]>;
}

/** A sequence reward and its named parts (`tse`, `gre`, `esndcg`, ...). */
export interface ScoredSession {
  readonly total: number;
  readonly parts: Readonly<Record<string, number>>;
}

/** A reward function over finished sessions. */
export interface SessionRewardFn {
  readonly name: string;
  score(sessions: readonly Session[]): Promise<ScoredSession[]>;
}

/** What an agent does on its turn. */
export interface AgentAction {
  readonly strategy: string;
  readonly text: string;
  /** The strategies in the Expert Agent's order, best first (logged for ESNDCG). */
  readonly ranking?: readonly string[];
}

/**
 * An environment the trainer can roll out in: reset/step, plus what agents may see and what the
 * oracle may read. Every finished session is a Mgshop-style log line.
 */
export interface DialogueEnv<View = unknown> {
  readonly strategies: readonly string[];
  readonly done: boolean;
  /** Starts the session of scenario `seed`. */
  reset(seed: number, options?: { sessionId?: string }): void;
  /** Plays the agent's turn and the customer's answer. */
  step(action: AgentAction): void;
  agentState(): AgentState<View>;
  privileged(): PrivilegedInfo;
  session(): Session;
}
