import type { Rng } from '@gopo/core';
import { normalizeValue } from '@gopo/rewards';
import { idField, type ToolwozDb, type ToolwozDomain } from './db.js';
import type { DomainGoal, ToolwozGoal } from './goals.js';
import { normalizeText, type ToolwozNlu } from './nlu.js';

/** How a scripted-user dialogue ended. */
export type ToolwozUserEnd = 'goal_done' | 'user_left';

export interface ToolwozUserReply {
  readonly text: string;
  /** Set when the user ends the dialogue with this message. */
  readonly end?: ToolwozUserEnd;
}

const NOUN: Readonly<Record<ToolwozDomain, readonly string[]>> = {
  restaurant: ["I'm looking for a restaurant", 'I need a place to eat', 'Can you help me find a restaurant'],
  hotel: ["I'm looking for a hotel", 'I need a place to stay', 'Can you help me find somewhere to stay'],
  attraction: [
    "I'm looking for an attraction",
    'I want to find something to do in town',
    'I need a place to visit',
  ],
  train: ['I need a train', "I'm looking for a train", 'Can you help me find a train'],
};

/** How the user says a search or booking value (read back by ToolwozNlu). */
function phrase(domain: ToolwozDomain, slot: string, value: string): string {
  switch (slot) {
    case 'food':
      return `serving ${value} food`;
    case 'pricerange':
      return `in the ${value} price range`;
    case 'area':
      return value === 'centre' ? 'in the centre of town' : `in the ${value}`;
    case 'name':
      return `called ${value}`;
    case 'parking':
      return value === 'yes' ? 'with free parking' : 'without free parking';
    case 'internet':
      return value === 'yes' ? 'with free wifi' : 'without free wifi';
    case 'stars':
      return `with ${value} stars`;
    case 'type':
      return domain === 'hotel' ? `that is a ${value}` : `of the ${value} kind`;
    case 'departure':
      return `leaving from ${value}`;
    case 'destination':
      return `going to ${value}`;
    case 'leaveAt':
      return `leaving after ${value}`;
    case 'arriveBy':
      return `arriving by ${value}`;
    case 'day':
      return `on ${value}`;
    case 'time':
      return `at ${value}`;
    case 'people':
      return value === '1' ? 'for 1 person' : `for ${value} people`;
    case 'stay':
      return `for ${value} nights`;
    default:
      return `with ${slot} ${value}`;
  }
}

/** Words by which an agent asks about a slot. */
const ASKS: Readonly<Record<string, RegExp>> = {
  food: /\b(food|cuisine)\b/,
  pricerange: /\b(price|budget|expensive|cheap)\b/,
  area: /\b(area|part of town|where in town|location)\b/,
  parking: /\bparking\b/,
  internet: /\b(internet|wifi)\b/,
  stars: /\bstars?\b/,
  type: /\b(type|kind)\b/,
  departure: /\b(depart|departing|leaving from|where from|from where|travelling from|traveling from)\b/,
  destination: /\b(destination|going to|where to|heading)\b/,
  leaveAt: /\b(leave|departure time|what time)\b/,
  arriveBy: /\b(arrive|arrival)\b/,
  day: /\b(day|when)\b/,
  time: /\b(time|when)\b/,
  people: /\b(how many|people|party|guests)\b/,
  stay: /\b(nights|how long)\b/,
};

/** How the user asks for a requested slot. */
const REQT_WORDS: Readonly<Record<string, string>> = {
  leaveAt: 'departure time',
  arriveBy: 'arrival time',
  trainID: 'train id',
  pricerange: 'price range',
  food: 'food type',
};

const CONFIRMED = /\b(booked|reserved|reservation is confirmed|booking is confirmed|reference)\b/;
const FAILED = /\b(sorry|unable|could not|couldnt|cannot|cant|failed|unavailable|not available)\b/;

interface DomainState {
  readonly goal: DomainGoal;
  /** Search constraints not said yet, in the order the user will say them. */
  readonly hidden: string[];
  bookSaid: boolean;
  accepted: boolean;
  asked: boolean;
}

/**
 * A scripted goal-driven ToolWOZ user. It raises the goal's domains one at a time, opening with the
 * domain and one or two constraints and revealing the rest one per turn (the one the agent asks
 * about first); when the agent offers the goal's entity (or, without one, an entity that meets every
 * constraint) it asks to book it with the booking details, or for the slots it wants to know; when
 * everything is said and the agent offers something else, it names the entity it wants. It reads the
 * agent's replies only (never the tool calls): entity names, booking confirmations, questions. It
 * leaves after `patience` turns that bring nothing new, and says goodbye when every domain is done.
 */
export class ToolwozUser {
  private readonly states: DomainState[];
  private current = 0;
  private patience: number;

