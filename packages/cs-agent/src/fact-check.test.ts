import { ConfigError } from '@gopo/core';
import { collectTemplateTurns, shopStrategyPolicies } from '@gopo/envs';
import { describe, expect, it } from 'vitest';
import { checkFacts, factAccuracy, factMentions, parseFactPatterns } from './fact-check.js';

const FACTS = [
  'customer: purchase; laptops; budget $2,500; ram 16 GB',
  'catalog: p-0069 $2347.99 Lumen Pro 5X laptop | p-0123 $899.00 Altus Go 2 laptop',
  'chosen: p-0214 $39.99 Sonora Pulse 3X headphones; $35.19 with AUDIO12',
  'order o-10493: was delivered 4 days ago; $1,204.50; return allowed (window 30 days)',
  'coupon: AUDIO12 12% off',
  'shipping: 5 days, free over $50; express 2 days $9.99; returns 30 days',
];

describe('checkFacts: golden cases', () => {
  it('supports ids and codes that are in the facts and flags the ones that are not', () => {
    const r = checkFacts(
      'I recommend the Lumen Pro 5X laptop (p-0069); p-0070 is similar. Use AUDIO12 or SAVE15.',
      FACTS,
    );
    expect(r.mentions).toEqual({ item: 2, price: 0, order: 0, coupon: 2 });
    expect(r.invented).toEqual([
      { kind: 'item', value: 'p-0070' },
      { kind: 'coupon', value: 'SAVE15' },
    ]);
  });

  it('matches prices to the cent, with or without cents and thousands separators', () => {
    // $2,347.99 = $2347.99; $50.00 = $50; $899 = $899.00; $1204.5 = $1,204.50.
    const ok = checkFacts(
      'Options: $2,347.99 or $899; shipping free over $50.00; order total $1204.5.',
      FACTS,
    );
    expect(ok).toEqual({ mentions: { item: 0, price: 4, order: 0, coupon: 0 }, invented: [] });
    const bad = checkFacts('It is $2,347.98, or $39.90, or $9.99 express, or $35.19 with the code.', FACTS);
    expect(bad.mentions.price).toBe(4);
    expect(bad.invented).toEqual([
      { kind: 'price', value: '2347.98' },
      { kind: 'price', value: '39.90' },
    ]);
  });

  it('checks order ids and counts a repeated value once', () => {
    const r = checkFacts('I found order o-10493. Order o-10493 and o-10494 are yours; o-10494 too.', FACTS);
    expect(r.mentions.order).toBe(2);
    expect(r.invented).toEqual([{ kind: 'order', value: 'o-10494' }]);
  });

  it('takes ids whole: p-0069 is not supported by p-00691, nor AUDIO1 by AUDIO12', () => {
    const r = checkFacts('p-0069 and AUDIO1', ['catalog: p-00691 $5.00 x', 'coupon: AUDIO12 12% off']);
    expect(r.invented).toEqual([
      { kind: 'item', value: 'p-0069' },
      { kind: 'coupon', value: 'AUDIO1' },
    ]);
  });

  it('finds nothing in a reply without ids, codes or prices', () => {
    expect(checkFacts('Thanks for shopping with us, rated 4.8 and 20% off!', FACTS)).toEqual({
      mentions: { item: 0, price: 0, order: 0, coupon: 0 },
      invented: [],
    });
  });

  it('computes corpus fact accuracy over all mentions and per kind', () => {
    const checks = [
      checkFacts('p-0069 at $2347.99', FACTS), // 2 mentions, 0 invented
      checkFacts('p-9999 at $1.00 with AUDIO12', FACTS), // 3 mentions, 2 invented
      checkFacts('Hello!', FACTS), // none
    ];
    const a = factAccuracy(checks);
    expect(a.mentions).toBe(5);
    expect(a.invented).toBe(2);
    expect(a.accuracy).toBeCloseTo(3 / 5, 12);
    expect(a.replies).toBe(3);
    expect(a.repliesWithInvented).toBe(1);
    expect(a.byKind.item).toEqual({ mentions: 2, invented: 1, accuracy: 0.5 });
    expect(a.byKind.price).toEqual({ mentions: 2, invented: 1, accuracy: 0.5 });
    expect(a.byKind.coupon).toEqual({ mentions: 1, invented: 0, accuracy: 1 });
    expect(a.byKind.order).toEqual({ mentions: 0, invented: 0, accuracy: 1 });
    expect(factAccuracy([]).accuracy).toBe(1);
  });
});

describe('fact patterns', () => {
  it('takes another domain’s formats', () => {
    const p = parseFactPatterns({ order: String.raw`#W\d{7}\b`, price: String.raw`(\d+(?:\.\d{1,2})?) USD` });
    expect(factMentions('order #W1234567 costs 12.5 USD, p-0001', p)).toEqual([
      { kind: 'item', value: 'p-0001' },
      { kind: 'price', value: '12.50' },
      { kind: 'order', value: '#W1234567' },
    ]);
    expect(checkFacts('#W1234567 for 12.50 USD', ['#W1234567 total 12.5 USD'], p).invented).toEqual([]);
  });

  it('refuses a pattern that is not a regular expression or a price pattern without its amount group', () => {
    expect(() => parseFactPatterns({ item: 'p-(' })).toThrow(ConfigError);
    expect(() => parseFactPatterns({ item: 'p-(' })).toThrow(/item: not a regular expression/);
    expect(() => parseFactPatterns({ price: String.raw`\$\d+` })).toThrow(/price: needs a capture group/);
    expect(() => parseFactPatterns({ sku: 'x' } as never)).toThrow(/unknown key "sku"/);
  });
});

describe('checkFacts: the template agent', () => {
  it('property: template replies state only what their turn’s facts hold (100% fact accuracy), for every admissible strategy', async () => {
    const checks = [];
    for (const name of ['oracle', 'cautious', 'uniform']) {
      const turns = await collectTemplateTurns({
        policy: shopStrategyPolicies.get(name),
        scenarios: 40,
        seed: 29,
        allAdmissible: true,
      });
      for (const t of turns) checks.push(checkFacts(t.text, t.facts));
    }
    const a = factAccuracy(checks);
    expect(a.invented).toBe(0);
    expect(a.accuracy).toBe(1);
    for (const k of ['item', 'price', 'order', 'coupon'] as const)
      expect(a.byKind[k].mentions).toBeGreaterThan(100);
  });
});
