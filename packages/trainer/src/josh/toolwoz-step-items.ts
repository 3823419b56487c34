/**
 * What a ToolWOZ agent step states, as the sets of Du et al.'s step rewards (DESIGN.md 4.5):
 *
 * - SV, the slot values the agent must get right in its tool calls: for every domain of the goal,
 *   `domain-arg=value` for each search constraint (`goal.domains[i].search`), each booking detail
 *   (`.book`: time, day, people, stay) and, when the goal books, the booked entity under the booking
 *   tool's id argument (`restaurant-name=...`, `train-trainID=...`): exactly the arguments of the
 *   goal's API calls (goals.ts goalApiCalls). Values are normalised as the reward compares them
 *   (lower case, apostrophes stripped, times HH:MM); unconstrained ones ("dont care") are left out.
 * - S, the requested slots the replies must provide: `domain-slot` for each slot of `.reqt` (phone,
 *   postcode, price, ...) that the goal's entity has in the database; slots the database does not
 *   hold (a booking reference) could never be stated, so they are not asked for.
 *
 * Predicted: a well-formed call `search_<d>` or `book_<d>` states `d-arg=value` for each argument it
 * gives; a well-formed reply states `d-slot` when it contains, as whole words, the database value of
 * that requested slot of an entity the agent found: a row its searches in that domain returned that
 * is the goal's entity (or, for a goal without one, that meets the goal's constraints). A malformed
 * step states nothing (the environment got the fallback reply). Each item carries the character
 * offset in the step text where its text ends, so it can be marked at the token that completes it.
 */
import { parseToolStep, TOOL_STEP_MARKERS } from '@gopo/cs-agent';
import type { ToolAgentView } from '@gopo/dialogue';
import {
  idField,
  normalizeTime,
  TIME_PARAMS,
  TOOLWOZ_DOMAINS,
  type ToolwozDb,
  type ToolwozDomain,
  type ToolwozEnv,
  type ToolwozGoal,
} from '@gopo/envs';
import { type ApiCall, isUnconstrained, normalizeValue } from '@gopo/rewards';
import { match } from 'ts-pattern';

/** The ground truth of an episode: slot values (SV) and requested slots (S), as keys. */
export interface StepTruth {
  readonly slots: readonly string[];
  readonly requests: readonly string[];
}

/** An item a step states, ending at character `end` of the step text. */
export interface StatedItem {
  readonly kind: 'slot' | 'request';
  readonly key: string;
  readonly end: number;
}

/** The SV key of an argument value, or undefined when the value constrains nothing. */
export function slotKey(domain: ToolwozDomain, arg: string, value: unknown): string | undefined {
  const v = normalizeValue(value);
  if (isUnconstrained(v)) return undefined;
  return `${domain}-${arg}=${TIME_PARAMS.has(arg) ? normalizeTime(v) : v}`;
}

export const requestKey = (domain: ToolwozDomain, slot: string): string => `${domain}-${slot}`;

/** The database value of a requested slot of a row, normalised; undefined when the row has none. */
function slotValue(row: Readonly<Record<string, unknown>> | undefined, slot: string): string | undefined {
  const v = row?.[slot];
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const n = normalizeValue(v);
  return n === '' || n === '?' ? undefined : n;
}

/** SV and S of a goal (the module comment gives the mapping). */
export function toolwozStepTruth(goal: ToolwozGoal, db: ToolwozDb): StepTruth {
  const slots = new Set<string>();
  const requests = new Set<string>();
  for (const d of goal.domains) {
    const add = (k: string, v: unknown) => {
      const key = slotKey(d.domain, k, v);
      if (key) slots.add(key);
    };
    for (const [k, v] of Object.entries(d.search)) add(k, v);
    for (const [k, v] of Object.entries(d.book ?? {})) add(k, v);
    if (d.book && d.entity) add(idField(d.domain), d.entity);
    const row = d.entity ? db.find(d.domain, d.entity) : db.search(d.domain, d.search)[0];
    for (const r of d.reqt) if (slotValue(row, r) !== undefined) requests.add(requestKey(d.domain, r));
  }
  return { slots: [...slots], requests: [...requests] };
}

const DOMAIN_OF_TOOL = /^(?:search|book)_(\w+)$/;

function toolDomain(name: string): ToolwozDomain | undefined {
  const d = DOMAIN_OF_TOOL.exec(name)?.[1];
  return TOOLWOZ_DOMAINS.find((x) => x === d);
}

/**
 * Where an argument's value ends in the call text: after `"arg": <value as JSON>`, searched from
 * `from`; the end of the text when the model wrote it some other way (escapes, spacing inside).
 */
