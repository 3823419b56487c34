import { match } from 'ts-pattern';
import type { EventType, GoalType, OutcomeStatus } from './log-schema.js';

/** Who causes an event: the simulator puts it on that speaker's turn. */
export type EventActor = 'user' | 'agent';

/**
 * The speaker whose turn carries each event type. User events record what the customer did (stated a
 * need, accepted, bought, left); agent events record what the service achieved on its turn.
 */
export function eventActor(type: EventType): EventActor {
  return match(type)
    .with('need_stated', 'item_accepted', 'added_to_cart', 'purchased', 'user_left', () => 'user' as const)
    .with(
      'item_shown',
      'order_found',
      'return_started',
      'refund_issued',
      'coupon_applied',
      'question_answered',
      'handoff',
      'complaint_acknowledged',
      'issue_resolved',
      () => 'agent' as const,
    )
    .exhaustive();
}

/** Whether an event ends the session (nothing after it counts). */
export function isTerminalEvent(type: EventType): boolean {
  return match(type)
    .with('handoff', 'user_left', () => true)
    .with(
      'need_stated',
      'item_accepted',
      'added_to_cart',
      'purchased',
      'item_shown',
      'order_found',
      'return_started',
      'refund_issued',
      'coupon_applied',
      'question_answered',
      'complaint_acknowledged',
      'issue_resolved',
      () => false,
    )
    .exhaustive();
}

/** The event that marks a goal type's task as done (the last milestone of DEFAULT_MILESTONES). */
export function goalCompletionEvent(goal: GoalType): EventType {
  return match(goal)
    .with('purchase', () => 'purchased' as const)
    .with('order_status', () => 'question_answered' as const)
    .with('return_refund', () => 'refund_issued' as const)
    .with('product_question', () => 'question_answered' as const)
    .with('complaint', () => 'issue_resolved' as const)
    .exhaustive();
}

/** Outcome statuses that count as the customer's goal being met. */
export function isResolvedStatus(status: OutcomeStatus): boolean {
  return match(status)
    .with('success', () => true)
    .with('partial', 'failure', 'abandoned', 'escalated', () => false)
    .exhaustive();
}
