import { describe, expect, it } from 'vitest';
import { ShopEnv, type StepResult } from './env.js';
import type { HiddenGoal, Persona, Scenario } from './scenario.js';
import { returnAllowed } from './world.js';

const env = new ShopEnv({ world: { items: 130, users: 40 } }, {});
const w = env.world;
const persona: Persona = { patience: 6, priceSensitivity: 0.9, verbosity: 0, cooperativeness: 1 };
const scenario = (goal: HiddenGoal, p: Partial<Persona> = {}): Scenario => ({
  id: 's-test',
  seed: 1,
  customerId: w.customers[0]!.id,
  persona: { ...persona, ...p },
  goal,
});
const act = (r: StepResult) => r.userTurn?.act;
const types = (r: StepResult) => r.events.map((e) => e.type);

describe('customer reactions', () => {
  const target = w.items.find((i) => i.stock > 0 && i.category === 'headphones')!;
  const pricey = w.items.find(
    (i) => i.category === 'headphones' && i.price > target.price * 2 && i.stock > 0,
  )!;
  const purchase: HiddenGoal = {
    type: 'purchase',
    category: 'headphones',
    maxPrice: Math.ceil(target.price * 1.05),
    wants: { color: target.attributes.color! },
    targetItemId: target.id,
    asksDiscount: true,
  };

  it('rejects an over-budget item, accepts a fitting one, wants a coupon, then buys', () => {
    const { userTurn } = env.reset(1, { scenario: scenario(purchase) });
    expect(userTurn.events.map((e) => e.type)).toEqual(['need_stated']);
    env.step({ strategy: 'greet', text: 'Hello and welcome to ShopCo!' });
    const r1 = env.step({
      strategy: 'recommend',
      text: `I'd recommend the ${pricey.name} (${pricey.id}) at $${pricey.price}.`,
    });
    expect(act(r1)).toBe('reject_price');
    expect(types(r1)).toEqual(['item_shown']);
    expect(r1.info.patienceLost).toBeGreaterThan(0.5);
    const r2 = env.step({ strategy: 'recommend', text: `I'd recommend the ${target.name} (${target.id}).` });
    expect(act(r2)).toBe('accept_item');
    expect(types(r2)).toEqual(['item_shown', 'item_accepted']);
    expect(r2.userTurn!.text).toMatch(/discount|coupon|promo|cheaper|deal|offers/i);
    const bad = env.step({ strategy: 'offer_coupon', text: 'You can use code TECH20 for 20% off.' });
    expect(act(bad)).toBe('invalid_coupon');
    const ok = env.step({ strategy: 'offer_coupon', text: 'You can use code WELCOME10 for 10% off.' });
    expect(types(ok)).toEqual(['coupon_applied']);
    const buy = env.step({
      strategy: 'confirm_purchase',
      text: `Shall I place the order for the ${target.name} (${target.id})?`,
    });
    expect(types(buy)).toEqual(['added_to_cart', 'purchased']);
    expect(buy.events[1]!.amount).toBeCloseTo(target.price * 0.9, 2);
    const bye = env.step({ strategy: 'close', text: 'Thanks for shopping with us, have a great day!' });
    expect(bye.done).toBe(true);
    expect(bye.info.outcome).toMatchObject({ status: 'success', converted: true });
  });

  it('refuses a refund outside the return window and accepts a goodwill coupon after the policy is explained', () => {
    const old = w.orders.find((o) => o.status === 'delivered' && !returnAllowed(o, w.policies))!;
    env.reset(2, {
      scenario: scenario({
        type: 'return_refund',
        orderId: old.id,
        itemId: old.lines[0]!.itemId,
        reason: 'too small',
        inWindow: false,
      }),
    });
    env.step({ strategy: 'greet', text: 'Hello and welcome to ShopCo!' });
    expect(
      types(env.step({ strategy: 'check_order', text: `I found your order ${old.id}: it was delivered.` })),
    ).toEqual(['order_found']);
    const r = env.step({ strategy: 'process_return', text: `I've started a return for order ${old.id}.` });
    expect(act(r)).toBe('return_rejected');
    expect(types(r)).toEqual([]);
    const a = env.step({
      strategy: 'answer_question',
      text: 'To answer your question: our return policy allows returns within 30 days.',
    });
    expect(act(a)).toBe('ask_alternative');
    const c = env.step({
      strategy: 'offer_coupon',
      text: 'Here is a coupon for you: code SORRY20 gives you 20% off.',
    });
    expect(c.done).toBe(true);
    expect(c.info.outcome!.status).toBe('partial');
  });

  it('catches the wrong order and acknowledges a complaint only when apologised to', () => {
    const late = w.orders.find((o) => o.status === 'shipped')!;
    const other = w.orders.find((o) => o.id !== late.id)!;
    env.reset(3, { scenario: scenario({ type: 'complaint', orderId: late.id, issue: 'late_delivery' }) });
    env.step({ strategy: 'greet', text: 'Hello and welcome to ShopCo!' });
    const wrong = env.step({
      strategy: 'check_order',
      text: `I found your order ${other.id}: it has shipped.`,
    });
    expect(act(wrong)).toBe('wrong_order');
    expect(wrong.userTurn!.text).toContain(late.id);
    expect(
      types(env.step({ strategy: 'check_order', text: `I found your order ${late.id}: it has shipped.` })),
    ).toEqual(['order_found']);
    expect(types(env.step({ strategy: 'reassure', text: "I'm so sorry about this." }))).toEqual([
      'complaint_acknowledged',
    ]);
    const fix = env.step({ strategy: 'offer_coupon', text: 'You can use code SORRY20 for 20% off.' });
    expect(types(fix)).toEqual(['coupon_applied', 'issue_resolved']);
  });

  it('an impatient customer leaves after repeated off-task replies', () => {
    const item = w.items[0]!;
    env.reset(4, {
      scenario: scenario({ type: 'product_question', itemId: item.id, attribute: 'color' }, { patience: 2 }),
    });
    let last: StepResult | undefined;
    for (let i = 0; i < 5 && !env.done; i++)
      last = env.step({ strategy: 'escalate', text: 'The weather is nice today.' });
    expect(last!.done).toBe(true);
    expect(last!.info.outcome!.status).toBe('abandoned');
    expect(types(last!)).toEqual(['user_left']);
  });
});
