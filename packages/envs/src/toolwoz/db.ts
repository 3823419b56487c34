import * as path from 'node:path';
import { isUnconstrained, loadMultiwozDatabase, type MultiwozDatabase, normalizeValue } from '@gopo/rewards';

/** The ToolWOZ domains: the MultiWOZ domains with a database of entities (taxi, police, hospital are left out). */
export const TOOLWOZ_DOMAINS = ['restaurant', 'hotel', 'attraction', 'train'] as const;
export type ToolwozDomain = (typeof TOOLWOZ_DOMAINS)[number];

/** Parameters of each search tool (data/toolwoz/README.md), all optional strings. */
export const SEARCH_PARAMS: Readonly<Record<ToolwozDomain, readonly string[]>> = {
  restaurant: ['food', 'pricerange', 'name', 'area'],
  hotel: ['name', 'area', 'parking', 'pricerange', 'stars', 'internet', 'type'],
  attraction: ['type', 'name', 'area'],
  train: ['leaveAt', 'destination', 'day', 'arriveBy', 'departure'],
};

/** Parameters of each booking tool; the last one names the entity (book_attraction takes none). */
export const BOOK_PARAMS: Readonly<Record<ToolwozDomain, readonly string[]>> = {
  restaurant: ['time', 'day', 'people', 'name'],
  hotel: ['stay', 'day', 'people', 'name'],
  attraction: [],
  train: ['people', 'trainID'],
};

/** The field that identifies an entity: trainID for trains, name elsewhere. */
export const idField = (domain: ToolwozDomain): 'trainID' | 'name' =>
  domain === 'train' ? 'trainID' : 'name';

/** Fields a search result leaves out (coordinates, database ids, long descriptions). */
const HIDDEN_FIELDS = new Set(['location', 'id', 'introduction', 'takesbookings', 'signature']);

export type Row = Readonly<Record<string, unknown>>;

/** Arguments holding a clock time, written HH:MM everywhere (goals, recorded calls, searches). */
export const TIME_PARAMS: ReadonlySet<string> = new Set(['leaveAt', 'arriveBy', 'time']);

/** `9:05` -> `09:05`, so times compare as HH:MM strings; other values unchanged. */
export function normalizeTime(v: string): string {
  const m = /^(\d{1,2}):(\d{2})$/.exec(v);
  return m ? `${m[1]!.padStart(2, '0')}:${m[2]}` : v;
}

/**
 * The MultiWOZ venue and train databases with ToolWOZ's search rule: rows are kept when they equal
 * every constrained parameter after normalisation (lower case, apostrophes stripped), except
 * `leaveAt` (rows leaving strictly after the value) and `arriveBy` (arriving strictly before it),
 * compared as HH:MM strings; "dont care", "not mentioned" and "" constrain nothing.
 */
export class ToolwozDb {
  private readonly normalized: Readonly<Record<ToolwozDomain, readonly Readonly<Record<string, string>>[]>>;
  private readonly byId: Readonly<Record<ToolwozDomain, ReadonlyMap<string, Row>>>;

  constructor(readonly rows: Readonly<Record<ToolwozDomain, readonly Row[]>>) {
    const norm = {} as Record<ToolwozDomain, Record<string, string>[]>;
    const ids = {} as Record<ToolwozDomain, Map<string, Row>>;
    for (const d of TOOLWOZ_DOMAINS) {
      norm[d] = rows[d].map((r) => {
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(r)) if (typeof v === 'string') out[k] = normalizeValue(v);
        return out;
      });
      ids[d] = new Map(rows[d].map((r, i) => [norm[d][i]![idField(d)] ?? '', r]));
    }
    this.normalized = norm;
    this.byId = ids;
  }

  static fromMultiwoz(db: MultiwozDatabase): ToolwozDb {
    const rows = {} as Record<ToolwozDomain, readonly Row[]>;
    for (const d of TOOLWOZ_DOMAINS) rows[d] = db[d] ?? [];
    return new ToolwozDb(rows);
  }

  /** The entity whose name (trainID for trains) equals `id` after normalisation. */
  find(domain: ToolwozDomain, id: string): Row | undefined {
    return this.byId[domain].get(normalizeValue(id));
  }

  /** The entity's identifying value (name or trainID). */
  idOf(domain: ToolwozDomain, row: Row): string {
    return String(row[idField(domain)]);
  }

  /** Rows matching every constrained argument; unknown argument names match nothing. */
  search(domain: ToolwozDomain, args: Readonly<Record<string, unknown>>): Row[] {
    const want: [string, string][] = [];
    for (const [k, v] of Object.entries(args)) {
      if (v === undefined || v === null) continue;
      const n = normalizeValue(v);
      if (!isUnconstrained(n)) want.push([k, k === 'leaveAt' || k === 'arriveBy' ? normalizeTime(n) : n]);
    }
    const norm = this.normalized[domain];
    const out: Row[] = [];
    this.rows[domain].forEach((row, i) => {
      const r = norm[i]!;
      for (const [k, v] of want) {
        const have = r[k];
        if (have === undefined) return;
        if (k === 'leaveAt' ? !(have > v) : k === 'arriveBy' ? !(have < v) : have !== v) return;
      }
      out.push(row);
    });
    return out;
  }
}

/** What a search shows of a row: every field but coordinates, ids and descriptions. */
export function visibleRow(row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (!HIDDEN_FIELDS.has(k)) out[k] = v;
  return out;
}

/** Loads data/toolwoz/db/*_db.json from the data directory. */
export async function loadToolwozDb(dataDir: string): Promise<ToolwozDb> {
  return ToolwozDb.fromMultiwoz(await loadMultiwozDatabase(path.join(dataDir, 'toolwoz', 'db')));
}
