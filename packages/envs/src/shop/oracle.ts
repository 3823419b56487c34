import type { Reference, ShopStrategy, Sop } from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { searchCatalog } from './agent-templates.js';
import type { HiddenGoal } from './scenario.js';
import type { AgentView } from './state.js';

/** The oracle's choice at one turn: the reference strategy and the other acceptable ones. */
export interface OracleDecision {
  readonly strategy: ShopStrategy;
  readonly acceptable: readonly ShopStrategy[];
}

/**
 * The oracle SOP policy: knows the hidden goal and picks the strategy that moves the task forward
 * fastest without breaking the SOP (reference strategies for ESNDCG and SFT targets). Acceptable
 * alternatives are moves that also make progress; they are filtered to the SOP-admissible set.
 */
export function oracleDecision(view: AgentView, goal: HiddenGoal, sop: Sop): OracleDecision {
  const d = rawDecision(view, goal);
  const ok = (s: ShopStrategy) => sop.isAdmissible(view.sopMask, s);
  return { strategy: d.strategy, acceptable: d.acceptable.filter((s) => s !== d.strategy && ok(s)) };
}

/** The oracle's decision as a log `reference` field. */
export function oracleReference(view: AgentView, goal: HiddenGoal, sop: Sop): Reference {
  const d = oracleDecision(view, goal, sop);
  return { strategy: d.strategy, acceptable: [...d.acceptable] };
}

const dec = (strategy: ShopStrategy, ...acceptable: ShopStrategy[]): OracleDecision => ({
  strategy,
  acceptable,
});

function rawDecision(view: AgentView, goal: HiddenGoal): OracleDecision {
  const { revealed: r, progress: p } = view;
  if (p.resolved) return dec('close');
  if (view.turn === 0) return r.needStated ? dec('greet') : dec('greet', 'elicit_need');
  if (!r.needStated) return dec('elicit_need', 'clarify');
  return match(goal)
    .with({ type: 'purchase' }, (g) => {
      if (p.acceptedItemId) {
        if (p.discountAsked && !p.couponCode) return dec('offer_coupon');
        return p.couponCode ? dec('confirm_purchase') : dec('confirm_purchase', 'offer_coupon');
      }
      // Recommend as soon as the best match for what was said also fits what was not said; else ask.
      const best = searchCatalog(view, 1, p.shownItems)[0];
      const fits =
        best !== undefined &&
        best.price <= g.maxPrice &&
        Object.entries(g.wants).every(([k, v]) => best.attributes[k] === v);
      return fits ? dec('recommend', 'compare') : dec('clarify', 'recommend');
    })
    .with({ type: 'order_status' }, () => (r.orderId ? dec('check_order') : dec('clarify')))
    .with({ type: 'return_refund' }, (g) => {
      if (!r.orderId) return dec('clarify', 'reassure');
      if (!p.orderFound) return dec('check_order');
      if (g.inWindow) return dec('process_return');
      return p.policyExplained ? dec('offer_coupon') : dec('answer_question', 'offer_coupon');
    })
    .with({ type: 'product_question' }, () => dec('answer_question'))
    .with({ type: 'complaint' }, (g) => {
      const ack: ShopStrategy[] = p.acknowledged ? [] : ['reassure'];
      if (!r.orderId) return dec('clarify', ...ack);
      if (!p.orderFound) return dec('check_order', ...ack);
      if (!p.acknowledged) return dec('reassure');
      return g.issue === 'late_delivery' ? dec('offer_coupon') : dec('process_return');
    })
    .exhaustive();
}
