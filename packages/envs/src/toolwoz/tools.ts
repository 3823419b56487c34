import { hashString } from '@gopo/core';
import { checkToolArguments, type ToolCall, type ToolSpec } from '@gopo/dialogue';
import type { ApiCall } from '@gopo/rewards';
import { match } from 'ts-pattern';
import {
  BOOK_PARAMS,
  idField,
  normalizeTime,
  SEARCH_PARAMS,
  TIME_PARAMS,
  type ToolwozDb,
  type ToolwozDomain,
  visibleRow,
} from './db.js';

/** The 8 ToolWOZ tools (JOSH, Lattimer et al. 2025): a search and a booking per domain. */
export const TOOLWOZ_TOOL_NAMES = [
  'search_restaurant',
  'book_restaurant',
  'search_hotel',
  'book_hotel',
  'search_attraction',
  'book_attraction',
  'search_train',
  'book_train',
] as const;
export type ToolwozToolName = (typeof TOOLWOZ_TOOL_NAMES)[number];

export const isToolwozTool = (name: string): name is ToolwozToolName =>
  (TOOLWOZ_TOOL_NAMES as readonly string[]).includes(name);

/** Argument descriptions shown to the model (our wording; values as the MultiWOZ databases spell them). */
const PARAM_TEXT: Readonly<Record<string, string>> = {
  food: 'type of food, e.g. italian, modern european',
  pricerange: 'cheap, moderate or expensive',
  name: 'the name of the place, e.g. pizza hut city centre',
  area: 'centre, north, south, east or west',
  parking: 'free parking: yes or no',
  internet: 'free wifi: yes or no',
  stars: 'star rating, e.g. 4',
  type: 'kind of place: hotel or guesthouse (hotels); museum, college, park, ... (attractions)',
  leaveAt: 'earliest departure time HH:MM; trains leaving after it',
  arriveBy: 'latest arrival time HH:MM; trains arriving before it',
  destination: 'station the train goes to, e.g. cambridge',
  departure: 'station the train leaves from, e.g. london kings cross',
  day: 'day of the week, e.g. friday',
  time: 'reservation time HH:MM',
  people: 'number of people, e.g. 2',
  stay: 'number of nights',
  trainID: 'the train id, e.g. TR1234',
};

function spec(name: ToolwozToolName, description: string, params: readonly string[]): ToolSpec {
  return {
    type: 'function',
    function: {
      name,
      description,
      parameters: {
        type: 'object',
        properties: Object.fromEntries(
          params.map((p) => [p, { type: 'string', description: PARAM_TEXT[p] ?? p }]),
        ),
        required: [],
      },
    },
  };
}

const domainOf = (name: ToolwozToolName): ToolwozDomain => name.split('_')[1] as ToolwozDomain;

/** The tool specs in the OpenAI function-calling format; every argument is an optional string. */
export const TOOLWOZ_TOOLS: readonly ToolSpec[] = TOOLWOZ_TOOL_NAMES.map((name) => {
  const domain = domainOf(name);
  return name.startsWith('search_')
    ? spec(
        name,
        `Search the ${domain} database. Every argument is optional; give the ones the user asked for. Returns the number of matches and the first few.`,
        SEARCH_PARAMS[domain],
      )
    : spec(
        name,
        domain === 'attraction'
          ? 'Attractions need no booking; this tool exists for completeness.'
          : `Book a ${domain} the user chose. Returns a reference number on success.`,
        BOOK_PARAMS[domain],
      );
});

export interface ToolwozToolOptions {
  /** Rows a search shows (the count covers all matches). */
  readonly maxResults: number;
}

/** A tool call's output and, when the call was well-formed, the API call the reward reads. */
export interface ToolwozCallResult {
  readonly output: string;
  readonly apiCall?: ApiCall;
}

const WEEKDAYS = new Set(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']);

/**
 * Numbers are accepted for string arguments (models often send people: 2) and read as their text;
 * clock times are written HH:MM ("9:15" is "09:15"), as in the goals.
 */
function stringArgs(args: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    const value = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
    out[k] = typeof value === 'string' && TIME_PARAMS.has(k) ? normalizeTime(value.trim()) : value;
  }
  return out;
}

