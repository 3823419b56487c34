import type { z } from 'zod';
import { EVENT_TYPES, GOAL_TYPES, OUTCOME_STATUSES, type Session, SessionSchema } from './log-schema.js';

/*
 * A hand-written structural check for SessionSchema, for the hot path of reading logs (`gopo eval`
 * scores a million sessions; zod's generic walk costs as much as JSON.parse). It accepts a subset of
 * what SessionSchema accepts and applies the same defaults in place; anything it does not accept goes
 * to SessionSchema itself, so results, error messages and field paths are zod's. It must therefore
 * never accept a value SessionSchema rejects, and keep in step with log-schema.ts: fast-session.test.ts
 * compares the two on generated valid and mutated sessions.
 */

const EVENT_TYPE_SET: ReadonlySet<unknown> = new Set(EVENT_TYPES);
const GOAL_TYPE_SET: ReadonlySet<unknown> = new Set(GOAL_TYPES);
const OUTCOME_STATUS_SET: ReadonlySet<unknown> = new Set(OUTCOME_STATUSES);
const hasOwn = Object.prototype.hasOwnProperty;

type Obj = Record<string, unknown>;

// Stricter than zod's object check so that the adopted value is what zod would build: zod's output
// objects are plain ({}), and an own "__proto__" key (JSON.parse makes one) is stripped from them.
function isObj(x: unknown): x is Obj {
  return (
    typeof x === 'object' &&
    x !== null &&
    Object.getPrototypeOf(x) === Object.prototype &&
    !hasOwn.call(x, '__proto__')
  );
}

// zod's output arrays are plain arrays.
function isArray(x: unknown): x is unknown[] {
  return Array.isArray(x) && Object.getPrototypeOf(x) === Array.prototype;
}

function isNonEmptyString(x: unknown): boolean {
  return typeof x === 'string' && x.length > 0;
}

function isFiniteNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** StrategyNameSchema's /^[a-z][a-z0-9_]*$/ without the regex engine. */
function isStrategyName(x: unknown): boolean {
  if (typeof x !== 'string' || x.length === 0) return false;
  let c = x.charCodeAt(0);
  if (c < 97 || c > 122) return false;
  for (let i = 1; i < x.length; i++) {
    c = x.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95)) return false;
  }
  return true;
}

function isStringList(x: unknown): boolean {
  if (!isArray(x)) return false;
  for (let i = 0; i < x.length; i++) if (typeof x[i] !== 'string') return false;
  return true;
}

function isStrategyList(x: unknown): boolean {
  if (!isArray(x)) return false;
  for (let i = 0; i < x.length; i++) if (!isStrategyName(x[i])) return false;
  return true;
}

function isEvent(e: unknown): boolean {
  if (!isObj(e) || !EVENT_TYPE_SET.has(e.type)) return false;
  const item = e.item_id;
  const order = e.order_id;
  const amount = e.amount;
  return (
    (item === undefined || typeof item === 'string') &&
    (order === undefined || typeof order === 'string') &&
    (amount === undefined || isFiniteNumber(amount))
  );
}

/** Checks `o.events` (default []). */
function checkEvents(o: Obj): boolean {
  const events = o.events;
  if (events === undefined) {
    o.events = [];
    return true;
  }
  if (!isArray(events)) return false;
  for (let i = 0; i < events.length; i++) if (!isEvent(events[i])) return false;
  return true;
}

function isSlotValue(v: unknown): boolean {
  if (typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (!isArray(v)) return false;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'string' && !isFiniteNumber(x)) return false;
  }
  return true;
}

/** z.record(z.string(), SlotValueSchema): a plain object without symbol or inherited keys. */
function isSlots(s: unknown): boolean {
  if (!isObj(s)) return false;
  for (const k in s) if (!hasOwn.call(s, k) || !isSlotValue(s[k])) return false;
  return Object.getOwnPropertySymbols(s).length === 0;
}

