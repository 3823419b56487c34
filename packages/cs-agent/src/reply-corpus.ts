import type { Session } from '@gopo/dialogue';
import type { SftRecord } from '@gopo/lm';
import { DEFAULT_REPLY_HISTORY_TURNS, replyPromptMessages } from './reply-prompt.js';

/**
 * SFT records for the reply model from logged sessions: one per agent turn that logs its strategy,
 * SOP state and facts (what the simulator writes), its prompt exactly as the CS Agent sees it at that
 * turn (replyPromptMessages) and the logged reply as the one agent message the loss counts
 * (`completion: last_agent_turn`). Turns without a logged state cannot be replayed and are skipped.
 * With `strategyTokens: false` no message carries a strategy: the corpus of a flat agent (the flat PPO
 * baseline) that writes the same replies from the same prompts minus the strategy command.
 */
export function replyRecords(
  sessions: Iterable<Session>,
  options: { maxHistoryTurns?: number; strategies?: readonly string[]; strategyTokens?: boolean } = {},
): SftRecord[] {
  const keep = options.strategies ? new Set(options.strategies) : null;
  const strategyTokens = options.strategyTokens ?? true;
  const out: SftRecord[] = [];
  for (const s of sessions) {
    s.turns.forEach((turn, i) => {
      if (turn.role !== 'agent' || turn.strategy === undefined || turn.sop_state === undefined) return;
      if (keep && !keep.has(turn.strategy)) return;
      const prompt = replyPromptMessages(
        s.turns.slice(0, i),
        turn.sop_state,
        turn.facts ?? [],
        options.maxHistoryTurns ?? DEFAULT_REPLY_HISTORY_TURNS,
        { strategyTokens },
      );
      const reply = strategyTokens
        ? { role: 'agent' as const, content: turn.text, strategy: turn.strategy }
        : { role: 'agent' as const, content: turn.text };
      out.push({ messages: [...prompt, reply] });
    });
  }
  return out;
}
