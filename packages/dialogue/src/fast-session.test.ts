import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSession, safeParseSession } from './fast-session.js';
import { EVENT_TYPES, GOAL_TYPES, OUTCOME_STATUSES, SessionSchema } from './log-schema.js';
import { SHOP_STRATEGIES } from './strategies.js';

const strategy = fc.oneof(fc.constantFrom(...SHOP_STRATEGIES), fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/));
const extras = fc.dictionary(
  fc.string({ maxLength: 6 }).map((k) => `x_${k}`),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 2 },
);
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
// Optional fields are sometimes present with the value undefined (possible from JS, not from JSON).
const maybeUndefined = <T>(a: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 5, arbitrary: a }, fc.constant(undefined));

function loose<T extends Record<string, fc.Arbitrary<unknown>>>(model: T, required: (keyof T)[]) {
  return fc
    .tuple(fc.record(model, { requiredKeys: required as never }), extras)
    .map(([known, extra]) => ({ ...extra, ...known }));
}

const event = loose(
  {
    type: fc.constantFrom(...EVENT_TYPES),
    item_id: maybeUndefined(fc.string({ maxLength: 5 })),
    order_id: maybeUndefined(fc.string({ maxLength: 5 })),
    amount: maybeUndefined(finite),
  },
  ['type'],
);
const events = fc.array(event, { maxLength: 3 });
const slotValue = fc.oneof(
  fc.string({ maxLength: 5 }),
  finite,
  fc.boolean(),
  fc.array(fc.oneof(fc.string({ maxLength: 5 }), finite), { maxLength: 3 }),
);
const userTurn = loose({ role: fc.constant('user'), text: fc.string({ maxLength: 8 }), events }, [
  'role',
  'text',
]);
const agentTurn = loose(
  {
    role: fc.constant('agent'),
    text: fc.string({ maxLength: 8 }),
    strategy: maybeUndefined(strategy),
    ranking: maybeUndefined(fc.array(strategy, { maxLength: 4 })),
    reference: maybeUndefined(
      loose({ strategy, acceptable: fc.array(strategy, { maxLength: 3 }) }, ['strategy']),
    ),
    events,
    sop_violation: maybeUndefined(fc.boolean()),
  },
  ['role', 'text'],
);
const validSession = loose(
  {
    session_id: fc.string({ minLength: 1, maxLength: 6 }),
    domain: fc.string({ minLength: 1, maxLength: 6 }),
    goal: loose(
      {
        type: fc.constantFrom(...GOAL_TYPES),
        slots: fc.dictionary(fc.string({ maxLength: 6 }), slotValue, { maxKeys: 3 }),
      },
      ['type'],
    ),
    turns: fc.array(fc.oneof(userTurn, agentTurn), { maxLength: 5 }),
    outcome: loose(
      {
        status: fc.constantFrom(...OUTCOME_STATUSES),
        converted: fc.boolean(),
        resolved: fc.boolean(),
        csat: maybeUndefined(fc.double({ min: 1, max: 5, noNaN: true })),
        escalated: fc.boolean(),
        order_value: fc.double({ min: 0, max: 1e9, noNaN: true }),
      },
      ['status'],
    ),
  },
  ['session_id', 'goal', 'turns', 'outcome'],
);

/** Every path to a value inside a JSON-like tree (the root excluded). */
function paths(x: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  if (Array.isArray(x))
    x.forEach((v, i) => {
      out.push([...prefix, i]);
      paths(v, [...prefix, i], out);
    });
  else if (typeof x === 'object' && x !== null)
    for (const [k, v] of Object.entries(x)) {
      out.push([...prefix, k]);
      paths(v, [...prefix, k], out);
    }
  return out;
}

const BAD = fc.oneof(
  fc.constantFrom(
    null,
    undefined,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    -1,
    -0,
    0,
    0.5,
    5.0001,
    6,
    '',
    'x',
    'Bad Name',
    'a-b',
    '9lives',
    'recommend\n',
    true,
    false,
    [],
    {},
    [1],
    ['x'],
    ['Bad'],
    [null],
    { type: 'bogus' },
    { type: 'handoff' },
    { role: 'user', text: 'hi' },
    { role: 'bot', text: 'hi' },
    'purchase',
    'user',
    'agent',
    'success',
    'recommend',
    Object.create(null),
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

/** A valid session with one field replaced by a bad value, deleted, or given an odd sibling key. */
const mutatedSession = fc
  .tuple(validSession, fc.nat(), fc.constantFrom('set', 'delete', 'proto'), BAD)
  .map(([generated, pick, op, bad]) => {
    const s = structuredCloneLoose(generated);
    const all = paths(s);
    const p = all.length === 0 ? [] : all[pick % all.length]!;
    if (p.length === 0) return bad;
    let parent = s as Record<string | number, unknown>;
    for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const key = p[p.length - 1]!;
    if (op === 'delete') delete parent[key];
    else if (op === 'proto' && typeof parent === 'object' && !Array.isArray(parent))
      Object.defineProperty(parent, '__proto__', { value: bad, enumerable: true, writable: true });
    else parent[key] = bad;
    return s as unknown;
  });

/** The contract: same verdict, deep-equal data, the same issues. */
function expectSameAsZod(input: unknown) {
  const expected = SessionSchema.safeParse(structuredCloneLoose(input));
  const got = safeParseSession(structuredCloneLoose(input));
  expect(got.success).toBe(expected.success);
  if (expected.success) expect(got.data).toStrictEqual(expected.data);
  else expect(got.error!.issues).toStrictEqual(expected.error.issues);
}

// structuredClone drops own "__proto__" keys and null prototypes' identity is kept; a JSON-ish
// deep copy that keeps both.
function structuredCloneLoose(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(structuredCloneLoose);
  if (typeof x !== 'object' || x === null) return x;
  const out = Object.create(Object.getPrototypeOf(x)) as Record<string, unknown>;
  for (const k of Object.keys(x))
    Object.defineProperty(out, k, {
      value: structuredCloneLoose((x as Record<string, unknown>)[k]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return out;
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
