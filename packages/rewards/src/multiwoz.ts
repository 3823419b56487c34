import { corpusBleu } from './bleu.js';
import { normalizeValue } from './josh.js';

/** What the user wanted in one domain: constraints on the entity and the slots to be told. */
export interface DomainGoal {
  readonly info: Readonly<Record<string, string>>;
  readonly reqt: readonly string[];
}

/** What the system did in one domain over the dialogue. */
export interface DomainOutcome {
  /** Attributes of the last entity the system offered (venue, train), or undefined if none. */
  readonly offered?: Readonly<Record<string, string>>;
  /** Slots whose values the system gave the user (phone, address, reference, ...). */
  readonly provided: readonly string[];
}

export interface MultiwozDialogue {
  readonly goal: Readonly<Record<string, DomainGoal>>;
  readonly outcome: Readonly<Record<string, DomainOutcome>>;
}

const IGNORED = new Set(['', 'dont care', 'dontcare', 'not mentioned', 'none']);

/** Equality, except leaveAt (leave at or after) and arriveBy (arrive at or before), as HH:MM strings. */
function satisfies(slot: string, got: string, wanted: string): boolean {
  if (slot === 'leaveAt') return got >= wanted;
  if (slot === 'arriveBy') return got <= wanted;
  return got === wanted;
}

/**
 * Inform: in every goal domain with constraints, the last offered entity matches all of them
 * (normalised values; "dont care" constraints are ignored; leaveAt and arriveBy are bounds, not
 * equalities). Domains without constraints need no entity.
 */
export function informOf(d: MultiwozDialogue): boolean {
  for (const [domain, goal] of Object.entries(d.goal)) {
    const wanted = Object.entries(goal.info).filter(([, v]) => !IGNORED.has(normalizeValue(v)));
    if (wanted.length === 0) continue;
    const offered = d.outcome[domain]?.offered;
    if (!offered) return false;
    for (const [slot, v] of wanted) {
      const got = offered[slot];
      if (got === undefined || !satisfies(slot, normalizeValue(got), normalizeValue(v))) return false;
    }
  }
  return true;
}

/** Success: Inform, and every requested slot of every goal domain was provided. */
export function successOf(d: MultiwozDialogue): boolean {
  if (!informOf(d)) return false;
  for (const [domain, goal] of Object.entries(d.goal)) {
    const provided = new Set(d.outcome[domain]?.provided ?? []);
    for (const slot of goal.reqt) if (!provided.has(slot)) return false;
  }
  return true;
}

export interface MultiwozScores {
  readonly dialogues: number;
  /** Percent. */
  readonly inform: number;
  readonly success: number;
  readonly bleu: number;
  /** (Inform + Success) / 2 + BLEU. */
  readonly combined: number;
}

/**
 * Corpus Inform and Success rates (%), BLEU of the system turns against references (13a, no
 * smoothing unless asked) and Combined = (Inform + Success) / 2 + BLEU.
 */
export function multiwozScores(
  dialogues: readonly MultiwozDialogue[],
  hypotheses: readonly string[],
  references: readonly string[],
): MultiwozScores {
  const n = dialogues.length;
  let inform = 0;
  let success = 0;
  for (const d of dialogues) {
    if (informOf(d)) inform++;
    if (successOf(d)) success++;
  }
  const informPct = n === 0 ? Number.NaN : (100 * inform) / n;
  const successPct = n === 0 ? Number.NaN : (100 * success) / n;
  const bleu = hypotheses.length === 0 ? 0 : corpusBleu(hypotheses, [references]).score;
  return {
    dialogues: n,
    inform: informPct,
    success: successPct,
    bleu,
    combined: (informPct + successPct) / 2 + bleu,
  };
}
