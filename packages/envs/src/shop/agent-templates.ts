import type { Rng } from '@gopo/core';
import type { ShopStrategy } from '@gopo/dialogue';
import { match } from 'ts-pattern';
import type { AgentView } from './state.js';
import {
  attributeLabel,
  bestCoupon,
  type Coupon,
  couponApplies,
  type Item,
  type Order,
  returnAllowed,
  type World,
} from './world.js';

const money = (x: number) => `$${x.toFixed(2)}`;
const pick = (rng: Rng, xs: readonly string[]) => rng.pick(xs);

const ranked = new WeakMap<World, Map<string, readonly Item[]>>();
/** Catalog items best first (rating, then price, then id), per category and overall ('*'); computed once per world. */
function rankedItems(world: World, category: string | undefined): readonly Item[] {
  let table = ranked.get(world);
  if (!table) {
    const order = (a: Item, b: Item) => b.rating - a.rating || a.price - b.price || a.id.localeCompare(b.id);
    table = new Map([['*', [...world.items].sort(order)]]);
    for (const [cat, items] of world.itemsByCategory) table.set(cat, [...items].sort(order));
    ranked.set(world, table);
  }
  return table.get(category ?? '*') ?? [];
}

/**
 * Up to `limit` in-stock items that satisfy every constraint the customer has revealed, best rated
 * first, skipping items the customer rejected and those in `exclude`.
 */
export function searchCatalog(view: AgentView, limit = 5, exclude: readonly string[] = []): Item[] {
  const { revealed, progress, world } = view;
  const wants = Object.entries(revealed.wants);
  const out: Item[] = [];
  for (const it of rankedItems(world, revealed.category)) {
    if (it.stock <= 0 || (revealed.maxPrice !== undefined && it.price > revealed.maxPrice)) continue;
    if (progress.rejectedItems.includes(it.id) || exclude.includes(it.id)) continue;
    if (!wants.every(([k, v]) => it.attributes[k] === v)) continue;
    out.push(it);
    if (out.length >= limit) break;
  }
  return out;
}

export function statusPhrase(order: Order): string {
  return match(order.status)
    .with('processing', () => `is being prepared and should arrive in about ${order.etaDays} days`)
    .with('shipped', () => `has shipped with ${order.carrier} and should arrive in ${order.etaDays} days`)
    .with('delivered', () => `was delivered ${order.deliveredDaysAgo} days ago`)
    .exhaustive();
}

function itemRef(it: Item): string {
  return `the ${it.name} (${it.id}) at ${money(it.price)}`;
}

function lookupOrder(view: AgentView): Order | undefined {
  return view.revealed.orderId ? view.world.ordersById.get(view.revealed.orderId) : undefined;
}

/** The item a return or replacement is about: the one the customer named, else the order's first. */
export function returnedItem(view: AgentView, order: Order): Item {
  return view.world.itemsById.get(view.revealed.itemId ?? order.lines[0]!.itemId)!;
}

/** The item the template recommends: the best match not shown yet, else the best match. */
export function recommendedItem(view: AgentView): Item | undefined {
  return searchCatalog(view, 1, view.progress.shownItems)[0] ?? searchCatalog(view, 1)[0];
}

/**
 * The two items the template compares: the two best matches, filled up with the best in-stock items
 * of the category (or of the whole catalog when none is known); undefined when there are not two.
 */
export function comparedItems(view: AgentView): readonly [Item, Item] | undefined {
  const hits = searchCatalog(view, 2);
  const extra =
    hits.length >= 2
      ? []
      : rankedItems(view.world, view.revealed.category)
          .filter((x) => x.stock > 0 && !hits.includes(x))
          .slice(0, 2);
  const [a, b] = [...hits, ...extra];
  return a && b ? [a, b] : undefined;
}

/** What a purchase confirmation names: the chosen item (else the best match) and its price after the coupon given, when that coupon applies. */
export function purchaseQuote(view: AgentView): { item: Item; price: number; coupon?: Coupon } | undefined {
  const { world, progress } = view;
  const item = progress.acceptedItemId
    ? world.itemsById.get(progress.acceptedItemId)
    : searchCatalog(view, 1)[0];
  if (!item) return undefined;
  const c = progress.couponCode
    ? world.policies.coupons.find((x) => x.code === progress.couponCode)
    : undefined;
  return c && couponApplies(c, item.category, item.price)
    ? { item, price: item.price * (1 - c.percent / 100), coupon: c }
    : { item, price: item.price };
}

