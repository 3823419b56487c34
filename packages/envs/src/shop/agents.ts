/**
 * The shop's scripted agents under the roles contract of @gopo/dialogue (async, batched, reading an
 * AgentState, never the environment): strategy policies for baselines, references and the imperfect
 * "history" agents whose logs a warm start learns from, and the template CS agent as a reply policy.
 */
import { createRegistry, Rng, UsageError } from '@gopo/core';
import type {
  AgentState,
  DecideOptions,
  ReplyPolicy,
  StrategyDecision,
  StrategyPolicy,
} from '@gopo/dialogue';
import { SHOP_STRATEGIES, type ShopStrategy } from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { realizeStrategy } from './agent-templates.js';
import { greedyStrategy, heuristicStrategy } from './policies.js';
import type { AgentView } from './state.js';

function shopView(state: AgentState): AgentView {
  if (!state.view)
    throw new UsageError(
      `the shop's scripted agents read the shop's agent view, which state ${state.sessionId} lacks (a logged session?)`,
    );
  return state.view as AgentView;
}

const indexOf = (s: string) => (SHOP_STRATEGIES as readonly string[]).indexOf(s);

/** A deterministic choice: all mass on `action`; the ranking puts it first, then `rest` in order. */
function pointDecision(state: AgentState, action: number, rest: readonly number[] = []): StrategyDecision {
  const admissible = state.admissible.flatMap((ok, i) => (ok ? [i] : []));
  const ranking = [action, ...rest.filter((i) => i !== action && state.admissible[i])];
  for (const i of admissible) if (!ranking.includes(i)) ranking.push(i);
  const logProbs = state.admissible.map((_, i) => (i === action ? 0 : Number.NEGATIVE_INFINITY));
  return { action, logProbs, ranking };
}

/** The rule's strategy when the SOP admits it, else the first admissible one (never a violation). */
function admissibleOr(state: AgentState, wanted: ShopStrategy): number {
  const i = indexOf(wanted);
  return state.admissible[i] ? i : state.admissible.indexOf(true);
}

/** Uniform over the admissible strategies, with the caller's uniform draw. */
function uniformDecision(state: AgentState, u: number): StrategyDecision {
  const admissible = state.admissible.flatMap((ok, i) => (ok ? [i] : []));
  const action = admissible[Math.min(admissible.length - 1, Math.floor(u * admissible.length))]!;
  const lp = -Math.log(admissible.length);
  return {
    action,
    logProbs: state.admissible.map((ok) => (ok ? lp : Number.NEGATIVE_INFINITY)),
    ranking: admissible,
  };
}

function scripted(
  name: string,
  rule: (state: AgentState, u: number, options: DecideOptions, k: number) => StrategyDecision,
  privileged = false,
): StrategyPolicy {
  return {
    name,
    strategies: SHOP_STRATEGIES,
    version: 0,
    ...(privileged ? { privileged: true } : {}),
    async decide(states, options) {
      return states.map((s, k) => rule(s, options.uniforms[k]!, options, k));
    },
  };
}

/** The oracle: the reference strategy from the privileged channel; ranks reference, acceptable, others. */
export const oracleStrategyPolicy = scripted(
  'oracle',
  (state, _u, options, k) => {
    const info = options.privileged?.[k];
    if (!info) throw new UsageError('the oracle needs the privileged channel (the rollout engine passes it)');
    const ref = info.reference;
    return pointDecision(state, indexOf(ref.strategy), ref.acceptable.map(indexOf));
  },
  true,
);

/** The visible-state script of the template agent, kept inside the SOP. */
export const templateStrategyPolicy = scripted('template', (state) =>
  pointDecision(state, admissibleOr(state, heuristicStrategy(shopView(state)))),
);

/** Jumps to the finishing move; masked to the SOP here (the hard SOP never executes a violation). */
export const hastyStrategyPolicy = scripted('hasty', (state) =>
  pointDecision(state, admissibleOr(state, greedyStrategy(shopView(state)))),
);

/** Uniform over the admissible strategies. */
export const uniformStrategyPolicy = scripted('uniform', (state, u) => uniformDecision(state, u));

/**
 * A careful but slow agent, as many human teams script one: asks for the budget and a feature before
 * recommending, reassures before every order action, offers a coupon before confirming a purchase.
 */
export function cautiousStrategy(view: AgentView): ShopStrategy {
  const { revealed: r, progress: p } = view;
  const base = heuristicStrategy(view);
  return match(base)
    .with(
      'recommend',
      (): ShopStrategy =>
        Object.keys(r.wants).length === 0 && p.shownItems.length === 0 ? 'clarify' : 'recommend',
    )
    .with('check_order', 'process_return', (s): ShopStrategy => (p.acknowledged ? s : 'reassure'))
    .with('confirm_purchase', (): ShopStrategy => (p.couponCode ? 'confirm_purchase' : 'offer_coupon'))
    .otherwise((s) => s);
}

export const cautiousStrategyPolicy = scripted('cautious', (state) =>
  pointDecision(state, admissibleOr(state, cautiousStrategy(shopView(state)))),
);

/** Shares of each archetype in the history mix, in the order they are drawn. */
export const HISTORY_MIX = [
  ['cautious', 0.4],
  ['hasty', 0.3],
  ['template', 0.2],
  ['uniform', 0.1],
] as const;

/**
 * Logs of imperfect agents, as a team's history would hold them: each session is handled by one
 * archetype of HISTORY_MIX (drawn from the session id), and every agent slips to a uniformly random
 * admissible move one turn in ten. What a warm start learns from; not the oracle.
 */
export const historyStrategyPolicy = scripted('history', (state, u) => {
  // A mixed draw: FNV-1a's top bits alone barely move between ids that differ in their last digits
  // (history-00000 ... history-00799 gave the uniform archetype 17% instead of 10%).
  const h = Rng.fromSeed(0, `history:${state.sessionId}`).float();
  let archetype: (typeof HISTORY_MIX)[number][0] = 'uniform';
  let acc = 0;
  for (const [name, share] of HISTORY_MIX) {
    acc += share;
    if (h < acc) {
      archetype = name;
      break;
    }
  }
  // One draw decides the slip and, rescaled, the random move.
  if (u < 0.1 || archetype === 'uniform') return uniformDecision(state, archetype === 'uniform' ? u : u * 10);
  const view = shopView(state);
  const wanted = match(archetype)
    .with('cautious', () => cautiousStrategy(view))
    .with('hasty', () => greedyStrategy(view))
    .with('template', () => heuristicStrategy(view))
    .exhaustive();
  return pointDecision(state, admissibleOr(state, wanted));
});

/** Scripted shop strategy policies by name; unknown names list the valid ones. */
export const shopStrategyPolicies = createRegistry<StrategyPolicy>('shop strategy policy', {
  oracle: oracleStrategyPolicy,
  template: templateStrategyPolicy,
  hasty: hastyStrategyPolicy,
  cautious: cautiousStrategyPolicy,
  uniform: uniformStrategyPolicy,
  history: historyStrategyPolicy,
});

/** The template CS agent as a reply policy: realises any strategy from the shop's agent view. */
export const templateReplyPolicy: ReplyPolicy = {
  name: 'template',
  async reply(requests) {
    return requests.map((r) =>
      realizeStrategy(r.strategy as ShopStrategy, shopView(r.state), Rng.fromSeed(r.seed, 'template-reply')),
    );
  },
};
