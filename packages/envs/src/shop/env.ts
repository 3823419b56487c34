import { Rng } from '@gopo/core';
import {
  type AgentAction,
  type AgentState,
  type AgentTurn,
  type DialogueEnv,
  type DialogueEvent,
  type Outcome,
  type OutcomeStatus,
  type PrivilegedInfo,
  type Reference,
  type Session,
  SHOP_STRATEGIES,
  type ShopStrategy,
  type Sop,
  shopSopDefault,
  type UserTurn,
} from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { z } from 'zod';
import { shopFacts } from './facts.js';
import { understand } from './nlu.js';
import { encodeObservation } from './observation.js';
import { type OracleDecision, oracleDecision } from './oracle.js';
import {
  drawScenario,
  goalSlots,
  parseScenarioConfig,
  type Scenario,
  type ScenarioConfig,
  ScenarioConfigSchema,
} from './scenario.js';
import { type AgentView, emptyProgress, emptyRevealed, type Revealed, type ShopProgress } from './state.js';
import { type EndReason, UserSimulator } from './user-sim.js';
import type { UserAct } from './user-templates.js';
import { generateWorld, type World, WorldConfigSchema } from './world.js';

export const ShopEnvConfigSchema = z.strictObject({
  world: WorldConfigSchema.default(WorldConfigSchema.parse({})).describe('the generated shop'),
  scenarios: ScenarioConfigSchema.default(ScenarioConfigSchema.parse({})).describe('how scenarios are drawn'),
  maxTurns: z
    .number()
    .int()
    .min(2)
    .max(1000)
    .default(12)
    .describe('agent turns before the session is cut off (at most 1000)'),
  sopEnforcement: z
    .enum(['block', 'penalize'])
    .default('block')
    .describe(
      'block: a non-admissible move is not executed (hard SOP, DESIGN.md 4.1); penalize: it runs but costs patience',
    ),
  sopViolationPenalty: z
    .number()
    .min(0)
    .default(1)
    .describe('patience lost when the strategy is not SOP-admissible'),
  mismatchPenalty: z
    .number()
    .min(0)
    .default(0.5)
    .describe('patience lost when the reply text performs another strategy than commanded'),
  turnCost: z.number().min(0).default(0.2).describe('patience lost on every turn'),
});
export type ShopEnvConfig = z.infer<typeof ShopEnvConfigSchema>;
export type ShopEnvConfigInput = z.input<typeof ShopEnvConfigSchema>;

/** One agent action: the strategy (Expert Agent) and the reply text (CS Agent); dialogue's role type. */
export type { AgentAction };

/** What the agents see before acting. */
export interface Observation {
  readonly turn: number;
  readonly sopState: string;
  readonly flags: Readonly<Record<string, boolean>>;
  readonly admissible: readonly string[];
  /** Admissibility over the strategy set, in strategy-set order. */
  readonly mask: readonly boolean[];
  readonly features: Float32Array;
  readonly revealed: Readonly<Revealed>;
  readonly progress: Readonly<ShopProgress>;
  readonly lastUserText: string;
  /** What the agent has retrieved so far, as text lines (shopFacts). */
  readonly facts: readonly string[];
}

export interface StepInfo {
  readonly detectedStrategy: ShopStrategy | null;
  readonly adherent: boolean;
  readonly sopViolation: boolean;
  /** The move was not admissible and the store did not execute it (sopEnforcement "block"). */
  readonly blocked: boolean;
  readonly reference: Reference;
  readonly patienceLost: number;
  readonly endReason?: EndReason;
  readonly outcome?: Outcome;
  /** The observation for the next turn (after the customer's reply). */
  readonly observation: Observation;
}

export interface StepResult {
  readonly agentTurn: AgentTurn;
  /** The customer's reply; absent when the session ended on the agent's turn (handoff). */
  readonly userTurn: UserTurn | undefined;
  /** Every event of this step (agent turn, then user turn). */
  readonly events: readonly DialogueEvent[];
  readonly done: boolean;
  readonly info: StepInfo;
}

export interface ResetResult {
  readonly userTurn: UserTurn;
  readonly observation: Observation;
}

const NEGATIVE_ACTS: ReadonlySet<UserAct> = new Set<UserAct>([
  'already_told',
  'off_task',
  'wrong_order',
  'no_order_yet',
  'wrong_answer',
  'invalid_coupon',
  'not_chosen_yet',
  'discount_ignored',
  'want_replacement',
  'confused',
  'return_rejected',
  'reject_category',
  'which_item',
  'unhappy_close',
]);

export function outcomeStatus(end: EndReason): OutcomeStatus {
  return match(end)
    .with('resolved', () => 'success' as const)
    .with('consolation', () => 'partial' as const)
    .with('user_left', () => 'abandoned' as const)
    .with('handoff', () => 'escalated' as const)
    .with('closed_unresolved', 'turn_limit', () => 'failure' as const)
    .exhaustive();
}