/** The coupon the template agent offers in this state (a valid one when a valid one exists). */
export function couponFor(view: AgentView): string {
  const { world, progress, revealed } = view;
  const accepted = progress.acceptedItemId ? world.itemsById.get(progress.acceptedItemId) : undefined;
  if (accepted) return bestCoupon(world.policies, accepted.category, accepted.price)?.code ?? 'WELCOME10';
  if (revealed.topic === 'complaint' || revealed.topic === 'return_refund') return 'SORRY20';
  return 'WELCOME10';
}

function answerText(view: AgentView, rng: Rng): string {
  const { world, revealed, progress } = view;
  if (revealed.itemId && revealed.attribute && revealed.topic === 'product_question') {
    const it = world.itemsById.get(revealed.itemId)!;
    const v = it.attributes[revealed.attribute];
    const label = attributeLabel(revealed.attribute);
    if (typeof v === 'boolean')
      return v
        ? pick(rng, [
            `Yes, the ${it.name} (${it.id}) does have ${label}.`,
            `Good question: the ${it.name} (${it.id}) comes with ${label}, yes.`,
          ])
        : pick(rng, [
            `No, the ${it.name} (${it.id}) does not have ${label}.`,
            `Good question: the ${it.name} (${it.id}) is without ${label}, unfortunately.`,
          ]);
    return pick(rng, [
      `Good question: the ${label} of the ${it.name} (${it.id}) is ${v}.`,
      `To answer your question, the ${it.name} (${it.id}) has ${label} ${v}.`,
    ]);
  }
  const order = lookupOrder(view);
  if (
    order &&
    progress.orderFound &&
    (revealed.topic === 'return_refund' || revealed.topic === 'complaint')
  ) {
    const days = order.deliveredDaysAgo;
    const window = world.policies.returnWindowDays;
    return returnAllowed(order, world.policies)
      ? `To answer your question: our return policy allows returns within ${window} days of delivery, so order ${order.id} qualifies.`
      : `To answer your question: our return policy allows returns within ${window} days of delivery, and order ${order.id} was delivered ${days} days ago, so it is outside the window.`;
  }
  if (order && progress.orderFound) return `Good question: order ${order.id} ${statusPhrase(order)}.`;
  const p = world.policies;
  return pick(rng, [
    `Good question: standard shipping takes ${p.standardShippingDays} days and is free over ${money(p.freeShippingOver)}; express takes ${p.expressShippingDays} days for ${money(p.expressFee)}.`,
    `To answer your question, our return policy gives you ${p.returnWindowDays} days after delivery to send items back.`,
  ]);
}

/**
 * The template CS agent: realises any strategy as a reply the NLU reads as that strategy, filled
 * correctly from what the agent can see (catalog search on the revealed constraints, the order the
 * customer named, the store policies).
 */
