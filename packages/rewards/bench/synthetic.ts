import type { Rng } from '@gopo/core';
import { EVENT_TYPES, type EventType, GOAL_TYPES, type SessionInput, SHOP_STRATEGIES } from '@gopo/dialogue';

const MILESTONE_EVENTS = EVENT_TYPES.filter((e) => e !== 'handoff' && e !== 'user_left');

const USER_TEXT = 'I am looking for wireless headphones under 80 dollars, ideally over-ear.';
const AGENT_TEXT =
  'Here are two options in your budget: the P-17 at 59 and the P-22 at 75. Would you like to compare them?';

/** A plausible Mgshop-style session: 2-8 exchanges, rankings and references on most agent turns;
 * `compact` replaces every text with "ok" to show how throughput depends on line length. */
export function syntheticSession(rng: Rng, id: number, compact = false): SessionInput {
  const userText = compact ? 'ok' : USER_TEXT;
  const agentText = compact ? 'ok' : AGENT_TEXT;
  const exchanges = rng.intBetween(2, 8);
  const turns: SessionInput['turns'] = [];
  let ended = false;
  for (let t = 0; t < exchanges && !ended; t++) {
    const userEvents: { type: EventType }[] = rng.bool(0.4) ? [{ type: rng.pick(MILESTONE_EVENTS) }] : [];
    if (t === exchanges - 1 && rng.bool(0.1)) {
      userEvents.push({ type: 'user_left' });
      ended = true;
    }
    turns.push({
      role: 'user',
      text: userText,
      events: userEvents,
    });
    if (ended) break;
    const strategy = rng.pick(SHOP_STRATEGIES);
    const ranking = rng.sample(SHOP_STRATEGIES, rng.intBetween(3, 5));
    turns.push({
      role: 'agent',
      text: agentText,
      strategy,
      ranking,
      ...(rng.bool(0.8)
        ? { reference: { strategy: rng.pick(SHOP_STRATEGIES), acceptable: rng.sample(SHOP_STRATEGIES, 2) } }
        : {}),
      sop_violation: rng.bool(0.05),
      detected_strategy: rng.bool(0.9) ? strategy : rng.pick(SHOP_STRATEGIES),
      events: rng.bool(0.5) ? [{ type: rng.pick(MILESTONE_EVENTS), item_id: `p-${rng.int(500)}` }] : [],
    });
  }
  const status = rng.pick(['success', 'partial', 'failure', 'abandoned', 'escalated'] as const);
  return {
    session_id: `s-${id}`,
    domain: 'shop',
    goal: { type: rng.pick(GOAL_TYPES), slots: { category: 'headphones', max_price: 80 } },
    turns,
    outcome: {
      status,
      converted: status === 'success' && rng.bool(0.7),
      resolved: status === 'success',
      ...(rng.bool(0.6) ? { csat: rng.intBetween(1, 5) } : {}),
      escalated: status === 'escalated',
      order_value: rng.float() * 200,
    },
  };
}
