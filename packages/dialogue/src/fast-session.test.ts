import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSession, safeParseSession } from './fast-session.js';
import { SessionSchema } from './log-schema.js';
import { mutatedSession, structuredCloneLoose, validSession } from './testing.js';

/** The contract: same verdict, deep-equal data, the same issues. */
function expectSameAsZod(input: unknown) {
  const expected = SessionSchema.safeParse(structuredCloneLoose(input));
  const got = safeParseSession(structuredCloneLoose(input));
  expect(got.success).toBe(expected.success);
  if (expected.success) expect(got.data).toStrictEqual(expected.data);
  else expect(got.error!.issues).toStrictEqual(expected.error.issues);
}

describe('safeParseSession', () => {
  it('matches SessionSchema on valid sessions: same data, defaults applied, unknown fields kept', () => {
    fc.assert(
      fc.property(validSession, (s) => {
        expect(SessionSchema.safeParse(structuredCloneLoose(s)).success).toBe(true);
        expectSameAsZod(s);
      }),
      { numRuns: 400 },
    );
  });

  it('matches SessionSchema on mutated sessions: same verdict and the same issues and paths', () => {
    let rejected = 0;
    fc.assert(
      fc.property(mutatedSession, (s) => {
        if (!SessionSchema.safeParse(structuredCloneLoose(s)).success) rejected++;
        expectSameAsZod(s);
      }),
      { numRuns: 1500 },
    );
    // Both verdicts must be well represented (many mutations hit free-form fields and stay valid).
    expect(rejected).toBeGreaterThan(250);
    expect(rejected).toBeLessThan(1250);
  });

  it('matches SessionSchema after JSON round trips (the way logs arrive)', () => {
    fc.assert(
      fc.property(fc.oneof(validSession, mutatedSession), (s) => {
        const text = JSON.stringify(s);
        if (text === undefined) return;
        const expected = SessionSchema.safeParse(JSON.parse(text));
        const got = safeParseSession(JSON.parse(text));
        expect(got.success).toBe(expected.success);
        if (expected.success) expect(got.data).toStrictEqual(expected.data);
        else expect(got.error!.issues).toStrictEqual(expected.error.issues);
      }),
      { numRuns: 500 },
    );
  });

  it('fills every default SessionSchema declares', () => {
    const raw = {
      session_id: 's',
      goal: { type: 'purchase' },
      turns: [
        { role: 'user', text: 'hi' },
        { role: 'agent', text: 'yo', reference: { strategy: 'greet' } },
      ],
      outcome: { status: 'success' },
    };
    const s = safeParseSession(raw);
    expect(s.success).toBe(true);
    expect(s.data).toBe(raw); // adopted, not copied
    expect(s.data).toStrictEqual({
      session_id: 's',
      domain: 'shop',
      goal: { type: 'purchase', slots: {} },
      turns: [
        { role: 'user', text: 'hi', events: [] },
        { role: 'agent', text: 'yo', reference: { strategy: 'greet', acceptable: [] }, events: [] },
      ],
      outcome: { status: 'success', converted: false, resolved: false, escalated: false, order_value: 0 },
    });
  });

  type Raw = {
    session_id: string;
    goal: unknown;
    turns: Record<string, unknown>[];
    outcome: Record<string, unknown>;
  };
  const cases: [string, (s: Raw) => void, (string | number)[]][] = [
    [
      'csat above 5',
      (s) => {
        s.outcome.csat = 5.5;
      },
      ['outcome', 'csat'],
    ],
    [
      'NaN order value',
      (s) => {
        s.outcome.order_value = Number.NaN;
      },
      ['outcome', 'order_value'],
    ],
    [
      'Infinite amount',
      (s) => {
        s.turns[0]!.events = [{ type: 'purchased', amount: Number.POSITIVE_INFINITY }];
      },
      ['turns', 0, 'events', 0, 'amount'],
    ],
    [
      'camelCase strategy',
      (s) => {
        s.turns[1]!.strategy = 'offerCoupon';
      },
      ['turns', 1, 'strategy'],
    ],
    [
      'empty session id',
      (s) => {
        s.session_id = '';
      },
      ['session_id'],
    ],
  ];
  it.each(cases)("rejects a %s with zod's message and path", (_name, mutate, path) => {
    const s: Raw = {
      session_id: 's',
      goal: { type: 'purchase' },
      turns: [
        { role: 'user', text: 'hi' },
        { role: 'agent', text: 'yo', strategy: 'greet' },
      ],
      outcome: { status: 'success', csat: 4, order_value: 3 },
    };
    mutate(s);
    const r = safeParseSession(s);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path)).toEqual([path]);
    expect(() => parseSession(s)).toThrow(r.error!.issues[0]!.message);
  });
});