function argumentEnd(text: string, from: number, arg: string, value: unknown): number {
  const keyAt = text.indexOf(JSON.stringify(arg), from);
  if (keyAt < 0) return text.length;
  const colon = /^\s*:\s*/.exec(text.slice(keyAt + JSON.stringify(arg).length));
  if (!colon) return text.length;
  const valueAt = keyAt + JSON.stringify(arg).length + colon[0].length;
  const json = JSON.stringify(value);
  return text.startsWith(json, valueAt) ? valueAt + json.length : text.length;
}

/**
 * The end (exclusive, in `text`) of the first whole-word occurrence of a normalised value, comparing
 * as normalizeValue does (lower case, apostrophes dropped) while keeping offsets into the raw text.
 */
export function normalizedMatchEnd(text: string, value: string): number | undefined {
  let norm = '';
  const raw: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "'" || ch === '\u2019') continue;
    norm += ch.toLowerCase();
    raw.push(i);
  }
  const esc = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`(?<![a-z0-9])${esc}(?![a-z0-9])`).exec(norm);
  if (!m || m[0].length === 0) return undefined;
  return raw[m.index + m[0].length - 1]! + 1;
}

/** What the agent's searches have found so far in a domain that the goal accepts. */
function targetRows(db: ToolwozDb, goal: ToolwozGoal, domain: ToolwozDomain, calls: readonly ApiCall[]) {
  const d = goal.domains.find((x) => x.domain === domain);
  if (!d) return [];
  const found = new Set(
    calls
      .filter((c) => c.name === `search_${domain}`)
      .flatMap((c) => (c.resultIds ?? []).map(normalizeValue)),
  );
  const accept = (id: string) =>
    d.entity
      ? normalizeValue(d.entity) === id
      : db.search(domain, { ...d.search, [idField(domain)]: id }).length > 0;
  return [...found].filter(accept).map((id) => db.find(domain, id));
}

/**
 * The items a generated step states (the module comment gives the rules). `view` is what the agent
 * saw, `calls` the API calls made before this step (ToolwozEnv.apiCalls()).
 */
export function toolwozStatedItems(
  text: string,
  ctx: {
    readonly view: ToolAgentView;
    readonly goal: ToolwozGoal;
    readonly db: ToolwozDb;
    readonly truth: StepTruth;
    readonly calls: readonly ApiCall[];
  },
): StatedItem[] {
  const parsed = parseToolStep(text, ctx.view);
  if (!parsed.ok) return [];
  return match(parsed.step.action)
    .with({ kind: 'tool_call' }, ({ call }): StatedItem[] => {
      const domain = toolDomain(call.name);
      if (!domain) return [];
      const from = text.indexOf(TOOL_STEP_MARKERS.call);
      return Object.entries(call.arguments).flatMap(([arg, v]) => {
        const key = slotKey(domain, arg, v);
        return key ? [{ kind: 'slot' as const, key, end: argumentEnd(text, from, arg, v) }] : [];
      });
    })
    .with({ kind: 'reply' }, (): StatedItem[] => {
      // Only the reply body reaches the user: a value in the plan is not told.
      const from = text.indexOf(TOOL_STEP_MARKERS.reply) + TOOL_STEP_MARKERS.reply.length;
      const body = text.slice(from);
      const out: StatedItem[] = [];
      for (const key of ctx.truth.requests) {
        const dash = key.indexOf('-');
        const domain = TOOLWOZ_DOMAINS.find((d) => d === key.slice(0, dash));
        if (!domain) continue;
        const slot = key.slice(dash + 1);
        const ends = targetRows(ctx.db, ctx.goal, domain, ctx.calls)
          .map((row) => slotValue(row, slot))
          .map((v) => (v === undefined ? undefined : normalizedMatchEnd(body, v)))
          .filter((e) => e !== undefined);
        if (ends.length) out.push({ kind: 'request', key, end: from + Math.min(...ends) });
      }
      return out;
    })
    .exhaustive();
}

/** Step-reward sets of the episode an environment is in (what the ppo stage reads per step). */
export interface StepItemSource {
  /** SV and S of the current episode. */
  truth(): StepTruth;
  /** What `text`, generated for the environment's current view, states. */
  stated(text: string, truth: StepTruth): StatedItem[];
}

/** ToolWOZ's source: the goal from the env's privileged channel, the calls made so far. */
export function toolwozStepItems(env: ToolwozEnv, db: ToolwozDb): StepItemSource {
  return {
    truth: () => toolwozStepTruth(env.privileged(), db),
    stated: (text, truth) =>
      toolwozStatedItems(text, {
        view: env.view(),
        goal: env.privileged(),
        db,
        truth,
        calls: env.apiCalls(),
      }),
  };
}
