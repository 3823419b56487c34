import { z } from 'zod';

/** The default shop strategy set (DESIGN.md 4.1), in a fixed order that model heads index into. */
export const SHOP_STRATEGIES = [
  'greet',
  'elicit_need',
  'clarify',
  'recommend',
  'compare',
  'answer_question',
  'check_order',
  'process_return',
  'offer_coupon',
  'reassure',
  'confirm_purchase',
  'escalate',
  'close',
] as const;

export type ShopStrategy = (typeof SHOP_STRATEGIES)[number];

/** Strategy names are free strings in logs (user-defined sets); this is their shape. */
export const StrategyNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'strategy names are lower_snake_case')
  .describe('a strategy name from the active strategy set');

export const StrategySetSchema = z
  .object({
    name: z.string().min(1).describe('name of the strategy set, e.g. "shop"'),
    strategies: z
      .array(StrategyNameSchema)
      .min(1)
      .describe('the strategies, in the order model heads index them'),
  })
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.strategies.forEach((name, i) => {
      if (seen.has(name))
        ctx.addIssue({ code: 'custom', path: ['strategies', i], message: `duplicate strategy "${name}"` });
      seen.add(name);
    });
  });

export type StrategySet = z.infer<typeof StrategySetSchema>;

export const SHOP_STRATEGY_SET: StrategySet = { name: 'shop', strategies: [...SHOP_STRATEGIES] };
