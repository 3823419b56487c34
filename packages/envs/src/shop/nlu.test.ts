import { readFileSync } from 'node:fs';
import { Rng } from '@gopo/core';
import { SHOP_STRATEGIES } from '@gopo/dialogue';
import { describe, expect, it } from 'vitest';
import { realizeStrategy } from './agent-templates.js';
import { ShopEnv } from './env.js';
import { adherence, understand } from './nlu.js';
import { shopPolicies } from './policies.js';

interface Golden {
  text: string;
  strategy: string | null;
  itemIds?: string[];
  orderIds?: string[];
  prices?: number[];
  couponCodes?: string[];
  negated?: boolean;
}

const golden: Golden[] = JSON.parse(
  readFileSync(new URL('./fixtures/nlu-golden.json', import.meta.url), 'utf8'),
);

describe('NLU golden cases', () => {
  for (const g of golden) {
    it(`reads ${JSON.stringify(g.text.slice(0, 50))} as ${g.strategy}`, () => {
      const r = understand(g.text);
      expect(r.strategy).toBe(g.strategy);
      if (g.itemIds) expect(r.itemIds).toEqual(g.itemIds);
      if (g.orderIds) expect(r.orderIds).toEqual(g.orderIds);
      if (g.prices) expect(r.prices).toEqual(g.prices);
      if (g.couponCodes) expect(r.couponCodes).toEqual(g.couponCodes);
      if (g.negated !== undefined) expect(r.negated).toBe(g.negated);
    });
  }

  it('scores adherence 1 only for the commanded strategy', () => {
    expect(adherence('You can use code SAVE15 for 15% off.', 'offer_coupon')).toBe(1);
    expect(adherence('You can use code SAVE15 for 15% off.', 'recommend')).toBe(0);
  });
});

describe('template CS agent', () => {
  it('realises every strategy as text the NLU reads as that strategy, in every state the policies reach', () => {
    const env = new ShopEnv({ world: { items: 130, users: 30 } });
    const rng = Rng.fromSeed(5, 'realize');
    const misses: string[] = [];
    let checked = 0;
    for (const policy of ['oracle', 'template', 'random']) {
      for (let seed = 0; seed < 40; seed++) {
        let { observation } = env.reset(seed);
        const prng = Rng.fromSeed(seed, policy);
        while (!env.done) {
          for (const s of SHOP_STRATEGIES) {
            for (let k = 0; k < 3; k++) {
              const text = realizeStrategy(s, env.view(), rng);
              checked++;
              if (understand(text).strategy !== s) misses.push(`${s}: ${text}`);
            }
          }
          observation = env.step(shopPolicies.get(policy).act(env, observation, prng)).info.observation;
        }
      }
    }
    expect(checked).toBeGreaterThan(3000);
    expect(misses).toEqual([]);
  });
});
