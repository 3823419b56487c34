import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FileFormatError, MissingFileError, Rng } from '@gopo/core';
import { type GoalCall, isUnconstrained, normalizeValue } from '@gopo/rewards';
import { z } from 'zod';
import {
  BOOK_PARAMS,
  idField,
  normalizeTime,
  type Row,
  SEARCH_PARAMS,
  TIME_PARAMS,
  TOOLWOZ_DOMAINS,
  type ToolwozDb,
  type ToolwozDomain,
} from './db.js';

export const ToolwozDomainSchema = z.enum(TOOLWOZ_DOMAINS).describe('a ToolWOZ domain');

/** One domain of a goal: what to search for, what to book, and the entity it is about. */
export const DomainGoalSchema = z.object({
  domain: ToolwozDomainSchema,
  search: z.record(z.string(), z.string()).describe('search constraints, by search-tool argument'),
  book: z
    .record(z.string(), z.string())
    .optional()
    .describe('booking details (time, day, people, stay), without the entity; absent when nothing is booked'),
  entity: z.string().optional().describe("the goal's entity: a name, or a trainID for trains"),
  reqt: z.array(z.string()).default([]).describe('slots the user asks about (phone, postcode, price, ...)'),
});
export type DomainGoal = z.infer<typeof DomainGoalSchema>;

/** A ToolWOZ goal (one JSON object per line in a goals file). */
export const ToolwozGoalSchema = z.object({
  id: z.string().min(1).describe('the MultiWOZ dialogue id, or sampled-<seed>-<n>'),
  source: z
    .enum(['multiwoz', 'sampled'])
    .describe('built from a real dialogue or sampled from the databases'),
  domains: z.array(DomainGoalSchema).min(1).describe('the domains, in the order the user raises them'),
});
export type ToolwozGoal = z.infer<typeof ToolwozGoalSchema>;

/**
 * The goal API calls of a goal (JOSH): per domain the search with the goal's constraints (completed
 * also by a search whose single result is the entity) and, when the user books, the booking with its
 * details and the entity's name or trainID.
 */
export function goalApiCalls(goal: ToolwozGoal): GoalCall[] {
  const out: GoalCall[] = [];
  for (const d of goal.domains) {
    out.push({ name: `search_${d.domain}`, args: d.search, ...(d.entity ? { entityId: d.entity } : {}) });
    if (d.book && d.entity)
      out.push({ name: `book_${d.domain}`, args: { ...d.book, [idField(d.domain)]: d.entity } });
  }
  return out;
}

// The parts of MultiWOZ 2.1 val.json that goals are built from (data/multiwoz/README.md).
const RawDomainGoalSchema = z.looseObject({
  info: z.record(z.string(), z.unknown()).default({}).describe('constraints on the entity'),
  reqt: z.array(z.string()).default([]).describe('slots the user asks for'),
  book: z.record(z.string(), z.unknown()).optional().describe('booking request'),
});
const RawDialogueSchema = z.looseObject({
  goal: z.record(z.string(), z.unknown()).describe('per-domain goals'),
  log: z
    .array(
      z.looseObject({
        metadata: z.record(z.string(), z.unknown()).default({}).describe('belief state (system turns)'),
        dialog_act: z.record(z.string(), z.unknown()).default({}).describe('"Domain-Intent" -> slot pairs'),
      }),
    )
    .describe('turns, user first'),
});
type RawDialogue = z.infer<typeof RawDialogueSchema>;

const EXCLUDED_DOMAINS = ['taxi', 'police', 'hospital'] as const;

const nonEmpty = (v: unknown) => typeof v === 'object' && v !== null && Object.keys(v).length > 0;

function constraintsOf(
  raw: Readonly<Record<string, unknown>>,
  params: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of params) {
    const v = raw[p];
    if (v === undefined || v === null || typeof v === 'boolean') continue;
    const s = String(v).trim();
    if (!isUnconstrained(normalizeValue(s))) out[p] = TIME_PARAMS.has(p) ? normalizeTime(s) : s;
  }
  return out;
}

/** Domains in the order the user first mentions them (dialogue acts), then any left. */
function domainOrder(raw: RawDialogue, domains: ToolwozDomain[]): ToolwozDomain[] {
  const seen: ToolwozDomain[] = [];
  raw.log.forEach((turn, i) => {
    if (i % 2 === 1) return;
    for (const act of Object.keys(turn.dialog_act)) {
      const d = act.split('-')[0]!.toLowerCase() as ToolwozDomain;
      if (domains.includes(d) && !seen.includes(d)) seen.push(d);
    }
  });
  return [...seen, ...domains.filter((d) => !seen.includes(d))];
}

