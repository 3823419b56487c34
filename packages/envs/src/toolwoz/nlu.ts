import { normalizeValue } from '@gopo/rewards';
import {
  idField,
  normalizeTime,
  SEARCH_PARAMS,
  TOOLWOZ_DOMAINS,
  type ToolwozDb,
  type ToolwozDomain,
} from './db.js';

/*
 * Reading ToolWOZ dialogue text by vocabulary: the values the databases hold (food types, areas,
 * stations, names, train ids) and a few patterns (times, days, people, nights). The scripted user
 * reads the agent's replies with it, and the rule agent reads the user's messages.
 */

export const WEEKDAYS = [
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
  'sunday',
] as const;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const wordRe = (phrase: string) => new RegExp(`(?<![a-z0-9])${escapeRe(phrase)}(?![a-z0-9])`);

/** Lower case, apostrophes stripped, runs of space collapsed: how text is compared with values. */
export const normalizeText = (text: string) => normalizeValue(text).replace(/\s+/g, ' ');

/** Distinct normalised values of a field, longest first (so "modern european" wins over "european"). */
function vocabulary(db: ToolwozDb, domain: ToolwozDomain, field: string): string[] {
  const set = new Set<string>();
  for (const r of db.rows[domain]) {
    const v = r[field];
    if (typeof v === 'string' && v !== '?' && v.trim()) set.add(normalizeValue(v));
  }
  return [...set].sort((a, b) => b.length - a.length || a.localeCompare(b));
}

/** Keywords that put a message in a domain. */
const DOMAIN_WORDS: Readonly<Record<ToolwozDomain, readonly string[]>> = {
  restaurant: ['restaurant', 'place to eat', 'somewhere to eat', 'food', 'dinner', 'lunch', 'table'],
  hotel: [
    'hotel',
    'guesthouse',
    'guest house',
    'place to stay',
    'somewhere to stay',
    'accommodation',
    'nights',
  ],
  attraction: ['attraction', 'something to do', 'places to go', 'place to visit', 'to visit', 'sightseeing'],
  train: ['train', 'railway', 'rail'],
};

/** Slot values found in a text, by argument name. */
export type SlotValues = Record<string, string>;

export class ToolwozNlu {
  private readonly vocab: Readonly<Record<ToolwozDomain, Readonly<Record<string, readonly string[]>>>>;
  private readonly ids: Readonly<Record<ToolwozDomain, readonly [string, string][]>>;

  constructor(private readonly db: ToolwozDb) {
    const vocab = {} as Record<ToolwozDomain, Record<string, string[]>>;
    const ids = {} as Record<ToolwozDomain, [string, string][]>;
    for (const d of TOOLWOZ_DOMAINS) {
      vocab[d] = {};
      for (const p of SEARCH_PARAMS[d])
        if (!['name', 'leaveAt', 'arriveBy', 'day', 'parking', 'internet', 'stars'].includes(p))
          vocab[d][p] = vocabulary(db, d, p);
      ids[d] = db.rows[d]
        .map((r): [string, string] => [normalizeValue(db.idOf(d, r)), db.idOf(d, r)])
        .sort((a, b) => b[0].length - a[0].length);
    }
    this.vocab = vocab;
    this.ids = ids;
  }

  /**
   * The domains a text talks about, in the order of the domain list. Names of `current`'s entities
   * are left out first ("hotel du vin and bistro" is a restaurant).
   */
  domainsIn(text: string, current?: ToolwozDomain): ToolwozDomain[] {
    let t = normalizeText(text);
    if (current && current !== 'train')
      for (const [norm] of this.ids[current]) if (t.includes(norm)) t = t.replace(wordRe(norm), ' ');
    return TOOLWOZ_DOMAINS.filter((d) => DOMAIN_WORDS[d].some((w) => wordRe(w).test(t)));
  }