export function realizeStrategy(strategy: ShopStrategy, view: AgentView, rng: Rng): string {
  const { world, revealed, progress } = view;
  return match(strategy)
    .with('greet', () => {
      const hello = pick(rng, [
        'Hello and welcome to ShopCo!',
        'Hi there, welcome to ShopCo!',
        'Good afternoon and welcome to ShopCo.',
        'Hello! Welcome to ShopCo, great to hear from you.',
      ]);
      return revealed.needStated ? `${hello} I've read your message and I'm on it.` : hello;
    })
    .with('elicit_need', () =>
      pick(rng, [
        'What can I help you with today?',
        'How can I help you today?',
        'What are you looking for today?',
        'What brings you here today? Tell me a bit about what you are looking for.',
      ]),
    )
    .with('clarify', () => {
      const needsOrder =
        revealed.topic !== undefined &&
        revealed.topic !== 'purchase' &&
        revealed.topic !== 'product_question';
      if (!revealed.needStated)
        return pick(rng, [
          'Just to make sure I help with the right thing, could you tell me what you need?',
          'Could you tell me a bit more, please?',
        ]);
      if (needsOrder && !revealed.orderId)
        return pick(rng, [
          'Could you tell me your order number, please?',
          'What is your order number?',
          'Just to make sure I find the right one, what is the order number?',
        ]);
      if (revealed.topic === 'purchase' && revealed.maxPrice === undefined)
        return pick(rng, [
          'Do you have a budget in mind?',
          'What is your budget for this?',
          'Just to clarify, what is the price range you have in mind?',
        ]);
      return pick(rng, [
        'Do you have any particular features you need, for example a color or size?',
        'Could you tell me which features matter most to you?',
        'Just to make sure: do you have a specific preference I should know about?',
      ]);
    })
    .with('recommend', () => {
      const it = recommendedItem(view);
      if (!it)
        return "I'd recommend browsing our new arrivals; I could not find an exact match for that yet.";
      return pick(rng, [
        `I'd recommend ${itemRef(it)}.`,
        `I would suggest ${itemRef(it)}; it is rated ${it.rating.toFixed(1)} out of 5.`,
        `Based on what you told me, I'd recommend ${itemRef(it)}, a great fit for you.`,
      ]);
    })
    .with('compare', () => {
      const pair = comparedItems(view);
      if (!pair) return 'Let me compare the options once I know more about what you need.';
      const [a, b] = pair;
      return pick(rng, [
        `Let me compare two options: ${itemRef(a)} is rated ${a.rating.toFixed(1)}, whereas ${itemRef(b)} is rated ${b.rating.toFixed(1)}.`,
        `Comparing ${itemRef(a)} versus ${itemRef(b)}: the main difference is price and rating (${a.rating.toFixed(1)} vs ${b.rating.toFixed(1)}).`,
      ]);
    })
    .with('answer_question', () => answerText(view, rng))
    .with('check_order', () => {
      const order = lookupOrder(view);
      if (!order) return 'I looked up your order history, but I need the order number to find the right one.';
      return pick(rng, [
        `I found your order ${order.id}: it ${statusPhrase(order)}.`,
        `I've located order ${order.id}. It ${statusPhrase(order)}.`,
        `I pulled up order ${order.id} and it ${statusPhrase(order)}.`,
      ]);
    })
    .with('process_return', () => {
      const order = lookupOrder(view);
      if (!order)
        return 'I have started a return request; the return label will follow once we match your order.';
      const it = returnedItem(view, order);
      if (revealed.topic === 'complaint')
        return `I've arranged a replacement for the ${it.name} from order ${order.id}; it is on its way at no cost to you.`;
      if (progress.returnStarted)
        return pick(rng, [
          `Your refund of ${money(it.price)} has been issued to your original payment method.`,
          `Done: a refund of ${money(it.price)} for the ${it.name} has been processed.`,
        ]);
      return pick(rng, [
        `I've started a return for the ${it.name} from order ${order.id}; a return label is on its way by email. Shall we refund it to your original payment method?`,
        `Your return for the ${it.name} (order ${order.id}) has been initiated and the return label is in your inbox. Should the refund go to your original payment method?`,
      ]);
    })
    .with('offer_coupon', () => {
      const code = couponFor(view);
      const c = world.policies.coupons.find((x) => x.code === code)!;
      return pick(rng, [
        `You can use code ${code} for ${c.percent}% off.`,
        `Here is a coupon for you: code ${code} gives you ${c.percent}% off.`,
        `I can offer you the promo code ${code}, which saves ${c.percent}% on your order.`,
      ]);
    })
    .with('reassure', () =>
      pick(rng, [
        "I'm so sorry about this, I completely understand how frustrating it is.",
        'I apologize for the trouble. Rest assured, I will make it right.',
        "I'm really sorry for the inconvenience; don't worry, we'll sort this out.",
      ]),
    )
    .with('confirm_purchase', () => {
      const quote = purchaseQuote(view);
      if (!quote) return 'Shall I place the order once you have picked an item?';
      const { item: it, price } = quote;
      return pick(rng, [
        `Shall I place the order for the ${it.name} (${it.id}) at ${money(price)}?`,
        `Would you like me to confirm the order for the ${it.name} (${it.id}), ${money(price)} in total?`,
      ]);
    })
    .with('escalate', () =>
      pick(rng, [
        'Let me transfer you to a human specialist who can help further.',
        'I will escalate this and connect you with a senior colleague.',
        'Let me hand you over to a human colleague now.',
      ]),
    )
    .with('close', () =>
      pick(rng, [
        'Thanks for shopping with us, have a great day!',
        'Thank you for contacting ShopCo. Take care!',
        'Glad I could help. Have a wonderful day!',
      ]),
    )
    .exhaustive();
}
