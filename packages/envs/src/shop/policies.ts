import { createRegistry, type Rng } from '@gopo/core';
import { SHOP_STRATEGIES, type ShopStrategy } from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { realizeStrategy } from './agent-templates.js';
import type { AgentAction, Observation, ShopEnv } from './env.js';
import type { AgentView } from './state.js';

/** A policy that acts in the shop: picks a strategy and writes the reply. */
export interface ShopPolicy {
  readonly name: string;
  act(env: ShopEnv, observation: Observation, rng: Rng): AgentAction;
}

const firstAdmissible = (obs: Observation, wanted: ShopStrategy): ShopStrategy =>
  obs.admissible.includes(wanted) ? wanted : ((obs.admissible[0] as ShopStrategy | undefined) ?? wanted);

/** The oracle: the hidden-goal reference strategy, realised by the template agent; ranks reference, acceptable, other admissible. */
export const oraclePolicy: ShopPolicy = {
  name: 'oracle',
  act(env, obs, rng) {
    const d = env.reference();
    const ranking = [
      d.strategy,
      ...d.acceptable,
      ...obs.admissible.filter((s) => s !== d.strategy && !d.acceptable.includes(s as ShopStrategy)),
    ];
    return { strategy: d.strategy, text: realizeStrategy(d.strategy, env.view(), rng), ranking };
  },
};

/** A hand-written visible-state heuristic (no hidden goal): what a careful script would do. */
export function heuristicStrategy(view: AgentView): ShopStrategy {
  const { revealed: r, progress: p } = view;
  if (p.resolved) return 'close';
  if (view.turn === 0) return 'greet';
  if (!r.needStated || !r.topic) return 'elicit_need';
  return match(r.topic)
    .with('purchase', (): ShopStrategy => {
      if (p.acceptedItemId) return p.discountAsked && !p.couponCode ? 'offer_coupon' : 'confirm_purchase';
      return r.maxPrice === undefined ? 'clarify' : 'recommend';
    })
    .with('order_status', (): ShopStrategy => (r.orderId ? 'check_order' : 'clarify'))
    .with('return_refund', (): ShopStrategy => {
      if (!r.orderId) return 'clarify';
      if (!p.orderFound) return 'check_order';
      if (p.returnRejected) return p.policyExplained ? 'offer_coupon' : 'answer_question';
      return 'process_return';
    })
    .with('product_question', (): ShopStrategy => 'answer_question')
    .with('complaint', (): ShopStrategy => {
      if (!r.orderId) return 'clarify';
      if (!p.orderFound) return 'check_order';
      if (!p.acknowledged) return 'reassure';
      return r.issue === 'late_delivery' ? 'offer_coupon' : 'process_return';
    })
    .exhaustive();
}

/** The template CS agent driven by the visible-state heuristic, kept inside the SOP. */
export const templatePolicy: ShopPolicy = {
  name: 'template',
  act(env, obs, rng) {
    const s = firstAdmissible(obs, heuristicStrategy(env.view()));
    return { strategy: s, text: realizeStrategy(s, env.view(), rng) };
  },
};

/**
 * Greedy and not SOP-aware: jumps straight to the move that would finish the stated task (no greeting,
 * no clarifying, no acknowledging), whether or not the SOP admits it.
 */
export function greedyStrategy(view: AgentView): ShopStrategy {
  const { revealed: r, progress: p } = view;
  if (p.resolved) return 'close';
  if (!r.needStated || !r.topic) return 'elicit_need';
  return match(r.topic)
    .with('purchase', (): ShopStrategy => (p.acceptedItemId ? 'confirm_purchase' : 'recommend'))
    .with('order_status', (): ShopStrategy => 'check_order')
    .with('return_refund', (): ShopStrategy => (p.orderFound ? 'process_return' : 'check_order'))
    .with('product_question', (): ShopStrategy => 'answer_question')
    .with('complaint', (): ShopStrategy => {
      if (!p.orderFound) return 'check_order';
      return r.issue === 'late_delivery' ? 'offer_coupon' : 'process_return';
    })
    .exhaustive();
}

export const greedyPolicy: ShopPolicy = {
  name: 'greedy',
  act(env, _obs, rng) {
    const s = greedyStrategy(env.view());
    return { strategy: s, text: realizeStrategy(s, env.view(), rng) };
  },
};

/** Uniform over the whole strategy set (no SOP mask), realised correctly by the template agent. */
export const randomPolicy: ShopPolicy = {
  name: 'random',
  act(env, _obs, rng) {
    const s = rng.pick(SHOP_STRATEGIES);
    return { strategy: s, text: realizeStrategy(s, env.view(), rng) };
  },
};

export const POLICY_NAMES = ['oracle', 'template', 'greedy', 'random'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export const shopPolicies = createRegistry<ShopPolicy>('shop policy', {
  oracle: oraclePolicy,
  template: templatePolicy,
  greedy: greedyPolicy,
  random: randomPolicy,
});
