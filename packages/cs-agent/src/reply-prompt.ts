import { type AgentState, decisionStateText, type Turn } from '@gopo/dialogue';
import type { ChatMessage } from '@gopo/lm';

/** How much of the dialogue the CS Agent reads (its reply rests on the facts and the last turns). */
export const DEFAULT_REPLY_HISTORY_TURNS = 4;

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
): ChatMessage[] {
  const history: ChatMessage[] = turns
    .slice(Math.max(0, turns.length - maxHistoryTurns))
    .map((t) =>
      t.role === 'user'
        ? { role: 'user', content: t.text }
        : { role: 'agent', content: t.text, ...(t.strategy ? { strategy: t.strategy } : {}) },
    );
  return [...history, { role: 'system', content: decisionStateText(sopState, facts) }];
}

/** replyPromptMessages of an agent state. */
export function replyPromptFor(
  state: AgentState,
  maxHistoryTurns = DEFAULT_REPLY_HISTORY_TURNS,
): ChatMessage[] {
  return replyPromptMessages(state.turns, state.sopState, state.facts, maxHistoryTurns);
}