function checkGoal(g: unknown): boolean {
  if (!isObj(g) || !GOAL_TYPE_SET.has(g.type)) return false;
  if (g.slots === undefined) {
    g.slots = {};
    return true;
  }
  return isSlots(g.slots);
}

function checkReference(r: unknown): boolean {
  if (!isObj(r) || !isStrategyName(r.strategy)) return false;
  if (r.acceptable === undefined) {
    r.acceptable = [];
    return true;
  }
  return isStrategyList(r.acceptable);
}

function checkTurn(t: unknown): boolean {
  if (!isObj(t) || typeof t.text !== 'string') return false;
  const role = t.role;
  if (role === 'user') return checkEvents(t);
  if (role !== 'agent') return false;
  const strategy = t.strategy;
  const ranking = t.ranking;
  const reference = t.reference;
  const violation = t.sop_violation;
  const detected = t.detected_strategy;
  const state = t.sop_state;
  return (
    (strategy === undefined || isStrategyName(strategy)) &&
    (ranking === undefined || isStrategyList(ranking)) &&
    (reference === undefined || checkReference(reference)) &&
    (violation === undefined || typeof violation === 'boolean') &&
    (detected === undefined || detected === null || typeof detected === 'string') &&
    (state === undefined || typeof state === 'string') &&
    (t.facts === undefined || isStringList(t.facts)) &&
    checkEvents(t)
  );
}

/** Checks `o[key]` as z.boolean().default(false). */
function checkFlag(o: Obj, key: string): boolean {
  const v = o[key];
  if (v === undefined) {
    o[key] = false;
    return true;
  }
  return typeof v === 'boolean';
}

function checkOutcome(o: unknown): boolean {
  if (!isObj(o) || !OUTCOME_STATUS_SET.has(o.status)) return false;
  if (!checkFlag(o, 'converted') || !checkFlag(o, 'resolved') || !checkFlag(o, 'escalated')) return false;
  const csat = o.csat;
  if (csat !== undefined && !(isFiniteNumber(csat) && csat >= 1 && csat <= 5)) return false;
  const value = o.order_value;
  if (value === undefined) o.order_value = 0;
  else if (!(isFiniteNumber(value) && value >= 0)) return false;
  return true;
}

/**
 * True when `raw` is a session SessionSchema accepts, with its defaults now written into it. On
 * false, `raw` may already hold some of those defaults; SessionSchema reads them as it would have
 * filled them, so its verdict and its issues are unchanged.
 */
function adoptSession(raw: unknown): raw is Session {
  if (!isObj(raw) || !isNonEmptyString(raw.session_id)) return false;
  const domain = raw.domain;
  if (domain === undefined) raw.domain = 'shop';
  else if (!isNonEmptyString(domain)) return false;
  if (!checkGoal(raw.goal)) return false;
  const turns = raw.turns;
  if (!isArray(turns)) return false;
  for (let i = 0; i < turns.length; i++) if (!checkTurn(turns[i])) return false;
  return checkOutcome(raw.outcome);
}

/**
 * `SessionSchema.safeParse(raw)`, about as fast as a hand-written check for valid sessions: a valid
 * `raw` is adopted, not copied (SessionSchema's defaults are written into it and it is returned as
 * `data`), so pass a value you own, such as JSON.parse's result. The result deep-equals
 * SessionSchema's; unknown fields are kept. An invalid `raw` gets SessionSchema's own error.
 */
export function safeParseSession(raw: unknown): z.ZodSafeParseResult<Session> {
  if (adoptSession(raw)) return { success: true, data: raw };
  return SessionSchema.safeParse(raw);
}

/** `SessionSchema.parse(raw)` with the fast path of safeParseSession (a valid `raw` is adopted). */
export function parseSession(raw: unknown): Session {
  return adoptSession(raw) ? raw : SessionSchema.parse(raw);
}
