import { GOAL_TYPES, SHOP_STRATEGIES, type Sop } from '@gopo/dialogue';
import type { AgentView } from './state.js';
import { USER_ACTS } from './user-templates.js';

const PROGRESS_FEATURES = [
  'items_shown',
  'item_accepted',
  'order_found',
  'return_started',
  'return_rejected',
  'coupon_applied',
  'discount_asked',
  'policy_explained',
  'acknowledged',
  'resolved',
] as const;

const REVEALED_FEATURES = [
  'category',
  'max_price',
  'wants',
  'order_id',
  'item_id',
  'attribute',
  'issue',
] as const;

/** Names of the numeric observation's entries, in order (what a small policy network reads). */
export function observationFeatureNames(sop: Sop): string[] {
  return [
    'turn_fraction',
    ...sop.flags.map((f) => `flag/${f}`),
    ...sop.stateNames.map((s) => `state/${s}`),
    ...GOAL_TYPES.map((g) => `topic/${g}`),
    'topic/unknown',
    ...REVEALED_FEATURES.map((f) => `revealed/${f}`),
    ...PROGRESS_FEATURES.map((f) => `progress/${f}`),
    ...USER_ACTS.map((a) => `user_act/${a}`),
    ...SHOP_STRATEGIES.map((s) => `last_strategy/${s}`),
    'patience_signal',
  ];
}

const sizes = new WeakMap<Sop, number>();
/** Length of the observation vector for an SOP. */
export function observationSize(sop: Sop): number {
  let n = sizes.get(sop);
  if (n === undefined) {
    n = observationFeatureNames(sop).length;
    sizes.set(sop, n);
  }
  return n;
}

/**
 * Encodes what an agent may see as a flat vector: SOP flags and state, the stated topic (the goal
 * type stays hidden until the customer says it), which details are revealed, what the shop has done,
 * the customer's last dialogue act, the agent's last strategy, and a visible frustration signal (the
 * count of complaints so far, not the hidden patience).
 */
export function encodeObservation(
  view: AgentView,
  sop: Sop,
  maxTurns: number,
  lastStrategy: string | undefined,
  complaints: number,
): Float32Array {
  const x = new Float32Array(observationSize(sop));
  let o = 0;
  x[o++] = Math.min(1, view.turn / maxTurns);
  for (let i = 0; i < sop.flags.length; i++) x[o++] = (view.sopMask >> i) & 1;
  x[o + sop.stateIndex(view.sopMask)] = 1;
  o += sop.stateNames.length;
  const topic = view.revealed.topic ? GOAL_TYPES.indexOf(view.revealed.topic) : GOAL_TYPES.length;
  x[o + topic] = 1;
  o += GOAL_TYPES.length + 1;
  const r = view.revealed;
  x[o++] = r.category ? 1 : 0;
  x[o++] = r.maxPrice !== undefined ? 1 : 0;
  x[o++] = Math.min(1, Object.keys(r.wants).length / 2);
  x[o++] = r.orderId ? 1 : 0;
  x[o++] = r.itemId ? 1 : 0;
  x[o++] = r.attribute ? 1 : 0;
  x[o++] = r.issue ? 1 : 0;
  const p = view.progress;
  x[o++] = Math.min(1, p.shownItems.length / 3);
  x[o++] = p.acceptedItemId ? 1 : 0;
  x[o++] = p.orderFound ? 1 : 0;
  x[o++] = p.returnStarted ? 1 : 0;
  x[o++] = p.returnRejected ? 1 : 0;
  x[o++] = p.couponCode ? 1 : 0;
  x[o++] = p.discountAsked ? 1 : 0;
  x[o++] = p.policyExplained ? 1 : 0;
  x[o++] = p.acknowledged ? 1 : 0;
  x[o++] = p.resolved ? 1 : 0;
  x[o + USER_ACTS.indexOf(view.lastUserAct)] = 1;
  o += USER_ACTS.length;
  if (lastStrategy !== undefined) {
    const i = (SHOP_STRATEGIES as readonly string[]).indexOf(lastStrategy);
    if (i >= 0) x[o + i] = 1;
  }
  o += SHOP_STRATEGIES.length;
  x[o++] = Math.min(1, complaints / 4);
  return x;
}
