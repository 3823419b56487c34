/**
 * Hand-built dialogues and tiny agents for the Expert Agent's tests: multi-turn trajectories whose
 * agent turns carry the decision state (SOP state and facts) the way the simulator logs them, and a
 * small decoder with weights large enough that every log-prob depends on its context.
 */
import { Rng } from '@gopo/core';
import {
  type AgentState,
  type DecisionRecord,
  decisionStateText,
  type RolloutBatch,
  SHOP_STRATEGIES,
  type TrajectoryRecord,
  type Turn,
} from '@gopo/dialogue';
import { loadDefaultTokenizer, type Tokenizer } from '@gopo/lm';
import type { ParamStore } from '@gopo/nn';
import type { EncodableDecision, ExpertEncoder } from '../src/encoder.js';
import { ExpertAgent } from '../src/expert-agent.js';
import type { ExpertModelConfigInput } from '../src/expert-config.js';
import type { RowInput } from '../src/rows.js';

export const STRATEGIES: readonly string[] = SHOP_STRATEGIES;

/** A decision of a hand-built trajectory, with its SOP mask. */
export interface HandDecision extends EncodableDecision {
  readonly mask: readonly boolean[];
  readonly sopState: string;
  readonly facts: readonly string[];
}

export interface HandTrajectory {
  readonly turns: Turn[];
  readonly decisions: HandDecision[];
}

const WORDS = [
  'headphones',
  'order',
  'refund',
  'cheap',
  'please',
  'blue',
  'late',
  'coupon',
  'thanks',
  'return',
  'battery',
  'size',
  'budget',
  'broken',
  'fast',
] as const;
const SOP_STATES = ['start', 'discovery', 'need_known', 'item_chosen', 'order_located'] as const;

const sentence = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.pick(WORDS)).join(' ');

export interface HandTrajectoryOptions {
  /** Agent turns (each between user turns; the dialogue starts and ends with the customer). */
  readonly agentTurns: number;
  /** Indices (among agent turns) of turns that carry a strategy label but no decision. */
  readonly undecided?: readonly number[];
  /** Words per message. */
  readonly words?: number;
  /** Force these actions (by decision) instead of random admissible ones. */
  readonly actions?: readonly number[];
}

/**
 * A dialogue user, agent, user, ..., user with a decision at every agent turn but the `undecided`
 * ones. Decided agent turns log `sop_state`, `facts` and `strategy` as the simulator does, so
 * `earlierDecisions` reads back exactly these decisions; undecided turns have a strategy label only.
 */
export function handTrajectory(seed: number, options: HandTrajectoryOptions): HandTrajectory {
  const rng = Rng.fromSeed(seed, 'hand-trajectory');
  const words = options.words ?? 4;
  const turns: Turn[] = [{ role: 'user', text: sentence(rng, words), events: [] }];
  const decisions: HandDecision[] = [];
  for (let a = 0; a < options.agentTurns; a++) {
    const mask = STRATEGIES.map(() => rng.bool(0.5));
    const forced = options.actions?.[decisions.length];
    if (forced !== undefined) mask[forced] = true;
    if (mask.filter(Boolean).length < 2) mask[rng.int(mask.length)] = mask[rng.int(mask.length)] = true;
    const admissible = mask.flatMap((ok, i) => (ok ? [i] : []));
    const action = forced ?? rng.pick(admissible);
    const strategy = STRATEGIES[action]!;
    if (options.undecided?.includes(a)) {
      turns.push({ role: 'agent', text: sentence(rng, words), strategy, events: [] });
    } else {
      const sopState = rng.pick(SOP_STATES);
      const facts = [`customer: ${sentence(rng, 2)}`, `catalog: p-${rng.int(90)} ${sentence(rng, 2)}`];
      decisions.push({
        turn: turns.length,
        state: decisionStateText(sopState, facts),
        action,
        mask,
        sopState,
        facts,
      });
      turns.push({
        role: 'agent',
        text: sentence(rng, words),
        strategy,
        sop_state: sopState,
        facts,
        events: [],
      });
    }
    turns.push({ role: 'user', text: sentence(rng, words), events: [] });
  }
  return { turns, decisions };
}

