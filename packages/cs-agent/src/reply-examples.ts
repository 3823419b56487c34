import { type Session, type Turn, turnAdherent } from '@gopo/dialogue';
import { z } from 'zod';

export const ReplyExampleConfigSchema = z.object({
  maxHistoryTurns: z
    .number()
    .int()
    .min(0)
    .default(8)
    .describe('keep at most this many turns before the reply'),
  successfulOnly: z
    .boolean()
    .default(false)
    .describe('only take replies from sessions whose outcome status is success (cleaner SFT targets)'),
  requireAdherence: z
    .boolean()
    .default(false)
    .describe(
      "skip replies whose logged detected_strategy differs from their strategy (the log's adherence judge)",
    ),
});
export type ReplyExampleConfig = z.infer<typeof ReplyExampleConfigSchema>;

/** One supervised example for the CS Agent: (history, strategy) -> reply. */
export interface ReplyExample {
  readonly sessionId: string;
  readonly turnIndex: number;
  readonly history: readonly Pick<Turn, 'role' | 'text'>[];
  readonly strategy: string;
  readonly reply: string;
}

/**
 * Turns logged sessions into strategy-conditioned reply examples: every agent turn that carries a
 * strategy becomes a target, conditioned on the turns before it. Agent turns without a strategy cannot
 * teach conditioning and are skipped.
 */
export function extractReplyExamples(
  sessions: Iterable<Session>,
  config: ReplyExampleConfig,
): ReplyExample[] {
  const out: ReplyExample[] = [];
  for (const s of sessions) {
    if (config.successfulOnly && s.outcome.status !== 'success') continue;
    s.turns.forEach((turn, i) => {
      if (turn.role !== 'agent' || turn.strategy === undefined) return;
      if (config.requireAdherence && turnAdherent(turn) === false) return;
      const start = Math.max(0, i - config.maxHistoryTurns);
      out.push({
        sessionId: s.session_id,
        turnIndex: i,
        history: s.turns.slice(start, i).map((t) => ({ role: t.role, text: t.text })),
        strategy: turn.strategy,
        reply: turn.text,
      });
    });
  }
  return out;
}
