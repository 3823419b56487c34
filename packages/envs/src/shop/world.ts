import { Rng } from '@gopo/core';
import { z } from 'zod';

export const WorldConfigSchema = z.strictObject({
  seed: z
    .number()
    .int()
    .default(1)
    .describe('seed of the generated world (catalog, users, orders, policies)'),
  items: z
    .number()
    .int()
    .min(50)
    .max(100_000)
    .default(600)
    .describe('number of catalog items (at most 100000)'),
  users: z
    .number()
    .int()
    .min(5)
    .max(100_000)
    .default(200)
    .describe('number of registered customers (at most 100000)'),
  ordersPerUser: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(3)
    .describe('mean number of past orders per customer (at most 100)'),
  returnWindowDays: z
    .number()
    .int()
    .min(1)
    .default(30)
    .describe('days after delivery during which returns are accepted'),
  freeShippingOver: z
    .number()
    .min(0)
    .default(50)
    .describe('order value above which standard shipping is free'),
});
export type WorldConfig = z.infer<typeof WorldConfigSchema>;

export type AttributeValue = string | boolean;

interface AttributeDef {
  readonly name: string;
  /** Values for categorical attributes; absent for yes/no features. */
  readonly values?: readonly string[];
}

interface CategoryDef {
  readonly name: string;
  readonly singular: string;
  readonly price: readonly [number, number];
  readonly brands: readonly string[];
  readonly models: readonly string[];
  readonly attributes: readonly AttributeDef[];
}

const COLORS = ['black', 'white', 'silver', 'blue', 'red', 'green', 'grey'];

