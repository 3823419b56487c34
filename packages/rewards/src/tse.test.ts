import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultMetricsConfig, type TseConfig, TseConfigSchema } from './config.js';
import { agent, session, user } from './testing/sessions.js';
import { milestoneTurns, tseScore } from './tse.js';

const cfg = defaultMetricsConfig().tse;
const L = Math.log2;

describe('TSE golden cases (weights purchase 1,1,2,4)', () => {
  it('counts user turns up to the turn of the first appearance', () => {
    const s = session('purchase', [
      user(['need_stated']),
      agent('recommend', { events: ['item_shown'] }),
      user(['item_accepted']),
      agent('confirm_purchase', { events: ['purchased'] }),
    ]);
    expect(milestoneTurns(s, cfg.milestones.purchase)).toEqual(Int32Array.from([1, 1, 2, 2]));
    // (1/log2 2 + 1/log2 2 + 2/log2 3 + 4/log2 3) / 8 = (2 + 6/1.58496) / 8 = 0.723197
    expect(tseScore(s, cfg)).toBeCloseTo((1 + 1 + 2 / L(3) + 4 / L(3)) / 8, 12);
    expect(tseScore(s, cfg)).toBeCloseTo(0.7231973, 6);
  });

  it('an event before any user turn counts as t = 1, and only its first appearance counts', () => {
    const s = session('purchase', [
      agent('greet', { events: ['item_shown'] }),
      user([]),
      user([]),
      agent('recommend', { events: ['item_shown', 'need_stated'] }),
    ]);
    // item_shown t=1 -> 1; need_stated t=2 -> 1/log2 3
    expect(tseScore(s, cfg)).toBeCloseTo((1 + 1 / L(3)) / 8, 12);
  });

  it('reaches nothing after user_left or handoff, even later on the same turn', () => {
    const s = session('purchase', [
      user(['need_stated']),
      agent('recommend', { events: ['item_shown', 'handoff', 'item_accepted'] }),
      user(['purchased']),
    ]);
    expect(milestoneTurns(s, cfg.milestones.purchase)).toEqual(Int32Array.from([1, 1, 0, 0]));
    expect(tseScore(s, cfg)).toBeCloseTo(2 / 8, 12);
    const left = session('return_refund', [
      user(['order_found', 'user_left']),
      agent('process_return', { events: ['return_started'] }),
    ]);
    expect(tseScore(left, cfg)).toBeCloseTo(1 / 7, 12);
  });

  it('an empty session scores 0; a goal type without milestones has no TSE', () => {
    expect(tseScore(session('order_status', []), cfg)).toBe(0);
    const none: TseConfig = TseConfigSchema.parse({ milestones: { complaint: [] } });
    expect(tseScore(session('complaint', [user(['need_stated'])]), none)).toBeNaN();
    expect(tseScore(session('purchase', [user(['need_stated'])]), none)).toBeCloseTo(1 / 8, 12);
  });

  it('custom weights come from the config; duplicate milestones are refused', () => {
    const c = TseConfigSchema.parse({ milestones: { purchase: [{ event: 'purchased', weight: 3 }] } });
    const s = session('purchase', [user([]), user([]), user([]), agent('x', { events: ['purchased'] })]);
    expect(tseScore(s, c)).toBeCloseTo(1 / L(4), 12); // 3 / log2(1 + 3) / 3
    const bad = TseConfigSchema.safeParse({
      milestones: {
        purchase: [
          { event: 'purchased', weight: 1 },
          { event: 'purchased', weight: 2 },
        ],
      },
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['milestones', 'purchase', 1, 'event']);
  });
});

const EVENTS = [
  'need_stated',
  'item_shown',
  'item_accepted',
  'purchased',
  'user_left',
  'coupon_applied',
] as const;
const turnArb = fc.record({
  role: fc.constantFrom('user' as const, 'agent' as const),
  events: fc.array(fc.constantFrom(...EVENTS), { maxLength: 3 }),
});
const toSession = (turns: { role: 'user' | 'agent'; events: (typeof EVENTS)[number][] }[]) =>
  session(
    'purchase',
    turns.map((t) => (t.role === 'user' ? user(t.events) : agent('recommend', { events: t.events }))),
  );

describe('TSE properties', () => {
  it('lies in [0, 1]', () => {
    fc.assert(
      fc.property(fc.array(turnArb, { maxLength: 12 }), (turns) => {
        const v = tseScore(toSession(turns), cfg);
        return v >= 0 && v <= 1;
      }),
    );
  });

  it('an extra user turn at the start never raises it; an extra milestone event at the end never lowers it', () => {
    fc.assert(
      fc.property(fc.array(turnArb, { maxLength: 12 }), fc.constantFrom(...EVENTS), (turns, ev) => {
        const base = tseScore(toSession(turns), cfg);
        const delayed = tseScore(toSession([{ role: 'user', events: [] }, ...turns]), cfg);
        const more = tseScore(toSession([...turns, { role: 'agent', events: [ev] }]), cfg);
        return delayed <= base + 1e-12 && more >= base - 1e-12;
      }),
    );
  });
});