/** The last entity booked in a domain during the dialogue (belief states of the system turns). */
function lastBooked(raw: RawDialogue, domain: ToolwozDomain): string | undefined {
  let id: string | undefined;
  for (const turn of raw.log) {
    const booked = (turn.metadata[domain] as { book?: { booked?: Record<string, unknown>[] } } | undefined)
      ?.book?.booked;
    const last = booked?.[booked.length - 1]?.[idField(domain)];
    if (typeof last === 'string') id = last;
  }
  return id;
}

/** The last name the belief state holds for a venue (restaurants, hotels, attractions). */
function lastNamed(raw: RawDialogue, domain: ToolwozDomain): string | undefined {
  let name: string | undefined;
  for (const turn of raw.log) {
    const semi = (turn.metadata[domain] as { semi?: Record<string, unknown> } | undefined)?.semi;
    const v = semi?.name;
    if (typeof v === 'string' && !isUnconstrained(normalizeValue(v))) name = v;
  }
  return name;
}

/** `id` among the rows, by normalised equality or else by a unique containment ("meze bar" for "meze bar restaurant"). */
function pick(
  db: ToolwozDb,
  domain: ToolwozDomain,
  rows: readonly Row[],
  id: string | undefined,
): Row | undefined {
  if (id === undefined) return undefined;
  const k = normalizeValue(id);
  const exact = rows.find((r) => normalizeValue(db.idOf(domain, r)) === k);
  if (exact || domain === 'train') return exact;
  const hits = rows.filter((r) => {
    const n = normalizeValue(db.idOf(domain, r));
    return n.includes(k) || k.includes(n);
  });
  return hits.length === 1 ? hits[0] : undefined;
}

/** Counts of how the val.json dialogues became goals. */
export interface MultiwozGoalStats {
  readonly dialogues: number;
  /** Left out: a taxi, police or hospital goal. */
  readonly excluded: number;
  /** Left out: a domain's search constraints match no database row. */
  readonly unsatisfiable: number;
  /** Domains whose booked entity does not satisfy the goal's constraints (annotation noise): the first matching row is the entity instead. */
  readonly repairedEntities: number;
  readonly goals: number;
}

/**
 * Builds ToolWOZ goals from MultiWOZ dialogues: per domain the goal's constraints (`info`, search
 * arguments only), the booking request (`book`) and the entity, which is the last one booked in the
 * dialogue or else the name the belief state ends with, when it satisfies the constraints; a booking
 * whose entity does not satisfy them books the first matching row instead. Dialogues with taxi,
 * police or hospital goals are left out, as are the few whose constraints match nothing.
 */
