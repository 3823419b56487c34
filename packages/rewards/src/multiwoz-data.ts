import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FileFormatError, MissingFileError } from '@gopo/core';
import { z } from 'zod';
import type { DomainGoal, DomainOutcome, MultiwozDialogue } from './multiwoz.js';

/** Domains whose goal constraints describe an entity in a database (Inform checks them). */
export const MULTIWOZ_ENTITY_DOMAINS = ['restaurant', 'hotel', 'attraction', 'train'] as const;
const ALL_DOMAINS = ['restaurant', 'hotel', 'attraction', 'train', 'taxi', 'police', 'hospital'] as const;
type Domain = (typeof ALL_DOMAINS)[number];

/** Dialogue-act slot names -> the goal's slot names. */
const ACT_SLOTS: Readonly<Record<string, string>> = {
  Addr: 'address',
  Post: 'postcode',
  Phone: 'phone',
  Ref: 'reference',
  Fee: 'entrance fee',
  Car: 'car type',
  Ticket: 'price',
  Time: 'duration',
  Leave: 'leaveAt',
  Arrive: 'arriveBy',
  Id: 'trainID',
  Area: 'area',
  Food: 'food',
  Stars: 'stars',
  Internet: 'internet',
  Parking: 'parking',
  Type: 'type',
  Name: 'name',
  Price: 'pricerange',
  Dest: 'destination',
  Depart: 'departure',
  Day: 'day',
};
// Intents by which the system gives information (Request, NoOffer, NoBook give none).
const GIVING = new Set(['Inform', 'Recommend', 'Select', 'OfferBook', 'OfferBooked', 'Book']);

const DomainGoalSchema = z.looseObject({
  info: z.record(z.string(), z.string()).default({}).describe('constraints on the entity'),
  reqt: z.array(z.string()).default([]).describe('slots the user asks for'),
  book: z.record(z.string(), z.unknown()).optional().describe('booking request, when the user books'),
});
const TurnSchema = z.looseObject({
  text: z.string().describe('the utterance'),
  metadata: z.record(z.string(), z.unknown()).default({}).describe('belief state (system turns)'),
  dialog_act: z
    .record(z.string(), z.array(z.tuple([z.string(), z.string()])))
    .default({})
    .describe('"Domain-Intent" -> [slot, value] pairs'),
});
const DialogueSchema = z.looseObject({
  goal: z.record(z.string(), z.unknown()).describe('per-domain goals and the goal message'),
  log: z.array(TurnSchema).describe('turns, alternating user/system, user first'),
});
export type MultiwozRaw = z.infer<typeof DialogueSchema>;

/** One MultiWOZ dialogue prepared for Inform / Success / BLEU. */
export interface MultiwozReference {
  readonly id: string;
  /** Goal and what the logged system did: evaluating it gives the reference dialogues' own scores. */
  readonly dialogue: MultiwozDialogue;
  readonly userTurns: readonly string[];
  readonly systemTurns: readonly string[];
}

type Row = Readonly<Record<string, unknown>>;
export type MultiwozDatabase = Readonly<Partial<Record<Domain, readonly Row[]>>>;

const norm = (s: unknown) =>
  String(s).toLowerCase().replaceAll("'", '').replace(/^the /, '').replace(/\s+/g, ' ').trim();

function findEntity(db: MultiwozDatabase, domain: Domain, key: string): Record<string, string> | undefined {
  const rows = db[domain];
  if (!rows) return undefined;
  const k = norm(key);
  const field = domain === 'train' ? 'trainID' : 'name';
  let row = rows.find((r) => norm(r[field]) === k);
  if (!row && domain !== 'train' && k.length >= 4) {
    // Names in acts are often shortened ("the allenbell" for "allenbell guest house"): accept a
    // containment match when it is unique.
    const hits = rows.filter((r) => norm(r[field]).includes(k) || k.includes(norm(r[field])));
    if (hits.length === 1) row = hits[0];
  }
  if (!row) return undefined;
  const out: Record<string, string> = {};
  for (const [f, v] of Object.entries(row))
    if (typeof v === 'string' || typeof v === 'number') out[f] = String(v);
  return out;
}

/**
 * Derives a dialogue's goal and outcome: per domain, the offered entity is the last one booked in
 * the belief state (`metadata.<domain>.book.booked`), else the last one the system named in a
 * giving act, looked up in the database; the provided slots are those the system gave values for
 * (Booking-* acts are credited to the domain of the latest domain act). A requested booking adds
 * "reference" to the requested slots. Taxi, police and hospital goals describe no database entity,
 * so their constraints are not checked by Inform.
 */
