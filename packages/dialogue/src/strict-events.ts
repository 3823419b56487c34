import { z } from 'zod';
import { AgentTurnSchema, type EventType, GoalSchema, OutcomeSchema, UserTurnSchema } from './log-schema.js';

const itemId = z.string().min(1).describe('catalog item the event concerns');
const orderId = z.string().min(1).describe('order the event concerns');
const amount = z.number().min(0).describe('money involved');

/**
 * Events as a discriminated union on `type`, each with the fields its meaning needs (an item shown
 * names the item, a refund states its amount). The base EventSchema accepts any log; this stricter
 * form is what `gopo logs validate --strict` and the shop simulator hold logs to.
 */
export const StrictEventSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('need_stated'), item_id: itemId.optional(), order_id: orderId.optional() }),
  z.looseObject({ type: z.literal('item_shown'), item_id: itemId }),
  z.looseObject({ type: z.literal('item_accepted'), item_id: itemId }),
  z.looseObject({ type: z.literal('added_to_cart'), item_id: itemId }),
  z.looseObject({ type: z.literal('purchased'), item_id: itemId.optional(), amount }),
  z.looseObject({ type: z.literal('order_found'), order_id: orderId }),
  z.looseObject({ type: z.literal('return_started'), order_id: orderId, item_id: itemId.optional() }),
  z.looseObject({ type: z.literal('refund_issued'), order_id: orderId.optional(), amount }),
  z.looseObject({
    type: z.literal('coupon_applied'),
    item_id: itemId.optional(),
    order_id: orderId.optional(),
    amount: amount.optional(),
  }),
  z.looseObject({
    type: z.literal('question_answered'),
    item_id: itemId.optional(),
    order_id: orderId.optional(),
  }),
  z.looseObject({ type: z.literal('handoff') }),
  z.looseObject({ type: z.literal('user_left') }),
  z.looseObject({ type: z.literal('complaint_acknowledged') }),
  z.looseObject({ type: z.literal('issue_resolved'), order_id: orderId.optional() }),
]);
export type StrictEvent = z.infer<typeof StrictEventSchema>;

// Compile-time check: the strict union names every event type (a new type must get its variant).
const coversEveryEventType: Exclude<EventType, StrictEvent['type']> extends never ? true : false = true;
void coversEveryEventType;

const StrictTurnSchema = z.discriminatedUnion('role', [
  UserTurnSchema.extend({ events: z.array(StrictEventSchema).default([]) }),
  AgentTurnSchema.extend({ events: z.array(StrictEventSchema).default([]) }),
]);

/** A session whose events carry their required fields. */
export const StrictSessionSchema = z.looseObject({
  session_id: z.string().min(1).describe('unique id of the session'),
  domain: z.string().min(1).default('shop').describe('domain of the dialogue'),
  goal: GoalSchema,
  turns: z.array(StrictTurnSchema).describe('the turns in order'),
  outcome: OutcomeSchema,
});
