import { z } from 'zod';
import { type EventType, EventTypeSchema, GOAL_TYPES, type GoalType } from './log-schema.js';

export const MilestoneSchema = z.strictObject({
  event: EventTypeSchema.describe('the event whose first appearance reaches this milestone'),
  weight: z.number().positive().finite().describe('weight w_m of the milestone in TSE'),
});
export type Milestone = z.infer<typeof MilestoneSchema>;

/** Ordered milestones per goal type; a config may replace any list (DESIGN.md 4.3). */
export const MilestoneTableSchema = z
  .record(z.string(), z.array(MilestoneSchema).min(1))
  .describe('goal type -> ordered milestones with weights')
  .superRefine((table, ctx) => {
    for (const [goal, list] of Object.entries(table)) {
      const seen = new Set<string>();
      list.forEach((m, i) => {
        if (seen.has(m.event))
          ctx.addIssue({
            code: 'custom',
            path: [goal, i, 'event'],
            message: `duplicate milestone "${m.event}"`,
          });
        seen.add(m.event);
      });
    }
  });
export type MilestoneTable = z.infer<typeof MilestoneTableSchema>;

const ms = (...pairs: [EventType, number][]): Milestone[] =>
  pairs.map(([event, weight]) => ({ event, weight }));

/**
 * TSE milestone defaults: the one definition (`gopo eval`'s TSE config, the trainer's rewards and the
 * docs all read this table). purchase and return_refund are DESIGN.md 4.3; the other three are our
 * definition, an opening milestone of weight 1, a middle one, and the goal-completing event of weight
 * 4, over the events the shop simulator emits for those goals:
 * - order_status: the customer states the need, the order is located (2), its status is answered;
 * - product_question: the need is stated, the asked-about item is shown (1: showing an item is the
 *   same step as in purchase, weighted the same), the question is answered;
 * - complaint: the need is stated, the complaint is acknowledged (2), the issue is resolved.
 */
export const DEFAULT_MILESTONES: Readonly<Record<GoalType, readonly Milestone[]>> = {
  purchase: ms(['need_stated', 1], ['item_shown', 1], ['item_accepted', 2], ['purchased', 4]),
  order_status: ms(['need_stated', 1], ['order_found', 2], ['question_answered', 4]),
  return_refund: ms(['order_found', 1], ['return_started', 2], ['refund_issued', 4]),
  product_question: ms(['need_stated', 1], ['item_shown', 1], ['question_answered', 4]),
  complaint: ms(['need_stated', 1], ['complaint_acknowledged', 2], ['issue_resolved', 4]),
};

/** Every default goal type has a milestone list (checked here so a new goal type cannot be forgotten). */
for (const g of GOAL_TYPES) if (!DEFAULT_MILESTONES[g]) throw new Error(`no default milestones for ${g}`);
