import type { ToolAgent, ToolAgentStep, ToolAgentView } from '@gopo/dialogue';
import { callIds, type ToolPolicy, toolPolicyRegistry } from '../tool-env.js';
import { BOOK_PARAMS, idField, SEARCH_PARAMS, type ToolwozDb, type ToolwozDomain } from './db.js';
import { goalApiCalls, type ToolwozGoal } from './goals.js';
import { normalizeText, type SlotValues, ToolwozNlu } from './nlu.js';

const reply = (text: string, plan?: string): ToolAgentStep => ({
  ...(plan ? { plan } : {}),
  action: { kind: 'reply', text },
});

interface SearchOutput {
  readonly count: number;
  readonly results: readonly Record<string, unknown>[];
}
interface BookOutput {
  readonly success: boolean;
  readonly reference?: string;
  readonly error?: string;
}

/** The last tool output, parsed, when the last message is one. */
function lastToolOutput(view: ToolAgentView): { name: string; value: unknown } | undefined {
  const last = view.messages[view.messages.length - 1];
  if (last?.role !== 'tool') return undefined;
  try {
    return { name: last.name, value: JSON.parse(last.content) };
  } catch {
    return { name: last.name, value: undefined };
  }
}

/**
 * The oracle: reads the hidden goal through the privileged channel and makes exactly the goal's API
 * calls (each search, then its booking), then tells the user what it found and booked, again on every
 * turn, until the user is done. Its reward is 1 on every goal; it checks the environment, not a policy.
 */
export function toolwozOracle(goal: ToolwozGoal): ToolAgent {
  const pending = goalApiCalls(goal);
  const nextId = callIds();
  const found = new Map<ToolwozDomain, string>();
  const refs = new Map<ToolwozDomain, string>();
  return {
    name: 'oracle',
    act(view) {
      const out = lastToolOutput(view);
      if (out) {
        const domain = out.name.split('_')[1] as ToolwozDomain;
        const v = out.value as Partial<SearchOutput & BookOutput> | undefined;
        const first = v?.results?.[0];
        if (first && !found.has(domain)) found.set(domain, String(first[idField(domain)]));
        if (v?.reference) refs.set(domain, v.reference);
      }
      const call = pending.shift();
      if (call)
        return {
          plan: `goal API ${call.name}`,
          action: { kind: 'tool_call', call: { id: nextId(), name: call.name, arguments: { ...call.args } } },
        };
      const parts = goal.domains.map((d) => {
        const id = d.entity ?? found.get(d.domain) ?? 'nothing';
        const ref = refs.get(d.domain);
        return `${d.domain}: ${id}${ref ? `, booked, reference ${ref}` : ''}`;
      });
      return reply(`Here is everything: ${parts.join('; ')}.`);
    },
  };
}

const ASK_TEXT: Readonly<Record<string, string>> = {
  food: 'What type of food would you like?',
  pricerange: 'What price range do you have in mind?',
  area: 'Which area of town would you prefer?',
  parking: 'Do you need free parking?',
  internet: 'Do you need free wifi?',
  stars: 'How many stars should it have?',
  type: 'What type of place are you looking for?',
  departure: 'Where will you be departing from?',
  destination: 'Where are you going to?',
  leaveAt: 'What time would you like to leave?',
  arriveBy: 'What time do you need to arrive by?',
  day: 'What day would you like?',
  time: 'What time would you like?',
  people: 'For how many people?',
  stay: 'How many nights will you stay?',
};
/** The slots the rule agent asks about, in order, per domain. */
const ASK_ORDER: Readonly<Record<ToolwozDomain, readonly string[]>> = {
  restaurant: ['food', 'area', 'pricerange'],
  hotel: ['area', 'pricerange', 'type', 'stars', 'parking', 'internet'],
  attraction: ['type', 'area'],
  train: ['departure', 'destination', 'day', 'leaveAt', 'arriveBy'],
};
/** Words a user asks about -> the field of the offered row that answers. */
const REQUESTABLE: readonly [string, string][] = [
  ['departure time', 'leaveAt'],
  ['arrival time', 'arriveBy'],
  ['train id', 'trainID'],
  ['price range', 'pricerange'],
  ['food type', 'food'],
  ['entrance fee', 'entrance fee'],
  ['phone', 'phone'],
  ['address', 'address'],
  ['postcode', 'postcode'],
  ['price', 'price'],
  ['duration', 'duration'],
  ['reference', 'reference'],
  ['area', 'area'],
  ['stars', 'stars'],
  ['type', 'type'],
  ['parking', 'parking'],
  ['internet', 'internet'],
  ['name', 'name'],
];
const INFO_REQUEST = /\b(what is the|what are the|does it have|could you tell me the)\b/;

