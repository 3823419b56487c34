import fc from 'fast-check';
import { EVENT_TYPES, GOAL_TYPES, OUTCOME_STATUSES } from './log-schema.js';
import { SHOP_STRATEGIES } from './strategies.js';

/*
 * fast-check arbitraries for Mgshop-style sessions, shared by the tests of the log readers (the
 * fast validator here, the WebAssembly scanner in packages/rewards). Source-only: not built.
 */

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
    detected_strategy: maybeUndefined(fc.oneof(strategy, fc.string({ maxLength: 4 }), fc.constant(null))),
    sop_state: maybeUndefined(fc.string({ maxLength: 6 })),
    facts: maybeUndefined(fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 })),
  },
  ['role', 'text'],
);
export const validSession = loose(
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
export function paths(x: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
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

export const BAD = fc.oneof(
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
export const mutatedSession = fc
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

// structuredClone drops own "__proto__" keys and null prototypes' identity is kept; a JSON-ish
// deep copy that keeps both.
export function structuredCloneLoose(x: unknown): unknown {
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
