import { type AgentState, decisionStateText, type Turn } from '@gopo/dialogue';
import type { ChatMessage } from '@gopo/lm';

/** How much of the dialogue the CS Agent reads (its reply rests on the facts and the last turns). */
export const DEFAULT_REPLY_HISTORY_TURNS = 4;

/** How a prompt treats strategies. */
export interface ReplyPromptOptions {
  /**
   * Keep the strategy tokens of earlier agent turns (default true). A flat agent (the flat PPO
   * baseline) has no strategy layer: its prompts carry no strategy anywhere, neither in the history
   * nor as the command before the reply.
   */
  readonly strategyTokens?: boolean;
}

/**
 * The CS Agent's prompt as chat messages: the last `maxHistoryTurns` turns of the dialogue, then a
 * system message with the SOP state and the facts the reply may use (ids, prices, order records),
 * after which the template puts the commanded strategy token and the agent header. One definition
 * for every LM reply backend, the reply model's SFT examples and its RL updates.
 */
export function replyPromptMessages(
  turns: readonly Turn[],
  sopState: string,
  facts: readonly string[],
  maxHistoryTurns = DEFAULT_REPLY_HISTORY_TURNS,
  options: ReplyPromptOptions = {},
): ChatMessage[] {
  const keep = options.strategyTokens ?? true;
  const history: ChatMessage[] = turns
    .slice(Math.max(0, turns.length - maxHistoryTurns))
    .map((t) =>
      t.role === 'user'
        ? { role: 'user', content: t.text }
        : { role: 'agent', content: t.text, ...(keep && t.strategy ? { strategy: t.strategy } : {}) },
    );
  return [...history, { role: 'system', content: decisionStateText(sopState, facts) }];
}

/** replyPromptMessages of an agent state. */
export function replyPromptFor(
  state: AgentState,
  maxHistoryTurns = DEFAULT_REPLY_HISTORY_TURNS,
  options: ReplyPromptOptions = {},
): ChatMessage[] {
  return replyPromptMessages(state.turns, state.sopState, state.facts, maxHistoryTurns, options);
}