interface DomainBelief {
  search: SlotValues;
  book: SlotValues;
  dontCare: Set<string>;
  wantsBook: boolean;
  /** The entity offered or named, with what the last search showed of it. */
  offered?: Record<string, unknown>;
  searchedKey?: string;
  bookedRef?: string;
}

/**
 * A rule agent that follows what the user says, never the hidden goal: it reads the user's messages
 * with ToolwozNlu (domain, constraints, booking details, named entities), searches whenever the known
 * constraints change, offers the first result (or the entity the user named), asks for a missing
 * constraint while several rows match, books when asked and every booking detail is known, answers
 * questions about the offered entity from the search result, and says goodbye. With `greedy` it
 * searches once per domain, with what the user's first message said, and takes a named entity
 * without searching for it: a weaker baseline whose searches miss the constraints said later.
 */
export class ToolwozRuleAgent implements ToolAgent {
  readonly name: string;
  private readonly nlu: ToolwozNlu;
  private readonly nextId = callIds();
  private readonly beliefs = new Map<ToolwozDomain, DomainBelief>();
  private domain: ToolwozDomain | undefined;
  private lastAsked: string | undefined;

  constructor(
    db: ToolwozDb,
    nlu?: ToolwozNlu,
    private readonly greedy = false,
  ) {
    this.nlu = nlu ?? new ToolwozNlu(db);
    this.name = greedy ? 'greedy' : 'rule';
  }

  private belief(d: ToolwozDomain): DomainBelief {
    let b = this.beliefs.get(d);
    if (!b) {
      b = { search: {}, book: {}, dontCare: new Set(), wantsBook: false };
      this.beliefs.set(d, b);
    }
    return b;
  }

  private call(name: string, args: Record<string, string>, plan: string): ToolAgentStep {
    return { plan, action: { kind: 'tool_call', call: { id: this.nextId(), name, arguments: args } } };
  }

  private read(text: string): void {
    const t = normalizeText(text);
    const mentioned = this.nlu.domainsIn(text, this.domain);
    if (mentioned.length && (!this.domain || !mentioned.includes(this.domain))) this.domain = mentioned[0];
    const d = this.domain;
    if (!d) return;
    const b = this.belief(d);
    if (/\b(book|reserve|reservation)\b/.test(t)) b.wantsBook = true;
    // A question about the offered entity carries no constraints ("does it have free parking?").
    if (INFO_REQUEST.test(t)) return;
    const slots = this.nlu.slotsIn(d, text);
    const hotelType = /\b(?:is a|be a)\s+(hotel|guesthouse)\b/.exec(t);
    if (d === 'hotel') {
      delete slots.type;
      if (hotelType) slots.type = hotelType[1]!;
    }
    const id = slots[idField(d)];
    if (id !== undefined) {
      delete slots[idField(d)];
      if (d === 'train') b.offered = { trainID: id };
      else if (this.greedy) b.offered = { name: id };
      else b.search.name = id;
    }
    for (const [k, v] of Object.entries(slots)) {
      if (SEARCH_PARAMS[d].includes(k)) b.search[k] = v;
      else if (BOOK_PARAMS[d].includes(k)) b.book[k] = v;
    }
    if (/\b(dont mind|no preference|dont care|any)\b/.test(t) && this.lastAsked)
      b.dontCare.add(this.lastAsked);
    if (/\b(book|reserve|reservation)\b/.test(t)) b.wantsBook = true;
  }

  private ask(d: ToolwozDomain, b: DomainBelief): string | undefined {
    const slot = ASK_ORDER[d].find(
      (s) =>
        b.search[s] === undefined &&
        !b.dontCare.has(s) &&
        !(s === 'arriveBy' && b.search.leaveAt) &&
        !(s === 'leaveAt' && b.search.arriveBy),
    );
    this.lastAsked = slot;
    return slot ? ASK_TEXT[slot] : undefined;
  }

  private offerText(d: ToolwozDomain, b: DomainBelief, count: number): string {
    const row = b.offered!;
    const id = String(row[idField(d)]);
    const details = [
      'area',
      'food',
      'pricerange',
      'type',
      'stars',
      'leaveAt',
      'arriveBy',
      'departure',
      'destination',
    ]
      .filter((k) => typeof row[k] === 'string')
      .map((k) => `${k} ${row[k]}`)
      .join(', ');
    const head = count > 1 ? `I found ${count} options. How about ${id}` : `${id} matches`;
    const tail =
      count > 1
        ? (this.ask(d, b) ??
          (d === 'attraction' ? 'Would you like more information?' : 'Would you like to book it?'))
        : d === 'attraction'
          ? 'Would you like more information?'
          : 'Would you like to book it?';
    return `${head}${details ? ` (${details})` : ''}. ${tail}`;
  }