/** The category table: what kinds of things the shop sells and which attributes describe them. */
export const CATEGORIES: readonly CategoryDef[] = [
  {
    name: 'headphones',
    singular: 'headphones',
    price: [19, 349],
    brands: ['Sonora', 'Aurio', 'Basswell', 'Kiro'],
    models: ['Pulse', 'Echo', 'Aria', 'Drift', 'Nova'],
    attributes: [{ name: 'color', values: COLORS }, { name: 'noise_cancelling' }, { name: 'wireless' }],
  },
  {
    name: 'laptops',
    singular: 'laptop',
    price: [399, 2499],
    brands: ['Lumen', 'Corebook', 'Vertex', 'Altus'],
    models: ['Air', 'Pro', 'Flex', 'Studio', 'Go'],
    attributes: [
      { name: 'screen_size', values: ['13 inch', '14 inch', '15 inch', '16 inch'] },
      { name: 'ram', values: ['8 GB', '16 GB', '32 GB'] },
      { name: 'touchscreen' },
    ],
  },
  {
    name: 'smartphones',
    singular: 'phone',
    price: [149, 1299],
    brands: ['Pixo', 'Orbit', 'Nimbus', 'Tellar'],
    models: ['One', 'Lite', 'Max', 'Mini', 'Edge'],
    attributes: [
      { name: 'storage', values: ['64 GB', '128 GB', '256 GB', '512 GB'] },
      { name: 'color', values: COLORS },
      { name: 'dual_sim' },
    ],
  },
  {
    name: 'running shoes',
    singular: 'running shoes',
    price: [39, 219],
    brands: ['Stride', 'Apex', 'Fleet', 'Ridge'],
    models: ['Glide', 'Sprint', 'Trail', 'Tempo', 'Cloud'],
    attributes: [
      { name: 'size', values: ['38', '39', '40', '41', '42', '43', '44', '45'] },
      { name: 'color', values: COLORS },
      { name: 'waterproof' },
    ],
  },
  {
    name: 'backpacks',
    singular: 'backpack',
    price: [25, 189],
    brands: ['Trekker', 'Urbane', 'Voya', 'Kestrel'],
    models: ['Daypack', 'Commuter', 'Roam', 'Summit', 'Metro'],
    attributes: [
      { name: 'capacity', values: ['15 L', '20 L', '25 L', '30 L', '40 L'] },
      { name: 'color', values: COLORS },
      { name: 'laptop_sleeve' },
    ],
  },
  {
    name: 'coffee makers',
    singular: 'coffee maker',
    price: [29, 899],
    brands: ['Brewmaster', 'Caffio', 'Roastly', 'Mokka'],
    models: ['Classic', 'Barista', 'Drip', 'Press', 'Duo'],
    attributes: [
      { name: 'type', values: ['drip', 'espresso', 'pod', 'french press'] },
      { name: 'milk_frother' },
      { name: 'programmable' },
    ],
  },
  {
    name: 'smartwatches',
    singular: 'smartwatch',
    price: [79, 799],
    brands: ['Chrono', 'Pulsar', 'Fitly', 'Orbit'],
    models: ['Sport', 'Active', 'Classic', 'Ultra', 'Fit'],
    attributes: [{ name: 'color', values: COLORS }, { name: 'gps' }, { name: 'heart_rate_monitor' }],
  },
  {
    name: 'desk chairs',
    singular: 'desk chair',
    price: [59, 999],
    brands: ['Ergon', 'Sitwell', 'Posture', 'Loft'],
    models: ['Task', 'Executive', 'Mesh', 'Comfort', 'Flow'],
    attributes: [
      { name: 'material', values: ['mesh', 'leather', 'fabric'] },
      { name: 'adjustable_armrests' },
      { name: 'lumbar_support' },
    ],
  },
  {
    name: 'cameras',
    singular: 'camera',
    price: [199, 2999],
    brands: ['Optika', 'Lensar', 'Framer', 'Shutterline'],
    models: ['X1', 'Z5', 'Pro', 'Snap', 'Vista'],
    attributes: [
      { name: 'sensor', values: ['full frame', 'APS-C', 'micro four thirds'] },
      { name: 'weather_sealed' },
      { name: 'image_stabilization' },
    ],
  },
  {
    name: 'blenders',
    singular: 'blender',
    price: [25, 499],
    brands: ['Vortex', 'Blendo', 'Mixa', 'Purely'],
    models: ['Power', 'Compact', 'Pro', 'Smoothie', 'Chef'],
    attributes: [
      { name: 'capacity', values: ['0.5 L', '1 L', '1.5 L', '2 L'] },
      { name: 'color', values: COLORS },
      { name: 'portable' },
    ],
  },
  {
    name: 'jackets',
    singular: 'jacket',
    price: [39, 449],
    brands: ['Northline', 'Alpen', 'Driftwood', 'Cascade'],
    models: ['Shell', 'Parka', 'Puffer', 'Windbreaker', 'Fleece'],
    attributes: [
      { name: 'size', values: ['XS', 'S', 'M', 'L', 'XL'] },
      { name: 'color', values: COLORS },
      { name: 'waterproof' },
    ],
  },
  {
    name: 'monitors',
    singular: 'monitor',
    price: [99, 1499],
    brands: ['Viewtek', 'Clarion', 'Pixelon', 'Lumen'],
    models: ['Ultra', 'Pro', 'Wide', 'Office', 'Game'],
    attributes: [
      { name: 'screen_size', values: ['24 inch', '27 inch', '32 inch', '34 inch'] },
      { name: 'resolution', values: ['1080p', '1440p', '4K'] },
      { name: 'height_adjustable' },
    ],
  },
  {
    name: 'speakers',
    singular: 'speaker',
    price: [29, 599],
    brands: ['Sonora', 'Boomly', 'Acoustix', 'Kiro'],
    models: ['Mini', 'Go', 'Home', 'Party', 'Wave'],
    attributes: [{ name: 'color', values: COLORS }, { name: 'waterproof' }, { name: 'wireless' }],
  },
];