const CSAT_BASE: Record<OutcomeStatus, number> = {
  success: 5,
  partial: 3.5,
  failure: 2,
  escalated: 2.5,
  abandoned: 1,
};

/**
 * The shop environment (the Mgshop stand-in). `reset(seed)` draws a scenario and returns the
 * customer's opening message; `step({strategy, text})` checks the strategy against the SOP, reads the
 * text with the NLU, lets the customer react, and returns the customer's reply, the events, `done`,
 * and the next observation. Every finished session is a valid log line (`session()`).
 */
export class ShopEnv implements DialogueEnv<AgentView> {
  readonly config: ShopEnvConfig;
  readonly world: World;
  readonly sop: Sop;
  private readonly scenarioConfig: ScenarioConfig;
  private cachedReference: { turn: number; decision: OracleDecision } | undefined;
  private scenario!: Scenario;
  private user!: UserSimulator;
  private rng!: Rng;
  private revealed!: Revealed;
  private progress!: ShopProgress;
  private mask = 0;
  private turnsTaken = 0;
  private turns: (UserTurn | AgentTurn)[] = [];
  private lastAct: UserAct = 'hello';
  private lastUserText = '';
  private lastStrategy: string | undefined;
  private complaints = 0;
  private violations = 0;
  private endReason: EndReason | undefined;
  private sessionId = '';

  constructor(config: ShopEnvConfigInput = {}, options: { world?: World; sop?: Sop } = {}) {
    this.config = ShopEnvConfigSchema.parse(config);
    this.world = options.world ?? generateWorld(this.config.world);
    this.sop = options.sop ?? shopSopDefault();
    this.scenarioConfig = parseScenarioConfig(this.config.scenarios);
    const missing = SHOP_STRATEGIES.filter((s) => !this.sop.strategies.includes(s));
    if (missing.length)
      throw new RangeError(`the SOP's strategy set lacks shop strategies: ${missing.join(', ')}`);
  }

  /** Starts a session for `seed` (or for a given scenario); returns the customer's opening turn. */
  reset(seed: number, options: { scenario?: Scenario; sessionId?: string } = {}): ResetResult {
    const rng = Rng.fromSeed(seed, 'shop-session');
    this.scenario =
      options.scenario ?? drawScenario(this.world, rng.split('scenario'), seed, this.scenarioConfig);
    this.rng = rng.split('dialogue');
    this.revealed = emptyRevealed();
    this.progress = emptyProgress();
    this.user = new UserSimulator(this.world, this.scenario, this.rng, this.revealed, this.progress, {
      sopViolation: this.config.sopViolationPenalty,
      mismatch: this.config.mismatchPenalty,
      turnCost: this.config.turnCost,
    });
    this.mask = this.sop.initialMask;
    this.turnsTaken = 0;
    this.turns = [];
    this.lastStrategy = undefined;
    this.complaints = 0;
    this.violations = 0;
    this.endReason = undefined;
    this.cachedReference = undefined;
    this.sessionId = options.sessionId ?? this.scenario.id;
    const open = this.user.open();
    for (const e of open.events) this.mask = this.sop.applyEvent(this.mask, e);
    this.lastAct = open.act;
    this.lastUserText = open.text;
    const userTurn: UserTurn = {
      role: 'user',
      text: open.text,
      events: open.events,
      act: open.act,
    };
    this.turns.push(userTurn);
    return { userTurn, observation: this.observe() };
  }

  get done(): boolean {
    return this.endReason !== undefined;
  }

  get strategies(): readonly string[] {
    return this.sop.strategies;
  }

  /** What a learned policy may see now: the dialogue, the SOP state and the retrieved facts. */
  agentState(): AgentState<AgentView> {
    const view = this.view();
    return {
      sessionId: this.sessionId,
      domain: 'shop',
      turns: this.turns.slice(),
      sopState: this.sop.stateName(this.mask),
      admissible: this.sop.admissibleMask(this.mask),
      facts: shopFacts(view),
      view,
    };
  }

  /** The privileged channel: the oracle's reference decision, derived from the hidden goal. */
  privileged(): PrivilegedInfo {
    const d = this.reference();
    return { reference: { strategy: d.strategy, acceptable: [...d.acceptable] } };
  }

  get currentScenario(): Scenario {
    return this.scenario;
  }

  /** What an agent may see now (the shop's tools and the dialogue so far, never the hidden goal). */
  view(): AgentView {
    return {
      world: this.world,
      revealed: this.revealed,
      progress: this.progress,
      sopMask: this.mask,
      turn: this.turnsTaken,
      lastUserAct: this.lastAct,
    };
  }

  /** The oracle's reference strategy and acceptable alternatives for the current turn. */
  reference(): OracleDecision {
    // The oracle and step() both ask on the same turn; the state only changes in step().
    if (this.cachedReference?.turn !== this.turnsTaken)
      this.cachedReference = {
        turn: this.turnsTaken,
        decision: oracleDecision(this.view(), this.scenario.goal, this.sop),
      };
    return this.cachedReference.decision;
  }