  /** Entities of a domain named in a text (names by whole words, train ids as TRdddd), first mention first. */
  entitiesIn(domain: ToolwozDomain, text: string): string[] {
    const t = normalizeText(text);
    if (domain === 'train') {
      const out: string[] = [];
      for (const m of t.matchAll(/\btr\d{4}\b/g)) {
        const row = this.db.find('train', m[0]);
        if (row && !out.includes(this.db.idOf('train', row))) out.push(this.db.idOf('train', row));
      }
      return out;
    }
    const hits: [number, string][] = [];
    let rest = t;
    for (const [norm, id] of this.ids[domain]) {
      const m = wordRe(norm).exec(rest);
      if (!m) continue;
      hits.push([m.index, id]);
      rest = rest.slice(0, m.index) + ' '.repeat(norm.length) + rest.slice(m.index + norm.length);
    }
    return hits.sort((a, b) => a[0] - b[0]).map((h) => h[1]);
  }

  /**
   * The search and booking values a user message gives for a domain: vocabulary values (longest
   * first, each span used once), yes/no amenities, star ratings, stations after "from"/"to", times
   * after "after"/"by"/"at", days, people and nights.
   */
  slotsIn(domain: ToolwozDomain, text: string): SlotValues {
    let t = normalizeText(text);
    const out: SlotValues = {};
    const take = (m: RegExpExecArray) => {
      t = t.slice(0, m.index) + ' '.repeat(m[0].length) + t.slice(m.index + m[0].length);
    };
    const name = this.entitiesIn(domain, t)[0];
    if (name) {
      out[idField(domain)] = name;
      const m = wordRe(normalizeValue(name)).exec(t);
      if (m) take(m);
    }
    if (domain === 'train') {
      const stations = this.vocab.train.departure ?? [];
      for (const [slot, lead] of [
        ['departure', '(?:from|leaving|leaves|departing|departs)'],
        ['destination', '(?:to|into|for|arriving in|arrive in|going to|destination)'],
      ] as const) {
        for (const s of stations) {
          const m = new RegExp(`\\b${lead}\\s+(?:the\\s+)?${escapeRe(s)}(?![a-z0-9])`).exec(t);
          if (m) {
            out[slot] = s;
            take(m);
            break;
          }
        }
      }
      const leave = /\b(?:after|leave at|leaving at|depart at|departing at|leaves at)\s+(\d{1,2}:\d{2})/.exec(
        t,
      );
      if (leave) {
        out.leaveAt = normalizeTime(leave[1]!);
        take(leave);
      }
      const arrive = /\b(?:by|before|arrive at|arriving at|arrives at)\s+(\d{1,2}:\d{2})/.exec(t);
      if (arrive) {
        out.arriveBy = normalizeTime(arrive[1]!);
        take(arrive);
      }
    }
    for (const [slot, values] of Object.entries(this.vocab[domain])) {
      if (out[slot] !== undefined) continue;
      for (const v of values) {
        const m = wordRe(v).exec(t);
        if (m) {
          out[slot] = v;
          take(m);
          break;
        }
      }
    }
    if (domain === 'hotel') {
      for (const [slot, words] of [
        ['parking', 'parking'],
        ['internet', '(?:wifi|internet)'],
      ] as const) {
        const no = new RegExp(
          `\\b(?:without|no|doesn t need|does not need|don t need)\\s+(?:free\\s+)?${words}`,
        ).exec(t);
        const yes = new RegExp(`\\b(?:free\\s+)?${words}\\b`).exec(t);
        if (no) out[slot] = 'no';
        else if (yes) out[slot] = 'yes';
      }
      const stars = /\b(\d)[ -]?stars?\b/.exec(t);
      if (stars) out.stars = stars[1]!;
    }
    const day = WEEKDAYS.find((d) => wordRe(d).test(t));
    if (day) out.day = day;
    const time = /\b(?:at|for)\s+(\d{1,2}:\d{2})/.exec(t);
    if (time && domain === 'restaurant') out.time = normalizeTime(time[1]!);
    const people =
      /\b(\d+)\s+(?:people|persons|guests|of us|tickets|adults)\b/.exec(t) ??
      /\bfor\s+(\d+)\b(?!\s*(?:nights?|:))/.exec(t);
    if (people && domain !== 'attraction') out.people = people[1]!;
    const nights = /\b(\d+)\s+nights?\b/.exec(t);
    if (nights && domain === 'hotel') out.stay = nights[1]!;
    return out;
  }
}
