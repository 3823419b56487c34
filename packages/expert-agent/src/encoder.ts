/**
 * How the Expert Agent reads a dialogue. One trajectory is one token sequence in the chat template:
 *
 *   <|bos|><|user|>…<|end|><|system|>sop: discovery\ncustomer: …<|end|><|strategy:clarify|><|agent|>…<|end|>…
 *
 * Before every decided agent turn a system message carries the decision state (SOP state and facts,
 * `decisionStateText`), and the strategy token follows it. The decision is the next-token prediction
 * at that system message's end-of-turn token, restricted to the strategy tokens: so one causal pass
 * over a whole trajectory scores every decision exactly as the rollout scored it from the prompt
 * that ended there, and only those positions carry loss (user turns, facts, replies and padding never
 * do).
 */
import { UsageError } from '@gopo/core';
import { type DecisionRecord, decisionStateText, type Turn } from '@gopo/dialogue';
import type { ChatTemplate } from '@gopo/lm';

/** A trajectory as token ids, with where its decisions are read and what they were. */
export interface EncodedTrajectory {
  readonly ids: readonly number[];
  /** Per decision: the position whose next-token logits score the strategy (the state block's end). */
  readonly positions: readonly number[];
  /** Per decision: the index of the decision record it came from (decisions past the window are dropped). */
  readonly decisions: readonly number[];
}

/** A decision as the encoder needs it: which agent turn, the state block before it, its strategy. */
export type EncodableDecision = Pick<DecisionRecord, 'turn' | 'state' | 'action'>;

export class ExpertEncoder {
  /** Token id of each strategy, in strategy-set order (the rows of the head the policy scores). */
  readonly strategyIds: readonly number[];

  constructor(
    readonly template: ChatTemplate,
    readonly strategies: readonly string[],
    /** Longest sequence the model reads; see `prompt` and `encode` for what happens beyond it. */
    readonly maxSeqLen: number,
  ) {
    if (template.config.strategyPlacement !== 'before_role')
      throw new UsageError(
        'the Expert Agent needs strategyPlacement "before_role": the strategy token must follow the state block',
      );
    this.strategyIds = strategies.map((s) => template.strategyId(s));
  }

  private turnIds(turn: Turn, strategy: string | undefined): number[] {
    return turn.role === 'user'
      ? this.template.messageIds({ role: 'user', content: turn.text })
      : this.template.messageIds({ role: 'agent', content: turn.text, strategy });
  }

  private stateIds(state: string): number[] {
    return this.template.messageIds({ role: 'system', content: state });
  }

  /** Turns in order, a state block before each decided agent turn, uncut. */
  private render(turns: readonly Turn[], decisions: readonly EncodableDecision[]): EncodedTrajectory {
    const byTurn = new Map(decisions.map((d, i) => [d.turn, i]));
    const ids = [...this.template.prefixIds];
    const positions: number[] = [];
    const kept: number[] = [];
    turns.forEach((turn, i) => {
      const k = byTurn.get(i);
      let strategy: string | undefined;
      if (k !== undefined) {
        ids.push(...this.stateIds(decisions[k]!.state));
        positions.push(ids.length - 1);
        kept.push(k);
        strategy = this.strategies[decisions[k]!.action];
      } else if (turn.role === 'agent' && turn.strategy && this.strategies.includes(turn.strategy)) {
        // Agent turns without a decision keep their logged strategy token when the set has it.
        strategy = turn.strategy;
      }
      ids.push(...this.turnIds(turn, strategy));
    });
    return { ids, positions, decisions: kept };
  }

  /**
   * The whole trajectory as one sequence. Decisions whose position falls at or past `maxSeqLen` are
   * dropped (the sequence is cut there): a rollout read them from a left-truncated prompt, which a
   * single pass cannot reproduce, so they carry no loss.
   */
  encode(turns: readonly Turn[], decisions: readonly EncodableDecision[]): EncodedTrajectory {
    const r = this.render(turns, decisions);
    if (r.ids.length <= this.maxSeqLen) return r;
    const keep = r.positions.filter((p) => p < this.maxSeqLen).length;
    return {
      ids: r.ids.slice(0, this.maxSeqLen),
      positions: r.positions.slice(0, keep),
      decisions: r.decisions.slice(0, keep),
    };
  }

  /**
   * The prompt of a decision now: the dialogue so far (with the state blocks of its earlier
   * decisions) and the current state block; the decision is read at its last token. A prompt longer
   * than `maxSeqLen` keeps its last `maxSeqLen` tokens.
   */
  prompt(
    turns: readonly Turn[],
    earlier: readonly EncodableDecision[],
    sopState: string,
    facts: readonly string[],
  ): number[] {
    const ids = [...this.render(turns, earlier).ids, ...this.stateIds(decisionStateText(sopState, facts))];
    return ids.length > this.maxSeqLen ? ids.slice(ids.length - this.maxSeqLen) : ids;
  }
}
