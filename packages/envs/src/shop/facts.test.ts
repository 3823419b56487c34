import { Rng } from '@gopo/core';
import { SHOP_STRATEGIES, type ShopStrategy } from '@gopo/dialogue';
import { describe, expect, it } from 'vitest';
import { realizeStrategy } from './agent-templates.js';
import { shopStrategyPolicies } from './agents.js';
import { ShopEnv } from './env.js';
import { shopFacts } from './facts.js';
import { nluJudge, understand } from './nlu.js';
import { collectTemplateTurns } from './template-turns.js';

const cents = (x: number) => Math.round(x * 100);
const factPrices = (facts: string) =>
  new Set([...facts.matchAll(/\$(\d+(?:\.\d{1,2})?)/g)].map((m) => cents(Number(m[1]))));

describe('shopFacts', () => {
  it('states every item id, price, order id and coupon code of every template reply, for every admissible strategy in every state the scripted policies reach', async () => {
    const missing: string[] = [];
    const mentions = { item: 0, price: 0, order: 0, coupon: 0 };
    const withValues = new Set<ShopStrategy>();
    const sopStates = new Set<string>();
    let turns = 0;
    for (const name of shopStrategyPolicies.names()) {
      const all = await collectTemplateTurns({
        policy: shopStrategyPolicies.get(name),
        scenarios: 60,
        seed: 17,
        allAdmissible: true,
      });
      for (const t of all) {
        turns++;
        sopStates.add(t.sopState);
        const facts = t.facts.join('\n');
        const prices = factPrices(facts);
        const n = understand(t.text);
        const check = (kind: keyof typeof mentions, value: string, ok: boolean) => {
          mentions[kind]++;
          withValues.add(t.strategy);
          if (!ok)
            missing.push(
              `${kind} ${value} in ${t.strategy} (${t.sopState}): ${t.text}\n  ${t.facts.join('\n  ')}`,
            );
        };
        for (const id of n.itemIds) check('item', id, facts.includes(id));
        for (const id of n.orderIds) check('order', id, facts.includes(id));
        for (const code of n.couponCodes) check('coupon', code, facts.includes(code));
        for (const p of n.prices) check('price', `$${p}`, prices.has(cents(p)));
      }
    }
    expect(missing.slice(0, 5)).toEqual([]);
    // Not vacuous: thousands of replies over every SOP state, each kind stated many times, by every
    // strategy whose template states a value.
    expect(turns).toBeGreaterThan(5000);
    // Every SOP state but discovery, which these customers never leave the first turn in.
    expect([...sopStates].sort()).toEqual([
      'browsing',
      'deciding',
      'finalizing',
      'need_known',
      'opening',
      'order_handling',
      'verifying',
      'wrap_up',
    ]);
    for (const k of Object.values(mentions)) expect(k).toBeGreaterThan(200);
    expect([...withValues].sort()).toEqual(
      [
        'answer_question',
        'check_order',
        'compare',
        'confirm_purchase',
        'offer_coupon',
        'process_return',
        'recommend',
      ].sort(),
    );
  });

  it('never states what the customer has not said (the hidden goal stays hidden)', () => {
    const env = new ShopEnv();
    for (let seed = 0; seed < 80; seed++) {
      env.reset(seed);
      const goal = env.currentScenario.goal;
      const rng = Rng.fromSeed(seed, 'facts-test');
      expect(env.agentState().facts.length).toBeGreaterThan(0);
      while (!env.done) {
        const view = env.view();
        const facts = shopFacts(view).join('\n');
        if (!view.revealed.needStated) expect(facts).toBe('customer: need not stated');
        if (goal.type === 'purchase' && view.revealed.maxPrice === undefined)
          expect(facts).not.toMatch(/budget/);
        if ('orderId' in goal && view.revealed.orderId === undefined)
          expect(facts).not.toContain(goal.orderId);
        if (!view.revealed.topic) expect(facts).not.toContain(goal.type.replace(/_/g, ' '));
        const state = env.agentState();
        const admissible = SHOP_STRATEGIES.filter((_, k) => state.admissible[k]);
        const strategy = rng.pick(admissible);
        env.step({ strategy, text: realizeStrategy(strategy, view, rng) });
      }
    }
  });
});

describe('nluJudge', () => {
  it('reads template replies as their strategy and says null where no strategy cue is present', async () => {
    const turns = await collectTemplateTurns({
      policy: shopStrategyPolicies.get('uniform'),
      scenarios: 20,
      seed: 3,
    });
    const judged = await nluJudge.judge(turns.map((t) => t.text));
    expect(judged).toEqual(turns.map((t) => t.strategy));
    expect(await nluJudge.judge(['The weather is nice.', 'Hello and welcome to ShopCo!'])).toEqual([
      null,
      'greet',
    ]);
    expect(nluJudge.name).toBe('nlu');
  });
});
