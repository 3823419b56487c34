import { describe, expect, it } from 'vitest';
import { eventActor, goalCompletionEvent, isTerminalEvent } from './events.js';
import { EVENT_TYPES, GOAL_TYPES, TERMINAL_EVENTS } from './log-schema.js';
import { DEFAULT_MILESTONES, MilestoneTableSchema } from './milestones.js';

describe('DEFAULT_MILESTONES', () => {
  it('matches DESIGN.md 4.3 for purchase and return_refund', () => {
    expect(DEFAULT_MILESTONES.purchase.map((m) => [m.event, m.weight])).toEqual([
      ['need_stated', 1],
      ['item_shown', 1],
      ['item_accepted', 2],
      ['purchased', 4],
    ]);
    expect(DEFAULT_MILESTONES.return_refund.map((m) => [m.event, m.weight])).toEqual([
      ['order_found', 1],
      ['return_started', 2],
      ['refund_issued', 4],
    ]);
  });

  it('ends every goal type with its completion event, weight 4', () => {
    for (const g of GOAL_TYPES) {
      const list = DEFAULT_MILESTONES[g];
      expect(list.at(-1)).toEqual({ event: goalCompletionEvent(g), weight: 4 });
      expect(MilestoneTableSchema.safeParse({ [g]: list }).success).toBe(true);
    }
  });

  it('rejects duplicate milestones with their path', () => {
    const r = MilestoneTableSchema.safeParse({
      x: [
        { event: 'purchased', weight: 1 },
        { event: 'purchased', weight: 2 },
      ],
    });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['x', 1, 'event']);
  });
});

describe('events', () => {
  it('agrees with TERMINAL_EVENTS', () => {
    expect(EVENT_TYPES.filter(isTerminalEvent)).toEqual([...TERMINAL_EVENTS]);
  });

  it('puts customer actions on user turns and service results on agent turns', () => {
    expect(eventActor('purchased')).toBe('user');
    expect(eventActor('item_shown')).toBe('agent');
    expect(eventActor('user_left')).toBe('user');
    expect(eventActor('handoff')).toBe('agent');
  });
});