export function goalsFromMultiwoz(
  dialogues: Readonly<Record<string, unknown>>,
  db: ToolwozDb,
  file = 'val.json',
): { goals: ToolwozGoal[]; stats: MultiwozGoalStats } {
  const goals: ToolwozGoal[] = [];
  let excluded = 0;
  let unsatisfiable = 0;
  let repaired = 0;
  for (const [id, value] of Object.entries(dialogues)) {
    const parsed = RawDialogueSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new FileFormatError(
        { file, path: [id, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')] },
        issue.message,
      );
    }
    const raw = parsed.data;
    if (EXCLUDED_DOMAINS.some((d) => nonEmpty(raw.goal[d]))) {
      excluded++;
      continue;
    }
    const present = TOOLWOZ_DOMAINS.filter((d) => nonEmpty(raw.goal[d]));
    const domains: DomainGoal[] = [];
    let ok = present.length > 0;
    let fixes = 0;
    for (const d of domainOrder(raw, present)) {
      const g = RawDomainGoalSchema.safeParse(raw.goal[d]);
      if (!g.success) {
        const issue = g.error.issues[0]!;
        throw new FileFormatError(
          {
            file,
            path: [id, 'goal', d, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')],
          },
          issue.message,
        );
      }
      const search = constraintsOf(g.data.info, SEARCH_PARAMS[d]);
      const rows = db.search(d, search);
      if (rows.length === 0) {
        ok = false;
        break;
      }
      const bookParams = BOOK_PARAMS[d].filter((p) => p !== idField(d));
      const book = g.data.book ? constraintsOf(g.data.book, bookParams) : {};
      const booking = Object.keys(book).length > 0;
      let entity =
        pick(db, d, rows, lastBooked(raw, d)) ??
        (d === 'train' ? undefined : pick(db, d, rows, lastNamed(raw, d)));
      if (!entity && booking) {
        entity = rows[0];
        fixes++;
      }
      domains.push({
        domain: d,
        search,
        ...(booking ? { book } : {}),
        ...(entity ? { entity: db.idOf(d, entity) } : {}),
        reqt: g.data.reqt,
      });
    }
    if (!ok) {
      unsatisfiable++;
      continue;
    }
    repaired += fixes;
    goals.push({ id, source: 'multiwoz', domains });
  }
  return {
    goals,
    stats: {
      dialogues: Object.keys(dialogues).length,
      excluded,
      unsatisfiable,
      repairedEntities: repaired,
      goals: goals.length,
    },
  };
}

/** Reads data/multiwoz/val.json (or another MultiWOZ 2.1 split) and builds its ToolWOZ goals. */
export async function loadMultiwozGoals(
  dataDir: string,
  db: ToolwozDb,
  file = path.join(dataDir, 'multiwoz', 'val.json'),
): Promise<{ goals: ToolwozGoal[]; stats: MultiwozGoalStats }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new MissingFileError(file, 'MultiWOZ split file');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError({ file }, `not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new FileFormatError({ file }, 'expected an object of dialogues keyed by id');
  return goalsFromMultiwoz(raw as Record<string, unknown>, db, file);
}

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
/** Fields a sampled goal's user may ask about, per domain. */
const REQUESTABLE: Readonly<Record<ToolwozDomain, readonly string[]>> = {
  restaurant: ['phone', 'address', 'postcode'],
  hotel: ['phone', 'address', 'postcode'],
  attraction: ['phone', 'address', 'postcode', 'entrance fee'],
  train: ['price', 'duration'],
};
/** Search arguments a sampled goal draws its constraints from (names are never drawn). */
const SAMPLED_PARAMS: Readonly<Record<ToolwozDomain, readonly string[]>> = {
  restaurant: ['food', 'pricerange', 'area'],
  hotel: ['area', 'parking', 'pricerange', 'stars', 'internet', 'type'],
  attraction: ['type', 'area'],
  train: [],
};

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const clock = (m: number) =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

function sampleDomain(db: ToolwozDb, domain: ToolwozDomain, rng: Rng, bookProbability: number): DomainGoal {
  const row = rng.pick(db.rows[domain]);
  const search: Record<string, string> = {};
  if (domain === 'train') {
    for (const k of ['departure', 'destination', 'day']) search[k] = String(row[k]);
    const leave = minutes(String(row.leaveAt));
    const arrive = minutes(String(row.arriveBy));
    // A bound 5-60 minutes on the right side of the row's time, on the quarter hour, keeps the row.
    if (rng.bool() && leave >= 15)
      search.leaveAt = clock(Math.max(0, Math.floor((leave - 5 - rng.int(56)) / 15) * 15));
    else if (arrive <= 23 * 60)
      search.arriveBy = clock(Math.min(23 * 60 + 45, Math.ceil((arrive + 5 + rng.int(56)) / 15) * 15));
  } else {
    const params = SAMPLED_PARAMS[domain].filter((p) => typeof row[p] === 'string' && row[p] !== '?');
    const k = 1 + rng.int(Math.min(3, params.length));
    for (const p of rng.sample(params, k)) search[p] = String(row[p]);
  }
  const book: Record<string, string> = {};
  if (domain !== 'attraction' && rng.bool(bookProbability)) {
    if (domain === 'restaurant') book.time = clock(11 * 60 + 15 * rng.int(40));
    if (domain === 'hotel') book.stay = String(1 + rng.int(5));
    if (domain !== 'train') book.day = rng.pick(WEEKDAYS);
    book.people = String(1 + rng.int(8));
  }
  const reqt = rng.sample(REQUESTABLE[domain], rng.int(3));
  return {
    domain,
    search,
    ...(Object.keys(book).length ? { book } : {}),
    entity: db.idOf(domain, row),
    reqt,
  };
}

/** Options of `sampleGoals`. */
export const SampledGoalsSchema = z.object({
  count: z.number().int().min(1).default(500).describe('goals to sample'),
  seed: z.number().int().default(1).describe('seed of the sample'),
  maxDomains: z.number().int().min(1).max(3).default(2).describe('domains per goal, at most'),
  bookProbability: z
    .number()
    .min(0)
    .max(1)
    .default(0.7)
    .describe('chance a restaurant, hotel or train is booked'),
});
export type SampledGoalsOptions = z.input<typeof SampledGoalsSchema>;

/**
 * Training goals sampled from the databases (seeded): 1..maxDomains distinct domains, each around a
 * random row: 1-3 of its attributes as constraints (trains: departure, destination, day and a
 * leave-after or arrive-by bound on the right side of the row's times), a booking with probability
 * bookProbability (time, day, people, stay), 0-2 requested slots; the row is the entity.
 */
export function sampleGoals(db: ToolwozDb, options: SampledGoalsOptions = {}): ToolwozGoal[] {
  const o = SampledGoalsSchema.parse(options);
  const rng = Rng.fromSeed(o.seed, 'toolwoz-goals');
  const out: ToolwozGoal[] = [];
  for (let i = 0; i < o.count; i++) {
    const r = rng.split(`goal-${i}`);
    const domains = r.sample(TOOLWOZ_DOMAINS, 1 + r.int(o.maxDomains));
    out.push({
      id: `sampled-${o.seed}-${String(i).padStart(5, '0')}`,
      source: 'sampled',
      domains: domains.map((d) => sampleDomain(db, d, r, o.bookProbability)),
    });
  }
  return out;
}
