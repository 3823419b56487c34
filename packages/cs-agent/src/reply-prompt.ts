import { type AgentState, decisionStateText, type Turn } from '@gopo/dialogue';
import type { ChatMessage } from '@gopo/lm';

/**
 * The CS Agent's prompt as chat messages: the dialogue so far, then a system message with the SOP
 * state and the facts the reply may use (ids, prices, order records), after which the template puts
 * the commanded strategy token and the agent header. One definition for every LM reply backend and
 * for the reply model's SFT examples.
 */
export function replyPromptMessages(
  turns: readonly Turn[],
  sopState: string,
  facts: readonly string[],
): ChatMessage[] {
  const history: ChatMessage[] = turns.map((t) =>
    t.role === 'user'
      ? { role: 'user', content: t.text }
      : { role: 'agent', content: t.text, ...(t.strategy ? { strategy: t.strategy } : {}) },
  );
  return [...history, { role: 'system', content: decisionStateText(sopState, facts) }];
}

/** replyPromptMessages of an agent state. */
export function replyPromptFor(state: AgentState): ChatMessage[] {
  return replyPromptMessages(state.turns, state.sopState, state.facts);
}
