import { loadConfig } from '@gopo/core';
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
  .strictObject({
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

/** Position of every strategy in a set (the index model heads use); unknown names are absent. */
export function strategyIndex(set: StrategySet): ReadonlyMap<string, number> {
  return new Map(set.strategies.map((s, i) => [s, i]));
}

/** Type guard for the default shop strategies. */
export function isShopStrategy(name: string): name is ShopStrategy {
  return (SHOP_STRATEGIES as readonly string[]).includes(name);
}

/** Parses a user-defined strategy set (from a config file or an object); throws on duplicates or bad names. */
export function parseStrategySet(raw: unknown): StrategySet {
  return StrategySetSchema.parse(raw);
}

/** Loads a user-defined strategy set from a YAML or JSON file (`name` and ordered `strategies`). */
export async function loadStrategySet(file: string): Promise<StrategySet> {
  return loadConfig(file, StrategySetSchema);
}