/** An 8-character booking reference determined by the booking (the same booking, the same reference). */
export function bookingReference(domain: ToolwozDomain, args: Readonly<Record<string, string>>): string {
  const key = `${domain}|${Object.keys(args)
    .sort()
    .map((k) => `${k}=${args[k]!.toLowerCase()}`)
    .join('|')}`;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let out = '';
  for (let i = 0; i < 8; i++) out += alphabet[hashString(`${key}#${i}`) % 36];
  return out;
}

function search(
  db: ToolwozDb,
  domain: ToolwozDomain,
  args: Record<string, string>,
  opts: ToolwozToolOptions,
) {
  const rows = db.search(domain, args);
  const shown = rows.slice(0, opts.maxResults).map((r) => visibleRow(r));
  const output = JSON.stringify({
    count: rows.length,
    results: shown,
    ...(rows.length > shown.length
      ? { note: `showing ${shown.length} of ${rows.length}; add constraints to narrow down` }
      : {}),
  });
  return { output, resultIds: rows.map((r) => db.idOf(domain, r)) };
}

function bookingProblem(
  domain: ToolwozDomain,
  db: ToolwozDb,
  args: Record<string, string>,
): string | undefined {
  if (domain === 'attraction') return 'attractions need no booking';
  const missing = BOOK_PARAMS[domain].filter((p) => !args[p]?.trim());
  if (missing.length) return `missing ${missing.join(', ')}`;
  const id = args[idField(domain)]!;
  if (!db.find(domain, id)) return `no ${domain} ${domain === 'train' ? 'with id' : 'named'} "${id}"`;
  if (args.day !== undefined && !WEEKDAYS.has(args.day.trim().toLowerCase()))
    return `day must be a day of the week, got "${args.day}"`;
  for (const k of ['people', 'stay'] as const)
    if (args[k] !== undefined && !/^[1-9]\d*$/.test(args[k].trim()))
      return `${k} must be a positive whole number`;
  if (args.time !== undefined && !/^\d{1,2}:\d{2}$/.test(args.time.trim())) return 'time must be HH:MM';
  return undefined;
}

function book(db: ToolwozDb, domain: ToolwozDomain, args: Record<string, string>): string {
  const problem = bookingProblem(domain, db, args);
  if (problem) return JSON.stringify({ success: false, error: problem });
  const entity = db.find(domain, args[idField(domain)]!)!;
  return JSON.stringify({
    success: true,
    reference: bookingReference(domain, args),
    ...args,
    [idField(domain)]: db.idOf(domain, entity),
  });
}

/**
 * Runs one tool call against the databases. Malformed calls (unknown tool, unknown argument,
 * non-string value) return an error text and no API call, so they never complete a goal.
 */
export function executeToolwozCall(
  db: ToolwozDb,
  call: ToolCall,
  opts: ToolwozToolOptions,
): ToolwozCallResult {
  if (!isToolwozTool(call.name))
    return { output: `Error: unknown tool "${call.name}"; tools: ${TOOLWOZ_TOOL_NAMES.join(', ')}` };
  const name = call.name;
  const args = stringArgs(call.arguments);
  const issues = checkToolArguments(TOOLWOZ_TOOLS[TOOLWOZ_TOOL_NAMES.indexOf(name)]!, args);
  if (issues.length) return { output: `Error: ${issues.map((i) => i.message).join('; ')}` };
  const strArgs = args as Record<string, string>;
  const domain = domainOf(name);
  return match(name)
    .with('search_restaurant', 'search_hotel', 'search_attraction', 'search_train', (): ToolwozCallResult => {
      const r = search(db, domain, strArgs, opts);
      return { output: r.output, apiCall: { name, args: strArgs, resultIds: r.resultIds } };
    })
    .with(
      'book_restaurant',
      'book_hotel',
      'book_attraction',
      'book_train',
      (): ToolwozCallResult => ({ output: book(db, domain, strArgs), apiCall: { name, args: strArgs } }),
    )
    .exhaustive();
}