  observe(): Observation {
    const view = this.view();
    return {
      turn: this.turnsTaken,
      sopState: this.sop.stateName(this.mask),
      flags: this.sop.toFlags(this.mask),
      admissible: this.sop.admissible(this.mask),
      mask: this.sop.admissibleMask(this.mask),
      features: encodeObservation(view, this.sop, this.config.maxTurns, this.lastStrategy, this.complaints),
      revealed: this.revealed,
      progress: this.progress,
      lastUserText: this.lastUserText,
      facts: shopFacts(view),
    };
  }

  step(action: AgentAction): StepResult {
    if (this.endReason !== undefined) throw new Error('step() after the session ended; call reset()');
    if (!this.sop.strategies.includes(action.strategy))
      throw new RangeError(`unknown strategy "${action.strategy}"; valid: ${this.sop.strategies.join(', ')}`);
    const decision = this.reference();
    const reference: Reference = { strategy: decision.strategy, acceptable: [...decision.acceptable] };
    const sopState = this.sop.stateName(this.mask);
    const facts = shopFacts(this.view());
    const sopViolation = !this.sop.isAdmissible(this.mask, action.strategy);
    const nlu = understand(action.text);
    const firstTurn = this.turnsTaken === 0;
    const blocked = sopViolation && this.config.sopEnforcement === 'block';
    const reaction = this.user.react(nlu, { commanded: action.strategy, sopViolation, firstTurn, blocked });
    this.turnsTaken++;
    if (sopViolation) this.violations++;
    const adherent = nlu.strategy === action.strategy;
    this.lastStrategy = action.strategy;
    const agentTurn: AgentTurn = {
      role: 'agent',
      text: action.text,
      strategy: action.strategy,
      ...(action.ranking ? { ranking: [...action.ranking] } : {}),
      reference,
      events: reaction.agentEvents,
      sop_violation: sopViolation,
      detected_strategy: nlu.strategy,
      sop_state: sopState,
      facts,
    };
    this.turns.push(agentTurn);
    this.mask = this.sop.applyStrategy(this.mask, action.strategy);
    for (const e of reaction.agentEvents) this.mask = this.sop.applyEvent(this.mask, e);
    let userTurn: UserTurn | undefined;
    // A handoff ends the session on the agent's turn: the customer's acknowledgement is not logged.
    if (reaction.end !== 'handoff') {
      userTurn = {
        role: 'user',
        text: reaction.text,
        events: reaction.userEvents,
        act: reaction.act,
      };
      this.turns.push(userTurn);
      for (const e of reaction.userEvents) this.mask = this.sop.applyEvent(this.mask, e);
      this.lastAct = reaction.act;
      this.lastUserText = reaction.text;
      if (NEGATIVE_ACTS.has(reaction.act)) this.complaints++;
    }
    if (reaction.end) this.endReason = reaction.end;
    else if (this.turnsTaken >= this.config.maxTurns)
      this.endReason = this.progress.resolved ? 'resolved' : 'turn_limit';
    const done = this.endReason !== undefined;
    return {
      agentTurn,
      userTurn,
      events: [...reaction.agentEvents, ...(userTurn?.events ?? [])],
      done,
      info: {
        detectedStrategy: nlu.strategy,
        adherent,
        sopViolation,
        blocked,
        reference,
        patienceLost: reaction.penalty,
        ...(done ? { endReason: this.endReason, outcome: this.outcome() } : {}),
        observation: this.observe(),
      },
    };
  }

  /** The outcome so far (final once `done`). */
  outcome(): Outcome {
    const status = outcomeStatus(this.endReason ?? 'turn_limit');
    const purchased = this.turns.flatMap((t) => t.events).find((e) => e.type === 'purchased');
    const csat = Math.max(
      1,
      Math.min(
        5,
        Math.round(CSAT_BASE[status] - 0.35 * this.user.penaltyTotal + (this.progress.couponCode ? 0.5 : 0)),
      ),
    );
    return {
      status,
      converted: purchased !== undefined,
      resolved: status === 'success',
      csat,
      escalated: status === 'escalated',
      order_value: purchased?.amount ?? 0,
      turns: this.turnsTaken,
      sop_violations: this.violations,
      end_reason: this.endReason ?? 'in_progress',
    };
  }

  /** The session as a Mgshop-style log record. */
  session(): Session {
    return {
      session_id: this.sessionId,
      domain: 'shop',
      goal: { type: this.scenario.goal.type, slots: goalSlots(this.scenario.goal) },
      turns: this.turns.slice(),
      outcome: this.outcome(),
      persona: { ...this.scenario.persona },
      scenario_seed: this.scenario.seed,
      customer_id: this.scenario.customerId,
    };
  }
}
