import { z } from 'zod';
import { StrategyNameSchema } from './strategies.js';

/** Goal types of DESIGN.md 4.2. */
export const GOAL_TYPES = [
  'purchase',
  'order_status',
  'return_refund',
  'product_question',
  'complaint',
] as const;
export const GoalTypeSchema = z.enum(GOAL_TYPES).describe('what the customer came to do');
export type GoalType = z.infer<typeof GoalTypeSchema>;

/** Event types of DESIGN.md 4.2: what happened on a turn that the metrics care about. */
export const EVENT_TYPES = [
  'need_stated',
  'item_shown',
  'item_accepted',
  'added_to_cart',
  'purchased',
  'order_found',
  'return_started',
  'refund_issued',
  'coupon_applied',
  'question_answered',
  'handoff',
  'user_left',
  'complaint_acknowledged',
  'issue_resolved',
] as const;
export const EventTypeSchema = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventTypeSchema>;

/** Events that end a session: nothing after them counts toward milestones. */
export const TERMINAL_EVENTS: readonly EventType[] = ['handoff', 'user_left'];

// Unknown fields are kept (looseObject) and ignored, as the log schema promises.
export const EventSchema = z.looseObject({
  type: EventTypeSchema,
  item_id: z.string().optional().describe('catalog item the event concerns'),
  order_id: z.string().optional().describe('order the event concerns'),
  amount: z.number().optional().describe('money involved (refund, order value)'),
});
export type DialogueEvent = z.infer<typeof EventSchema>;

export const SlotValueSchema = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.array(z.union([z.string(), z.number()])),
]);

export const GoalSchema = z.looseObject({
  type: GoalTypeSchema,
  slots: z
    .record(z.string(), SlotValueSchema)
    .default({})
    .describe('constraints of the goal (category, max_price, order_id, ...)'),
});
export type Goal = z.infer<typeof GoalSchema>;

export const ReferenceSchema = z.looseObject({
  strategy: StrategyNameSchema.describe('the reference strategy at this turn (relevance 2)'),
  acceptable: z.array(StrategyNameSchema).default([]).describe('other acceptable strategies (relevance 1)'),
});
export type Reference = z.infer<typeof ReferenceSchema>;

export const UserTurnSchema = z.looseObject({
  role: z.literal('user'),
  text: z.string(),
  events: z.array(EventSchema).default([]),
});

export const AgentTurnSchema = z.looseObject({
  role: z.literal('agent'),
  text: z.string(),
  strategy: StrategyNameSchema.optional().describe('the strategy the agent used on this turn'),
  ranking: z.array(StrategyNameSchema).optional().describe("the Expert Agent's strategies, best first"),
  reference: ReferenceSchema.optional(),
  events: z.array(EventSchema).default([]),
  sop_violation: z.boolean().optional().describe('the strategy was not admissible under the SOP'),
  detected_strategy: z
    .string()
    .nullable()
    .optional()
    .describe(
      'the strategy an adherence judge read in the reply text (null: none); adherent when it equals `strategy`',
    ),
  sop_state: z.string().optional().describe('the SOP state the agent acted in'),
  facts: z
    .array(z.string())
    .optional()
    .describe('what the agent had retrieved before this turn, as text lines (the decision state)'),
});

export const TurnSchema = z.discriminatedUnion('role', [UserTurnSchema, AgentTurnSchema]);
export type UserTurn = z.infer<typeof UserTurnSchema>;
export type AgentTurn = z.infer<typeof AgentTurnSchema>;
export type Turn = z.infer<typeof TurnSchema>;

export const OUTCOME_STATUSES = ['success', 'partial', 'failure', 'abandoned', 'escalated'] as const;
export const OutcomeStatusSchema = z.enum(OUTCOME_STATUSES);
export type OutcomeStatus = z.infer<typeof OutcomeStatusSchema>;

export const OutcomeSchema = z.looseObject({
  status: OutcomeStatusSchema,
  converted: z.boolean().default(false).describe('the session ended in a purchase'),
  resolved: z.boolean().default(false).describe("the customer's goal was met"),
  csat: z.number().min(1).max(5).optional().describe('customer satisfaction 1-5'),
  escalated: z.boolean().default(false).describe('handed off to a human'),
  order_value: z.number().min(0).default(0),
});
export type Outcome = z.infer<typeof OutcomeSchema>;

/** One session: one line of a Mgshop-style JSONL log (DESIGN.md 4.2). */
export const SessionSchema = z.looseObject({
  session_id: z.string().min(1),
  domain: z.string().min(1).default('shop'),
  goal: GoalSchema,
  turns: z.array(TurnSchema),
  outcome: OutcomeSchema,
});
export type Session = z.infer<typeof SessionSchema>;

/**
 * Whether an agent turn's reply followed its strategy, as its adherence judge logged it: true or
 * false when the turn logs both `strategy` and `detected_strategy`, undefined otherwise. The one
 * definition the metrics, the CS Agent's data filters and the reports share.
 */
export function turnAdherent(turn: Pick<AgentTurn, 'strategy' | 'detected_strategy'>): boolean | undefined {
  if (turn.strategy === undefined || turn.detected_strategy === undefined) return undefined;
  return turn.detected_strategy === turn.strategy;
}
export type SessionInput = z.input<typeof SessionSchema>;
