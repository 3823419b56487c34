import { type Session, SessionSchema } from '@gopo/dialogue';
import { describe, expect, it } from 'vitest';
import { extractReplyExamples, ReplyExampleConfigSchema } from './reply-examples.js';

const session = (id: string, status: 'success' | 'failure'): Session =>
  SessionSchema.parse({
    session_id: id,
    goal: { type: 'purchase', slots: {} },
    turns: [
      { role: 'user', text: 'hi' },
      { role: 'agent', text: 'Hello! How can I help?', strategy: 'greet' },
      { role: 'user', text: 'headphones please' },
      { role: 'agent', text: 'untagged reply' },
      { role: 'agent', text: 'Try the P-17 for 59.', strategy: 'recommend', detected_strategy: 'compare' },
    ],
    outcome: { status },
  });

describe('extractReplyExamples', () => {
  it('makes one example per strategy-tagged agent turn with its preceding history', () => {
    const ex = extractReplyExamples(
      [session('a', 'success')],
      ReplyExampleConfigSchema.parse({ maxHistoryTurns: 2 }),
    );
    expect(ex.map((e) => [e.turnIndex, e.strategy, e.history.length])).toEqual([
      [1, 'greet', 1],
      [4, 'recommend', 2],
    ]);
    expect(ex[1]!.history.map((h) => h.text)).toEqual(['headphones please', 'untagged reply']);
  });

  it('filters to successful sessions and adherent replies on request', () => {
    const cfg = ReplyExampleConfigSchema.parse({ successfulOnly: true, requireAdherence: true });
    const ex = extractReplyExamples([session('a', 'success'), session('b', 'failure')], cfg);
    expect(ex.map((e) => `${e.sessionId}:${e.strategy}`)).toEqual(['a:greet']);
  });
});
