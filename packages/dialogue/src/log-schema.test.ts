import { describe, expect, it } from 'vitest';
import { SessionSchema } from './log-schema.js';

const example = {
  session_id: 's-0001',
  domain: 'shop',
  goal: { type: 'purchase', slots: { category: 'headphones', max_price: 80 } },
  turns: [
    { role: 'user', text: 'I need headphones under 80', events: [{ type: 'need_stated' }] },
    {
      role: 'agent',
      text: 'These ones are 59.',
      strategy: 'recommend',
      ranking: ['recommend', 'compare', 'clarify'],
      reference: { strategy: 'recommend', acceptable: ['compare'] },
      events: [{ type: 'item_shown', item_id: 'p-17' }],
    },
  ],
  outcome: {
    status: 'success',
    converted: true,
    resolved: true,
    csat: 5,
    escalated: false,
    order_value: 59.0,
  },
  extra_field: 'kept',
};

describe('SessionSchema', () => {
  it('accepts the DESIGN.md example and keeps unknown fields', () => {
    const s = SessionSchema.parse(example);
    expect(s.turns).toHaveLength(2);
    expect((s as Record<string, unknown>).extra_field).toBe('kept');
  });

  it('rejects a bad event type with its field path', () => {
    const bad = structuredClone(example);
    (bad.turns[1]!.events[0] as { type: string }).type = 'teleported';
    const r = SessionSchema.safeParse(bad);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['turns', 1, 'events', 0, 'type']);
  });

  it('rejects an unknown role and a missing outcome', () => {
    const bad = structuredClone(example) as Record<string, unknown>;
    (bad.turns as { role: string }[])[0]!.role = 'bot';
    delete bad.outcome;
    const r = SessionSchema.safeParse(bad);
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('outcome');
    expect(paths).toContain('turns.0.role');
  });
});