  constructor(
    readonly goal: ToolwozGoal,
    private readonly db: ToolwozDb,
    private readonly nlu: ToolwozNlu,
    private readonly rng: Rng,
    patience = 3,
  ) {
    this.patience = patience;
    this.states = goal.domains.map((g) => ({
      goal: g,
      hidden: rng.shuffle(Object.keys(g.search)),
      bookSaid: false,
      accepted: false,
      asked: false,
    }));
  }

  /** Domains whose part of the dialogue is finished. */
  get domainsDone(): number {
    return this.current;
  }

  /** The user's opening message. */
  open(): string {
    return `${this.rng.pick(['Hello! ', 'Hi. ', ''])}${this.opening(this.states[0]!)}`;
  }

  private opening(s: DomainState): string {
    const n = Math.min(s.hidden.length, 1 + this.rng.int(2));
    const said = s.hidden.splice(0, n).map((k) => phrase(s.goal.domain, k, s.goal.search[k]!));
    return `${this.rng.pick(NOUN[s.goal.domain])}${said.length ? ` ${said.join(' and ')}` : ''}.`;
  }

  /** Reveals the constraint the agent asked about, else the next one; undefined when all are said. */
  private reveal(s: DomainState, agentText: string): string | undefined {
    if (s.hidden.length === 0) return undefined;
    const t = normalizeText(agentText);
    let i = s.hidden.findIndex((k) => ASKS[k]?.test(t));
    if (i < 0) i = 0;
    const [k] = s.hidden.splice(i, 1);
    return phrase(s.goal.domain, k!, s.goal.search[k!]!);
  }

  private bookingRequest(s: DomainState): string {
    s.bookSaid = true;
    const details = Object.entries(s.goal.book ?? {}).map(([k, v]) => phrase(s.goal.domain, k, v));
    return `${this.rng.pick(['Please book it', 'Could you book it', "I'd like to book it"])} ${details.join(' ')}.`;
  }

  /** Whether an offered entity is one the user takes. */
  private acceptable(s: DomainState, id: string): boolean {
    if (s.goal.entity) return normalizeValue(id) === normalizeValue(s.goal.entity);
    return this.db.search(s.goal.domain, { ...s.goal.search, [idField(s.goal.domain)]: id }).length > 0;
  }

  /** Moves to the next domain; the reply raises it, or says goodbye. */
  private next(): ToolwozUserReply {
    this.current++;
    const s = this.states[this.current];
    if (!s)
      return {
        text: this.rng.pick([
          "Thanks, that's all I need. Goodbye.",
          'Thank you, goodbye!',
          'Great, that is everything. Bye.',
        ]),
        end: 'goal_done',
      };
    const lead = this.rng.pick([
      'Thanks. I also need something else.',
      'Great. One more thing.',
      'Thank you. Also,',
    ]);
    return { text: `${lead} ${this.opening(s)}` };
  }

  private stall(text: string): ToolwozUserReply {
    this.patience--;
    if (this.patience <= 0) return { text: "Never mind, I'll look elsewhere. Goodbye.", end: 'user_left' };
    return { text };
  }

  /** The user's answer to an agent reply. */
  react(agentText: string): ToolwozUserReply {
    const s = this.states[this.current]!;
    const domain = s.goal.domain;
    const t = normalizeText(agentText);
    const offered = this.nlu.entitiesIn(domain, agentText);
    const good = offered.find((id) => this.acceptable(s, id));
    if (s.bookSaid) {
      if (CONFIRMED.test(t) && !FAILED.test(t)) return this.next();
      const asked = Object.entries(s.goal.book ?? {}).find(([k]) => ASKS[k]?.test(t));
      if (asked) return { text: `It's ${phrase(domain, asked[0], asked[1])}.` };
      return this.stall(`Could you please make the booking? ${this.bookingRequest(s)}`);
    }
    // Every constraint is said before the user settles on anything.
    const more = this.reveal(s, agentText);
    if (more)
      return { text: `${this.rng.pick(['I want something', 'It should be', 'I would like it'])} ${more}.` };
    if (good) s.accepted = true;
    if (s.accepted) {
      if (s.goal.book) return { text: `${good} sounds good. ${this.bookingRequest(s)}` };
      if (s.goal.reqt.length && !s.asked) {
        s.asked = true;
        const words = s.goal.reqt.map((r) => REQT_WORDS[r] ?? r);
        return { text: `That sounds good. What is the ${words.join(' and the ')}?` };
      }
      return this.next();
    }
    if (s.goal.entity)
      return this.stall(
        domain === 'train'
          ? `Is train ${s.goal.entity} available? I'd like that one.`
          : `Actually, I'd like ${s.goal.entity}. Is that one available?`,
      );
    return this.stall('Can you find one for me with what I told you?');
  }
}