/** The agent state a rollout saw before decision `k` of `t` (everything said before that turn). */
export function stateBefore(t: HandTrajectory, k: number): AgentState {
  const d = t.decisions[k]!;
  return {
    sessionId: 'hand',
    domain: 'shop',
    turns: t.turns.slice(0, d.turn),
    sopState: d.sopState,
    admissible: d.mask,
    facts: d.facts,
  };
}

/**
 * A scored rollout batch of hand-built trajectories: one group per entry of `groups`, one trajectory
 * per reward, `agentTurns` decided agent turns each (no behaviour or reference log-probs yet).
 */
export function handBatch(
  groups: readonly (readonly number[])[],
  options: { agentTurns?: number; seed?: number } = {},
): RolloutBatch {
  const trajectories: TrajectoryRecord[] = [];
  const decisions: DecisionRecord[] = [];
  groups.forEach((rewards, group) => {
    for (const reward of rewards) {
      const index = trajectories.length;
      const t = handTrajectory((options.seed ?? 0) * 1000 + index, { agentTurns: options.agentTurns ?? 3 });
      trajectories.push({
        scenario: `scenario-${group}`,
        group,
        session: {
          session_id: `s-${index}`,
          domain: 'shop',
          goal: { type: 'purchase', slots: {} },
          turns: t.turns,
          outcome: { status: 'success', converted: false, resolved: true, escalated: false, order_value: 0 },
        },
        reward,
        rewardParts: {},
        policyVersion: 0,
      });
      for (const d of t.decisions)
        decisions.push({
          trajectory: index,
          turn: d.turn,
          state: d.state,
          mask: [...d.mask],
          action: d.action,
          behaviorLogProb: null,
          refLogProb: null,
          reward: null,
        });
    }
  });
  return { strategies: [...STRATEGIES], trajectories, decisions };
}

/** The trajectory as one training row for `encoder`. */
export function rowOf(encoder: ExpertEncoder, t: HandTrajectory): RowInput {
  const encoded = encoder.encode(t.turns, t.decisions);
  return {
    encoded,
    masks: encoded.decisions.map((k) => t.decisions[k]!.mask),
    actions: encoded.decisions.map((k) => t.decisions[k]!.action),
  };
}

/** A decoder small enough for tests (2 layers, width 16). */
export const TINY_MODEL: ExpertModelConfigInput = {
  hiddenSize: 16,
  layers: 2,
  heads: 2,
  kvHeads: 1,
  intermediateSize: 32,
  maxSeqLen: 256,
};

let tokenizer: Promise<Tokenizer> | undefined;
/** The shipped shop tokenizer, loaded once per test file. */
export function shopTokenizer(): Promise<Tokenizer> {
  tokenizer ??= loadDefaultTokenizer();
  return tokenizer;
}

/**
 * A tiny random agent. `scale` multiplies the initial weights (std 0.02) so that log-probs move
 * visibly with the context; the norms' ones stay ones.
 */
export async function tinyAgent(
  seed: number,
  options: { scale?: number; model?: ExpertModelConfigInput } = {},
): Promise<ExpertAgent> {
  const agent = ExpertAgent.random(options.model ?? TINY_MODEL, await shopTokenizer(), STRATEGIES, seed, {
    intraOpThreads: 1,
  });
  scaleWeights(agent.store, options.scale ?? 1);
  return agent;
}

/** Multiplies every weight but the norms' scales by `scale`, in place. */
export function scaleWeights(store: ParamStore, scale: number): void {
  for (const [name, t] of store.entries()) {
    if (name.endsWith('norm.weight')) continue;
    const d = t.data as Float32Array | Float64Array;
    for (let i = 0; i < d.length; i++) d[i]! *= scale;
  }
}

/** The SFT / GOPO step settings of the learning tests: plain AdamW, no decay, one ORT thread. */
export const TEST_TRAINER = {
  lr: 1e-2,
  clipNorm: 1,
  optimizer: { kind: 'adamw', weightDecay: 0 },
  intraOpThreads: 1,
} as const;

/** Every parameter of a store, copied (for before / after comparisons). */
export function snapshotWeights(agent: ExpertAgent): Map<string, Float32Array> {
  return new Map([...agent.store.entries()].map(([k, v]) => [k, Float32Array.from(v.data as Float32Array)]));
}
