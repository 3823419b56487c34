/**
 * Fact accuracy of CS replies (issue 19): every item id, price or amount, order id and coupon code a
 * reply states must be supported by the facts block it was written against (shopFacts of
 * @gopo/envs): an id or code by the same string in the facts, a price by a price in the facts equal
 * to the cent. What is not supported was invented. The patterns are configurable (zod, with the
 * shop's formats as defaults), so another domain brings its own id formats.
 */
import { parseConfig } from '@gopo/core';
import { z } from 'zod';

/** What the checker looks for, in report order. */
export const FACT_KINDS = ['item', 'price', 'order', 'coupon'] as const;
export type FactKind = (typeof FACT_KINDS)[number];

const regexSource = (what: string, example: string) =>
  z
    .string()
    .min(1)
    .superRefine((src, ctx) => {
      try {
        new RegExp(src, 'g');
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(e as Error).message}` });
      }
    })
    .describe(`regular expression (JavaScript source, matched globally) of ${what}, e.g. ${example}`);

export const FactPatternsSchema = z
  .strictObject({
    item: regexSource('an item id', 'p-0069').default(String.raw`\bp-\d{4}\b`),
    order: regexSource('an order id', 'o-10493').default(String.raw`\bo-\d{5}\b`),
    coupon: regexSource('a coupon code (case-sensitive)', 'WELCOME10').default(
      String.raw`\b[A-Z]{3,}\d{1,3}\b`,
    ),
    price: regexSource(
      'a price or amount; capture group 1 is the number, with optional thousands separators (",") and cents',
      '$39.99, $2,347.99, $50',
    )
      .default(String.raw`\$\s?(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)`)
      .superRefine((src, ctx) => {
        let groups = 0;
        try {
          groups = new RegExp(`${src}|`).exec('')!.length - 1;
        } catch {
          return; // reported above
        }
        if (groups < 1) ctx.addIssue({ code: 'custom', message: 'needs a capture group: the amount' });
      }),
  })
  .describe('how the fact checker finds item ids, order ids, coupon codes and prices in text');
export type FactPatterns = z.infer<typeof FactPatternsSchema>;
export type FactPatternsInput = z.input<typeof FactPatternsSchema>;

/** Validates fact patterns; a bad one is a ConfigError naming the field. */
export function parseFactPatterns(raw: FactPatternsInput = {}, source = '(fact patterns)'): FactPatterns {
  return parseConfig(FactPatternsSchema, raw, source);
}

/** The shop's formats: p-0069, o-10493, WELCOME10, $39.99 (also $2,347.99 and $50). */
export const SHOP_FACT_PATTERNS: FactPatterns = FactPatternsSchema.parse({});

/** One stated value: ids and codes as written, prices as the amount with two decimals ("2347.99"). */
export interface FactMention {
  readonly kind: FactKind;
  readonly value: string;
}

type Compiled = Readonly<Record<FactKind, RegExp>>;
const compiled = new WeakMap<FactPatterns, Compiled>();
function compile(p: FactPatterns): Compiled {
  let c = compiled.get(p);
  if (!c) {
    c = {
      item: new RegExp(p.item, 'g'),
      order: new RegExp(p.order, 'g'),
      coupon: new RegExp(p.coupon, 'g'),
      price: new RegExp(p.price, 'g'),
    };
    compiled.set(p, c);
  }
  return c;
}

/** "2,347.9" -> "2347.90": the amount in cents, written with two decimals. */
function amount(text: string): string {
  return (Math.round(Number(text.replace(/,/g, '')) * 100) / 100).toFixed(2);
}

/** The distinct ids, codes and prices `text` states, kinds in FACT_KINDS order, values in order of appearance. */
export function factMentions(text: string, patterns: FactPatterns = SHOP_FACT_PATTERNS): FactMention[] {
  const re = compile(patterns);
  const out: FactMention[] = [];
  for (const kind of FACT_KINDS) {
    const seen = new Set<string>();
    for (const m of text.matchAll(re[kind])) {
      const value = kind === 'price' ? amount(m[1] ?? m[0]) : m[0];
      if (seen.has(value)) continue;
      seen.add(value);
      out.push({ kind, value });
    }
  }
  return out;
}

/** A stated value and where its first occurrence ends in the text (exclusive character offset). */
export interface FactMentionSpan extends FactMention {
  readonly end: number;
}

/**
 * factMentions with the end of each value's first occurrence: where a token-level reward may count the
 * value as stated (the token that completes its text).
 */
export function factMentionSpans(
  text: string,
  patterns: FactPatterns = SHOP_FACT_PATTERNS,
): FactMentionSpan[] {
  const re = compile(patterns);
  const out: FactMentionSpan[] = [];
  for (const kind of FACT_KINDS) {
    const seen = new Set<string>();
    for (const m of text.matchAll(re[kind])) {
      const value = kind === 'price' ? amount(m[1] ?? m[0]) : m[0];
      if (seen.has(value)) continue;
      seen.add(value);
      out.push({ kind, value, end: (m.index ?? 0) + m[0].length });
    }
  }
  return out;
}

/** What one reply states and which of it the facts do not support. */
export interface FactCheck {
  /** Distinct values stated, per kind (a value repeated in one reply is one claim). */
  readonly mentions: Readonly<Record<FactKind, number>>;
  /** The stated values that are not in the facts. */
  readonly invented: readonly FactMention[];
}

/**
 * Checks one reply against the facts block it was written with: every id, code and price it states
 * must appear among the facts' own (the same string; a price equal to the cent: $50 matches $50.00).
 */
export function checkFacts(
  reply: string,
  facts: readonly string[] | string,
  patterns: FactPatterns = SHOP_FACT_PATTERNS,
): FactCheck {
  const known = new Set(
    factMentions(typeof facts === 'string' ? facts : facts.join('\n'), patterns).map(
      (m) => `${m.kind}:${m.value}`,
    ),
  );
  const mentions: Record<FactKind, number> = { item: 0, price: 0, order: 0, coupon: 0 };
  const invented: FactMention[] = [];
  for (const m of factMentions(reply, patterns)) {
    mentions[m.kind]++;
    if (!known.has(`${m.kind}:${m.value}`)) invented.push(m);
  }
  return { mentions, invented };
}

export interface FactAccuracyPart {
  readonly mentions: number;
  readonly invented: number;
  /** Share of mentions supported (1 when there are none). */
  readonly accuracy: number;
}

/** Corpus-level fact accuracy: the share of all stated values that the facts support, overall and per kind. */
export interface FactAccuracy extends FactAccuracyPart {
  readonly replies: number;
  /** Replies with at least one invented value. */
  readonly repliesWithInvented: number;
  readonly byKind: Readonly<Record<FactKind, FactAccuracyPart>>;
}

const part = (mentions: number, invented: number): FactAccuracyPart => ({
  mentions,
  invented,
  accuracy: mentions === 0 ? 1 : (mentions - invented) / mentions,
});

/** Sums fact checks over a corpus of replies. */
export function factAccuracy(checks: Iterable<FactCheck>): FactAccuracy {
  const m: Record<FactKind, number> = { item: 0, price: 0, order: 0, coupon: 0 };
  const inv: Record<FactKind, number> = { item: 0, price: 0, order: 0, coupon: 0 };
  let replies = 0;
  let repliesWithInvented = 0;
  for (const c of checks) {
    replies++;
    if (c.invented.length > 0) repliesWithInvented++;
    for (const k of FACT_KINDS) m[k] += c.mentions[k];
    for (const x of c.invented) inv[x.kind]++;
  }
  const total = FACT_KINDS.reduce((s, k) => s + m[k], 0);
  const invented = FACT_KINDS.reduce((s, k) => s + inv[k], 0);
  const byKind = Object.fromEntries(FACT_KINDS.map((k) => [k, part(m[k], inv[k])])) as Record<
    FactKind,
    FactAccuracyPart
  >;
  return { ...part(total, invented), replies, repliesWithInvented, byKind };
}