export function prepareMultiwoz(id: string, raw: MultiwozRaw, db: MultiwozDatabase): MultiwozReference {
  const goal: Record<string, DomainGoal> = {};
  for (const d of ALL_DOMAINS) {
    const parsed = DomainGoalSchema.safeParse(raw.goal[d]);
    if (!parsed.success) continue;
    const g = parsed.data;
    const booked = g.book && Object.keys(g.book).some((k) => k !== 'invalid' && k !== 'pre_invalid');
    if (Object.keys(g.info).length === 0 && g.reqt.length === 0 && !booked) continue;
    const entity = (MULTIWOZ_ENTITY_DOMAINS as readonly string[]).includes(d);
    goal[d] = { info: entity ? g.info : {}, reqt: [...g.reqt, ...(booked ? ['reference'] : [])] };
  }
  const named: Partial<Record<Domain, string>> = {};
  const bookedKey: Partial<Record<Domain, string>> = {};
  const provided: Partial<Record<Domain, Set<string>>> = {};
  let active: Domain | undefined;
  const userTurns: string[] = [];
  const systemTurns: string[] = [];
  raw.log.forEach((turn, i) => {
    const system = i % 2 === 1;
    (system ? systemTurns : userTurns).push(turn.text);
    for (const [act, pairs] of Object.entries(turn.dialog_act)) {
      const [dom, intent] = act.split('-') as [string, string];
      const d = dom.toLowerCase();
      if ((ALL_DOMAINS as readonly string[]).includes(d)) active = d as Domain;
      if (!system || !GIVING.has(intent)) continue;
      const target =
        d === 'booking' ? active : (ALL_DOMAINS as readonly string[]).includes(d) ? (d as Domain) : undefined;
      if (!target) continue;
      for (const [slot, value] of pairs) {
        const name = ACT_SLOTS[slot];
        if (!name || value === '?' || value === 'none') continue;
        const set = provided[target] ?? new Set<string>();
        set.add(name);
        provided[target] = set;
        if ((name === 'name' && target !== 'train') || (name === 'trainID' && target === 'train'))
          named[target] = value;
      }
    }
    if (!system) return;
    for (const d of MULTIWOZ_ENTITY_DOMAINS) {
      const book = (turn.metadata[d] as { book?: { booked?: Row[] } } | undefined)?.book?.booked;
      const last = book?.[book.length - 1];
      const key = last ? (d === 'train' ? last.trainID : last.name) : undefined;
      if (typeof key === 'string') bookedKey[d] = key;
    }
  });
  const outcome: Record<string, DomainOutcome> = {};
  for (const d of ALL_DOMAINS) {
    const key = bookedKey[d] ?? named[d];
    const offered = key !== undefined ? findEntity(db, d, key) : undefined;
    if (!offered && !provided[d]) continue;
    outcome[d] = { ...(offered ? { offered } : {}), provided: [...(provided[d] ?? [])] };
  }
  return { id, dialogue: { goal, outcome }, userTurns, systemTurns };
}

/** Reads MultiWOZ databases (`<domain>_db.json`) from a directory such as data/toolwoz/db. */
export async function loadMultiwozDatabase(dbDir: string): Promise<MultiwozDatabase> {
  const db: Partial<Record<Domain, readonly Row[]>> = {};
  for (const d of MULTIWOZ_ENTITY_DOMAINS) {
    const file = path.join(dbDir, `${d}_db.json`);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      throw new MissingFileError(file, 'MultiWOZ database');
    }
    const rows = z.array(z.record(z.string(), z.unknown())).safeParse(JSON.parse(text));
    if (!rows.success)
      throw new FileFormatError(
        { file, path: rows.error.issues[0]?.path as (string | number)[] },
        'not a list of rows',
      );
    db[d] = rows.data;
  }
  return db;
}

/** Loads a MultiWOZ 2.1 split file (e.g. data/multiwoz/val.json) into prepared dialogues. */
export async function loadMultiwoz(splitFile: string, db: MultiwozDatabase): Promise<MultiwozReference[]> {
  let text: string;
  try {
    text = await fs.readFile(splitFile, 'utf8');
  } catch {
    throw new MissingFileError(splitFile, 'MultiWOZ split file');
  }
  const raw = JSON.parse(text) as Record<string, unknown>;
  const out: MultiwozReference[] = [];
  for (const [id, value] of Object.entries(raw)) {
    const parsed = DialogueSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new FileFormatError(
        {
          file: splitFile,
          path: [id, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')],
        },
        issue.message,
      );
    }
    out.push(prepareMultiwoz(id, parsed.data, db));
  }
  return out;
}
