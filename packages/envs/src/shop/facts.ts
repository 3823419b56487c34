import { searchCatalog, statusPhrase } from './agent-templates.js';
import type { AgentView } from './state.js';
import { returnAllowed, type World } from './world.js';

const money = (x: number) => `$${x.toFixed(2)}`;

function attributes(wants: Readonly<Record<string, string | boolean>>): string {
  return Object.entries(wants)
    .map(([k, v]) => (typeof v === 'boolean' ? `${k.replace(/_/g, ' ')} ${v ? 'yes' : 'no'}` : `${k} ${v}`))
    .join(', ');
}

function itemLine(world: World, id: string): string {
  const it = world.itemsById.get(id);
  return it ? `${it.id} ${money(it.price)} ${it.name}` : id;
}

/**
 * What the agent knows and has retrieved with the shop's tools at this point, as short text lines:
 * what the customer has said (never the hidden goal), the best catalog match for it, the located
 * order with the return-window check, and what the shop has done. Both agents read these lines (the
 * Expert Agent in its state block, the CS Agent in its facts block), the simulator logs them on every
 * agent turn as `facts`, and offline training reads them back from the log: one definition of what
 * the agent may see, whichever way a decision is replayed.
 */
export function shopFacts(view: AgentView): string[] {
  const { world, revealed: r, progress: p } = view;
  const out: string[] = [];
  const known: string[] = [];
  if (r.topic) known.push(r.topic.replace(/_/g, ' '));
  if (r.category) known.push(r.category);
  if (r.maxPrice !== undefined) known.push(`budget ${money(r.maxPrice)}`);
  if (Object.keys(r.wants).length > 0) known.push(attributes(r.wants));
  if (r.orderId) known.push(`order ${r.orderId}`);
  if (r.itemId) known.push(`item ${r.itemId}`);
  if (r.attribute) known.push(`asks about ${r.attribute.replace(/_/g, ' ')}`);
  if (r.issue) known.push(`issue ${r.issue.replace(/_/g, ' ')}`);
  out.push(known.length > 0 ? `customer: ${known.join('; ')}` : 'customer: need not stated');
  if (r.topic === 'purchase' && r.category && !p.acceptedItemId) {
    const hits = searchCatalog(view, 2, p.shownItems);
    out.push(
      hits.length > 0
        ? `catalog: ${hits.map((it) => `${it.id} ${money(it.price)} ${it.name}`).join(' | ')}`
        : 'catalog: no new match in stock',
    );
  }
  if (p.shownItems.length > 0) out.push(`shown: ${p.shownItems.join(', ')}`);
  if (p.rejectedItems.length > 0) out.push(`rejected: ${p.rejectedItems.join(', ')}`);
  if (p.acceptedItemId) out.push(`chosen: ${itemLine(world, p.acceptedItemId)}`);
  const order = r.orderId ? world.ordersById.get(r.orderId) : undefined;
  if (order && p.orderFound) {
    const window = world.policies.returnWindowDays;
    out.push(
      `order ${order.id}: ${statusPhrase(order)}; ${money(order.total)}; return ${
        returnAllowed(order, world.policies) ? 'allowed' : 'not allowed'
      } (window ${window} days)`,
    );
  }
  const done: string[] = [];
  if (p.discountAsked) done.push('discount asked');
  if (p.couponCode) done.push(`coupon ${p.couponCode} given`);
  if (p.acknowledged) done.push('complaint acknowledged');
  if (p.policyExplained) done.push('policy explained');
  if (p.returnStarted) done.push('return started');
  if (p.returnRejected) done.push('return refused');
  if (p.resolved) done.push('task resolved');
  if (done.length > 0) out.push(`so far: ${done.join('; ')}`);
  return out;
}