export interface Item {
  readonly id: string;
  readonly name: string;
  readonly category: string;
  readonly brand: string;
  readonly price: number;
  readonly stock: number;
  readonly rating: number;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

export interface Customer {
  readonly id: string;
  readonly name: string;
  readonly email: string;
}

export const ORDER_STATUSES = ['processing', 'shipped', 'delivered'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface OrderLine {
  readonly itemId: string;
  readonly quantity: number;
  readonly unitPrice: number;
}

export interface Order {
  readonly id: string;
  readonly customerId: string;
  readonly lines: readonly OrderLine[];
  readonly total: number;
  readonly status: OrderStatus;
  readonly placedDaysAgo: number;
  /** Days since delivery (delivered orders only). */
  readonly deliveredDaysAgo?: number;
  /** Days until expected delivery (processing and shipped orders). */
  readonly etaDays?: number;
  readonly carrier: string;
}

export interface Coupon {
  readonly code: string;
  readonly percent: number;
  readonly minSpend: number;
  /** Categories it applies to; empty means every category. */
  readonly categories: readonly string[];
}

export interface StorePolicies {
  readonly returnWindowDays: number;
  readonly freeShippingOver: number;
  readonly standardShippingDays: number;
  readonly expressShippingDays: number;
  readonly expressFee: number;
  readonly coupons: readonly Coupon[];
}

export interface World {
  readonly seed: number;
  readonly items: readonly Item[];
  readonly itemsById: ReadonlyMap<string, Item>;
  readonly itemsByCategory: ReadonlyMap<string, readonly Item[]>;
  readonly customers: readonly Customer[];
  readonly orders: readonly Order[];
  readonly ordersById: ReadonlyMap<string, Order>;
  readonly policies: StorePolicies;
}

const FIRST = [
  'Ana',
  'Ben',
  'Chen',
  'Dara',
  'Eli',
  'Fatima',
  'Gus',
  'Hana',
  'Ivan',
  'Jo',
  'Kofi',
  'Lena',
  'Mo',
  'Nia',
  'Omar',
  'Pia',
];
const LAST = [
  'Silva',
  'Okafor',
  'Lee',
  'Novak',
  'Haddad',
  'Smith',
  'Rossi',
  'Tanaka',
  'Berg',
  'Diaz',
  'Khan',
  'Moreau',
];
const CARRIERS = ['ParcelGo', 'SwiftShip', 'PostNet'];

const round2 = (x: number) => Math.round(x * 100) / 100;

/** A human phrase for an attribute: "noise cancelling", "a 27 inch screen size". */
export function attributeLabel(name: string): string {
  return name.replace(/_/g, ' ');
}

/**
 * Generates the shop: items spread over every category with attributes, prices (log-uniform in the
 * category's range, ending in .99 or .00) and stock (about one item in ten sold out), customers, their
 * past orders in every status, and the store policies. The same config gives the same world.
 */
export function generateWorld(config: Partial<WorldConfig> = {}): World {
  const cfg = WorldConfigSchema.parse(config);
  const rng = Rng.fromSeed(cfg.seed, 'shop-world');
  const items: Item[] = [];
  for (let i = 0; i < cfg.items; i++) {
    const cat = CATEGORIES[i % CATEGORIES.length]!;
    const brand = rng.pick(cat.brands);
    const model = `${rng.pick(cat.models)} ${rng.intBetween(1, 9)}${rng.pick(['', 'S', 'X', 'i'])}`.trim();
    const [lo, hi] = cat.price;
    const raw = Math.exp(Math.log(lo) + rng.float() * (Math.log(hi) - Math.log(lo)));
    const price = rng.bool(0.7) ? Math.floor(raw) + 0.99 : Math.round(raw);
    const attributes: Record<string, AttributeValue> = {};
    for (const a of cat.attributes) attributes[a.name] = a.values ? rng.pick(a.values) : rng.bool(0.5);
    items.push({
      id: `p-${String(i + 1).padStart(4, '0')}`,
      name: `${brand} ${model} ${cat.singular}`.replace(/\s+/g, ' '),
      category: cat.name,
      brand,
      price: round2(price),
      stock: rng.bool(0.1) ? 0 : rng.intBetween(1, 60),
      rating: round2(3 + rng.float() * 2),
      attributes,
    });
  }
  const customers: Customer[] = [];
  for (let i = 0; i < cfg.users; i++) {
    const first = rng.pick(FIRST);
    const last = rng.pick(LAST);
    customers.push({
      id: `u-${String(i + 1).padStart(4, '0')}`,
      name: `${first} ${last}`,
      email: `${first}.${last}${i}@example.com`.toLowerCase(),
    });
  }
  const orders: Order[] = [];
  let orderNo = 10001;
  for (const c of customers) {
    const n = 1 + rng.int(2 * cfg.ordersPerUser - 1);
    for (let k = 0; k < n; k++) {
      const nLines = 1 + (rng.bool(0.25) ? 1 : 0);
      const lines: OrderLine[] = rng
        .sample(items, nLines)
        .map((it) => ({ itemId: it.id, quantity: rng.bool(0.85) ? 1 : 2, unitPrice: it.price }));
      const status = ORDER_STATUSES[rng.categorical([0.2, 0.3, 0.5])]!;
      const placedDaysAgo =
        status === 'processing'
          ? rng.intBetween(0, 2)
          : status === 'shipped'
            ? rng.intBetween(1, 6)
            : rng.intBetween(5, 42);
      const total = round2(lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0));
      orders.push({
        id: `o-${orderNo++}`,
        customerId: c.id,
        lines,
        total,
        status,
        placedDaysAgo,
        ...(status === 'delivered'
          ? { deliveredDaysAgo: Math.max(0, placedDaysAgo - rng.intBetween(2, 5)) }
          : { etaDays: rng.intBetween(1, 6) }),
        carrier: rng.pick(CARRIERS),
      });
    }
  }
  const policies: StorePolicies = {
    returnWindowDays: cfg.returnWindowDays,
    freeShippingOver: cfg.freeShippingOver,
    standardShippingDays: 5,
    expressShippingDays: 2,
    expressFee: 9.99,
    coupons: [
      { code: 'WELCOME10', percent: 10, minSpend: 0, categories: [] },
      { code: 'SAVE15', percent: 15, minSpend: 100, categories: [] },
      {
        code: 'TECH20',
        percent: 20,
        minSpend: 300,
        categories: ['laptops', 'smartphones', 'cameras', 'monitors'],
      },
      { code: 'AUDIO12', percent: 12, minSpend: 40, categories: ['headphones', 'speakers'] },
      { code: 'HOME10', percent: 10, minSpend: 30, categories: ['coffee makers', 'blenders', 'desk chairs'] },
      { code: 'OUTDOOR15', percent: 15, minSpend: 60, categories: ['running shoes', 'backpacks', 'jackets'] },
      { code: 'SORRY20', percent: 20, minSpend: 0, categories: [] },
    ],
  };
  const itemsByCategory = new Map<string, Item[]>();
  for (const it of items) {
    const list = itemsByCategory.get(it.category) ?? [];
    list.push(it);
    itemsByCategory.set(it.category, list);
  }
  return {
    seed: cfg.seed,
    items,
    itemsById: new Map(items.map((i) => [i.id, i])),
    itemsByCategory,
    customers,
    orders,
    ordersById: new Map(orders.map((o) => [o.id, o])),
    policies,
  };
}

/** Whether `coupon` may be used on `amount` spent in `category` under the store rules. */
export function couponApplies(coupon: Coupon, category: string, amount: number): boolean {
  return (
    amount >= coupon.minSpend && (coupon.categories.length === 0 || coupon.categories.includes(category))
  );
}

/** The best valid coupon for a purchase (largest percent), excluding apology-only codes. */
export function bestCoupon(policies: StorePolicies, category: string, amount: number): Coupon | undefined {
  let best: Coupon | undefined;
  for (const c of policies.coupons)
    if (c.code !== 'SORRY20' && couponApplies(c, category, amount) && (!best || c.percent > best.percent))
      best = c;
  return best;
}

/** Whether a delivered order is still inside the return window. */
export function returnAllowed(order: Order, policies: StorePolicies): boolean {
  return order.status === 'delivered' && (order.deliveredDaysAgo ?? 0) <= policies.returnWindowDays;
}
