import {
  comparedItems,
  couponFor,
  purchaseQuote,
  recommendedItem,
  returnedItem,
  statusPhrase,
} from './agent-templates.js';
import type { AgentView } from './state.js';
import { attributeLabel, type Item, returnAllowed } from './world.js';

const money = (x: number) => `$${x.toFixed(2)}`;
/** Whole amounts without cents (a budget, a policy threshold): "$50". */
const dollars = (x: number) => (Number.isInteger(x) ? `$${x}` : money(x));

function attributes(wants: Readonly<Record<string, string | boolean>>): string {
  return Object.entries(wants)
    .map(([k, v]) => (typeof v === 'boolean' ? `${k.replace(/_/g, ' ')} ${v ? 'yes' : 'no'}` : `${k} ${v}`))
    .join(', ');
}

// Name, then id and price: the order the template replies state them in, so a reply model copies the
// id and price by matching the name it has just written (plain induction, no look-back).
const itemText = (it: Item) => `${it.name} (${it.id}) ${money(it.price)}`;

/**
 * The catalog matches worth listing: while the customer could still be shown an item (a purchase or a
 * product question in progress, a request whose order is not known yet, a started return), the best
 * match not shown yet and the best one; once items have been shown, also the two best matches to
 * compare. The chosen item has its own line.
 */
function catalogItems(view: AgentView): Item[] | undefined {
  const { revealed: r, progress: p } = view;
  const open =
    r.needStated &&
    !p.resolved &&
    (r.topic === 'purchase' || r.topic === 'product_question' || !r.orderId || p.returnStarted);
  if (!open) return undefined;
  const items: Item[] = [];
  const add = (it: Item | undefined) => {
    if (it && it.id !== p.acceptedItemId && !items.includes(it)) items.push(it);
  };
  if (p.shownItems.length > 0 || p.acceptedItemId) comparedItems(view)?.forEach(add);
  add(recommendedItem(view));
  add(purchaseQuote(view)?.item);
  return items;
}

/**
 * What the agent knows and has retrieved with the shop's tools at this point, as short text lines:
 * what the customer has said (never the hidden goal), the catalog matches for it, the chosen item
 * (with its price after the coupon given), the located order with the return-window check and the
 * item it concerns, the coupon the shop can offer, the shipping and return policy while no order or
 * item answers the customer's question, and what the shop has done. Every item id, price, order id,
 * amount and coupon code the template agent states in a reply is on one of these lines (checked over
 * simulated dialogues for every admissible strategy). Both agents read these lines (the Expert Agent
 * in its state block, the CS Agent in its facts block), the simulator logs them on every agent turn
 * as `facts`, and offline training reads them back from the log: one definition of what the agent
 * may see, whichever way a decision is replayed.
 */
export function shopFacts(view: AgentView): string[] {
  const { world, revealed: r, progress: p } = view;
  const out: string[] = [];
  const order = r.orderId ? world.ordersById.get(r.orderId) : undefined;
  const located = order !== undefined && p.orderFound;
  const question = r.topic === 'product_question' && r.itemId !== undefined && r.attribute !== undefined;
  const known: string[] = [];
  if (r.topic) known.push(r.topic.replace(/_/g, ' '));
  if (r.category) known.push(r.category);
  if (r.maxPrice !== undefined) known.push(`budget ${dollars(r.maxPrice)}`);
  if (Object.keys(r.wants).length > 0) known.push(attributes(r.wants));
  if (r.orderId && !located) known.push(`order ${r.orderId}`);
  if (r.itemId && !question && !located) known.push(`item ${r.itemId}`);
  if (r.attribute) known.push(`asks about ${attributeLabel(r.attribute)}`);
  if (r.issue) known.push(`issue ${r.issue.replace(/_/g, ' ')}`);
  out.push(known.length > 0 ? `customer: ${known.join('; ')}` : 'customer: need not stated');

  const catalog = catalogItems(view);
  if (catalog)
    out.push(
      catalog.length > 0 ? `catalog: ${catalog.map(itemText).join(' | ')}` : 'catalog: no match in stock',
    );
  if (p.shownItems.length > 0) out.push(`shown: ${p.shownItems.join(', ')}`);
  if (p.rejectedItems.length > 0) out.push(`rejected: ${p.rejectedItems.join(', ')}`);
  const chosen = p.acceptedItemId ? world.itemsById.get(p.acceptedItemId) : undefined;
  if (chosen) {
    const quote = purchaseQuote(view);
    const discount = quote?.coupon ? `; ${money(quote.price)} with ${quote.coupon.code}` : '';
    out.push(`chosen: ${itemText(chosen)}${discount}`);
  }

  if (located) {
    const window = world.policies.returnWindowDays;
    out.push(
      `order ${order.id}: ${statusPhrase(order)}; ${money(order.total)}; return ${
        returnAllowed(order, world.policies) ? 'allowed' : 'not allowed'
      } (window ${window} days)`,
    );
  }
  if (question) {
    const it = world.itemsById.get(r.itemId!)!;
    const v = it.attributes[r.attribute!];
    out.push(
      `item: ${itemText(it)}; ${attributeLabel(r.attribute!)} ${typeof v === 'boolean' ? (v ? 'yes' : 'no') : v}`,
    );
  } else if (located && (r.topic === 'return_refund' || r.topic === 'complaint'))
    out.push(`item: ${itemText(returnedItem(view, order))}`);

  // The coupon the shop would offer now, once there is something to offer it on.
  const offer = world.policies.coupons.find((c) => c.code === couponFor(view));
  const couponOpen =
    r.needStated && (p.resolved || p.orderFound || p.shownItems.length > 0 || chosen !== undefined);
  const offerGiven = couponOpen && offer !== undefined && p.couponCode === offer.code;
  if (couponOpen && offer)
    out.push(`coupon: ${offer.code} ${offer.percent}% off${offerGiven ? ', given' : ''}`);
  // General policy answers, while no order or item answers the customer's question.
  if (r.needStated && !located && !question) {
    const pol = world.policies;
    out.push(
      `shipping: ${pol.standardShippingDays} days, free over ${dollars(pol.freeShippingOver)}; express ${
        pol.expressShippingDays
      } days ${dollars(pol.expressFee)}; returns ${pol.returnWindowDays} days`,
    );
  }

  const done: string[] = [];
  if (p.discountAsked) done.push('discount asked');
  if (p.couponCode && !offerGiven) done.push(`coupon ${p.couponCode} given`);
  if (p.acknowledged) done.push('complaint acknowledged');
  if (p.policyExplained) done.push('policy explained');
  if (p.returnStarted) done.push('return started');
  if (p.returnRejected) done.push('return refused');
  if (p.resolved) done.push('task resolved');
  if (done.length > 0) out.push(`so far: ${done.join('; ')}`);
  return out;
}