  act(view: ToolAgentView): ToolAgentStep {
    const out = lastToolOutput(view);
    const d = this.domain;
    if (out && d) {
      const b = this.belief(d);
      if (out.name.startsWith('search_')) {
        const v = out.value as SearchOutput | undefined;
        if (!v || v.count === 0) {
          b.offered = undefined;
          return reply(
            `I'm sorry, I could not find a ${d} like that. Could you change one of the constraints?`,
          );
        }
        const named = b.search.name;
        b.offered =
          (named && v.results.find((r) => normalizeText(String(r.name)) === normalizeText(named))) ||
          v.results[0]!;
        if (b.wantsBook && this.bookingReady(d, b)) return this.book(d, b);
        return reply(this.offerText(d, b, v.count));
      }
      const v = out.value as BookOutput | undefined;
      if (v?.success) {
        b.bookedRef = v.reference;
        return reply(
          `Your booking at ${String(b.offered?.[idField(d)] ?? d)} is confirmed. The reference number is ${v.reference}.`,
        );
      }
      return reply(
        `I'm sorry, the booking failed: ${v?.error ?? 'unknown error'}. Could you give me other details?`,
      );
    }
    const last = view.messages[view.messages.length - 1];
    if (last?.role !== 'user') return reply('How can I help you?');
    const text = last.content;
    this.read(text);
    const t = normalizeText(text);
    if (/\b(goodbye|bye)\b/.test(t)) return reply("You're welcome. Goodbye!");
    const dom = this.domain;
    if (!dom) return reply('Are you looking for a restaurant, a hotel, an attraction or a train?');
    const b = this.belief(dom);
    const key = JSON.stringify(Object.entries(b.search).sort());
    if (
      key !== b.searchedKey &&
      (!this.greedy || b.searchedKey === undefined) &&
      Object.keys(b.search).length > 0 &&
      !(dom === 'train' && b.offered && b.wantsBook)
    ) {
      b.searchedKey = key;
      return this.call(`search_${dom}`, { ...b.search }, `search ${dom} with what the user said`);
    }
    if (b.wantsBook && b.offered && !b.bookedRef) {
      if (this.bookingReady(dom, b)) return this.book(dom, b);
      const missing = BOOK_PARAMS[dom].find((p) => p !== idField(dom) && b.book[p] === undefined)!;
      return reply(ASK_TEXT[missing] ?? `What ${missing} would you like?`);
    }
    if (INFO_REQUEST.test(t) && b.offered) {
      const row = b.offered;
      const facts: string[] = [];
      let rest = t;
      for (const [word, field] of REQUESTABLE) {
        if (!rest.includes(word)) continue;
        rest = rest.replaceAll(word, ' ');
        const value =
          field === 'reference' ? (b.bookedRef ?? 'not booked yet') : String(row[field] ?? 'unknown');
        facts.push(`the ${word} is ${value}`);
      }
      if (facts.length) return reply(`For ${String(row[idField(dom)])}, ${facts.join(' and ')}.`);
    }
    if (b.offered) return reply(this.offerText(dom, b, 1));
    return reply(this.ask(dom, b) ?? 'Could you tell me more about what you are looking for?');
  }

  private bookingReady(d: ToolwozDomain, b: DomainBelief): boolean {
    return d !== 'attraction' && BOOK_PARAMS[d].every((p) => p === idField(d) || b.book[p] !== undefined);
  }

  private book(d: ToolwozDomain, b: DomainBelief): ToolAgentStep {
    const args: Record<string, string> = { [idField(d)]: String(b.offered![idField(d)]) };
    for (const p of BOOK_PARAMS[d]) if (p !== idField(d)) args[p] = b.book[p]!;
    return this.call(`book_${d}`, args, `book the ${d} the user accepted`);
  }
}

/** The scripted ToolWOZ policies for `gopo eval-policy --env toolwoz`. */
export function toolwozPolicies(db: ToolwozDb) {
  const nlu = new ToolwozNlu(db);
  const policies: ToolPolicy<ToolwozGoal>[] = [
    {
      name: 'oracle',
      description: 'makes the goal API calls from the hidden goal (privileged; an upper bound)',
      create: toolwozOracle,
    },
    {
      name: 'rule',
      description: 'follows what the user says: search, offer, ask, book',
      create: () => new ToolwozRuleAgent(db, nlu),
    },
    {
      name: 'greedy',
      description: 'searches once per domain with what the user said first, offers the first result',
      create: () => new ToolwozRuleAgent(db, nlu, true),
    },
  ];
  return toolPolicyRegistry('toolwoz policy', policies);
}
