/**
 * The entities a shop reply states, normalised for set comparisons: catalog item ids, order ids,
 * money amounts (to the cent) and coupon codes. The CS Agent's step reward compares the entities of a
 * reply with those of the template agent's reply for the same state and strategy (the slots the reply
 * is asked to provide, Du et al.'s Rg).
 */
const PATTERNS: readonly (readonly [kind: string, re: RegExp])[] = [
  ['item', /\bp-\d{4}\b/g],
  ['order', /\bo-\d{5}\b/g],
  ['amount', /\$\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?/g],
  ['coupon', /\b[A-Z]{3,}\d{1,3}\b/g],
];

export function mentionedEntities(text: string): string[] {
  const out = new Set<string>();
  for (const [kind, re] of PATTERNS) {
    for (const m of text.matchAll(re)) {
      if (kind === 'amount') {
        const cents = Math.round(Number(`${m[1]!.replace(/,/g, '')}.${(m[2] ?? '0').padEnd(2, '0')}`) * 100);
        out.add(`amount:${(cents / 100).toFixed(2)}`);
      } else out.add(`${kind}:${m[0]}`);
    }
  }
  return [...out].sort();
}
