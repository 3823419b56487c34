import type { Rng } from '@gopo/core';
import { GOAL_TYPES, type GoalType } from '@gopo/dialogue';
import { z } from 'zod';
import {
  type AttributeValue,
  CATEGORIES,
  type Item,
  type Order,
  returnAllowed,
  type World,
} from './world.js';

export const PersonaSchema = z.object({
  patience: z
    .number()
    .min(1)
    .describe('patience points: each unhelpful reply costs some; at zero the customer leaves'),
  priceSensitivity: z
    .number()
    .min(0)
    .max(1)
    .describe('0 ignores price, 1 never goes over budget and asks for discounts'),
  verbosity: z.number().min(0).max(1).describe('how long and chatty the customer messages are'),
  cooperativeness: z.number().min(0).max(1).describe('how much the customer volunteers up front'),
});
export type Persona = z.infer<typeof PersonaSchema>;

export const COMPLAINT_ISSUES = ['late_delivery', 'damaged_item', 'wrong_item'] as const;
export type ComplaintIssue = (typeof COMPLAINT_ISSUES)[number];

export const RETURN_REASONS = [
  'too small',
  'not as described',
  'changed my mind',
  'stopped working',
  'arrived too late to be useful',
];

/** The hidden goal in full: what the customer wants, including what they have not said yet. */
export type HiddenGoal =
  | {
      readonly type: 'purchase';
      readonly category: string;
      readonly maxPrice: number;
      /** Must-have attributes. */
      readonly wants: Readonly<Record<string, AttributeValue>>;
      readonly targetItemId: string;
      readonly asksDiscount: boolean;
    }
  | { readonly type: 'order_status'; readonly orderId: string }
  | {
      readonly type: 'return_refund';
      readonly orderId: string;
      readonly itemId: string;
      readonly reason: string;
      readonly inWindow: boolean;
    }
  | { readonly type: 'product_question'; readonly itemId: string; readonly attribute: string }
  | { readonly type: 'complaint'; readonly orderId: string; readonly issue: ComplaintIssue };

export interface Scenario {
  readonly id: string;
  readonly seed: number;
  readonly customerId: string;
  readonly persona: Persona;
  readonly goal: HiddenGoal;
}

export const ScenarioConfigSchema = z.strictObject({
  goalWeights: z
    .record(z.enum(GOAL_TYPES), z.number().min(0))
    .default({
      purchase: 0.35,
      order_status: 0.15,
      return_refund: 0.2,
      product_question: 0.15,
      complaint: 0.15,
    })
    .describe('relative frequency of each goal type'),
  patience: z
    .tuple([z.number().min(1).max(1000), z.number().min(1).max(1000)])
    .default([2.5, 6.5])
    .describe('range of persona patience (1 to 1000)'),
});
export type ScenarioConfig = z.infer<typeof ScenarioConfigSchema>;

/** Goal slots as they appear in the log (`goal.slots`). */
export function goalSlots(goal: HiddenGoal): Record<string, string | number | boolean> {
  switch (goal.type) {
    case 'purchase':
      return { category: goal.category, max_price: goal.maxPrice, ...goal.wants };
    case 'order_status':
      return { order_id: goal.orderId };
    case 'return_refund':
      return { order_id: goal.orderId, item_id: goal.itemId, reason: goal.reason, in_window: goal.inWindow };
    case 'product_question':
      return { item_id: goal.itemId, attribute: goal.attribute };
    case 'complaint':
      return { order_id: goal.orderId, issue: goal.issue };
  }
}

function drawPurchase(world: World, rng: Rng, persona: Persona): HiddenGoal {
  for (;;) {
    const cat = rng.pick(CATEGORIES);
    const inStock = world.itemsByCategory.get(cat.name)!.filter((i) => i.stock > 0);
    if (inStock.length === 0) continue;
    const target = rng.pick(inStock);
    const nAttr = rng.bool(0.5) ? 2 : 1;
    const wants: Record<string, AttributeValue> = {};
    for (const a of rng.sample(cat.attributes, nAttr)) wants[a.name] = target.attributes[a.name]!;
    // Budget sits a little above the target's price, rounded as people do.
    const maxPrice = Math.ceil((target.price * (1.05 + 0.3 * rng.float())) / 10) * 10;
    return {
      type: 'purchase',
      category: cat.name,
      maxPrice,
      wants,
      targetItemId: target.id,
      asksDiscount: persona.priceSensitivity > 0.6,
    };
  }
}

interface OrderPools {
  readonly delivered: readonly Order[];
  readonly open: readonly Order[];
  readonly shipped: readonly Order[];
}
const poolCache = new WeakMap<World, OrderPools>();
function poolsOf(world: World): OrderPools {
  let p = poolCache.get(world);
  if (!p) {
    p = {
      delivered: world.orders.filter((o) => o.status === 'delivered'),
      open: world.orders.filter((o) => o.status !== 'delivered'),
      shipped: world.orders.filter((o) => o.status === 'shipped'),
    };
    poolCache.set(world, p);
  }
  return p;
}

const parsedConfigs = new WeakSet<object>();
/** Validates a scenario config once, so drawing many scenarios does not re-validate it. */
export function parseScenarioConfig(config: Partial<ScenarioConfig> = {}): ScenarioConfig {
  const cfg = ScenarioConfigSchema.parse(config);
  parsedConfigs.add(cfg);
  return cfg;
}

/**
 * Draws one scenario: a goal type by weight, constraints drawn from the catalog and the orders (a
 * purchase goal is built around an in-stock item, so it is always satisfiable), and a persona.
 */
export function drawScenario(
  world: World,
  rng: Rng,
  seed: number,
  config: Partial<ScenarioConfig> | ScenarioConfig = {},
): Scenario {
  const cfg = parsedConfigs.has(config) ? (config as ScenarioConfig) : ScenarioConfigSchema.parse(config);
  const pools = poolsOf(world);
  const weights = GOAL_TYPES.map((g) => cfg.goalWeights[g] ?? 0);
  const type: GoalType = GOAL_TYPES[rng.categorical(weights)]!;
  const persona: Persona = {
    patience: cfg.patience[0] + rng.float() * (cfg.patience[1] - cfg.patience[0]),
    priceSensitivity: rng.float(),
    verbosity: rng.float(),
    cooperativeness: rng.float(),
  };
  let goal: HiddenGoal;
  let order: Order | undefined;
  switch (type) {
    case 'purchase':
      goal = drawPurchase(world, rng, persona);
      break;
    case 'order_status':
      order = rng.pick(pools.open);
      goal = { type, orderId: order.id };
      break;
    case 'return_refund': {
      order = rng.pick(pools.delivered);
      goal = {
        type,
        orderId: order.id,
        itemId: rng.pick(order.lines).itemId,
        reason: rng.pick(RETURN_REASONS),
        inWindow: returnAllowed(order, world.policies),
      };
      break;
    }
    case 'product_question': {
      const item: Item = rng.pick(world.items);
      goal = { type, itemId: item.id, attribute: rng.pick(Object.keys(item.attributes)) };
      break;
    }
    case 'complaint': {
      const issue = rng.pick(COMPLAINT_ISSUES);
      order = rng.pick(issue === 'late_delivery' ? pools.shipped : pools.delivered);
      goal = { type, orderId: order.id, issue };
      break;
    }
  }
  const customerId = order?.customerId ?? rng.pick(world.customers).id;
  return { id: `s-${seed}`, seed, customerId, persona, goal };
}
