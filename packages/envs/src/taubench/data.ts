import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, FileFormatError, MissingFileError, validateConfig } from '@gopo/core';
import { z } from 'zod';

/*
 * The tau-bench retail data (data/taubench_retail/README.md): users, orders and products keyed by id,
 * and the task files. Unknown fields are kept (looseObject): the database-hash reward compares
 * whole records, so nothing may be dropped.
 */

const AddressSchema = z.looseObject({
  address1: z.string().describe('street address'),
  address2: z.string().describe('apartment, suite'),
  city: z.string().describe('city'),
  country: z.string().describe('country'),
  state: z.string().describe('state'),
  zip: z.string().describe('zip code'),
});

const PaymentMethodSchema = z.looseObject({
  source: z.string().describe('credit_card, paypal or gift_card'),
  id: z.string().describe('the payment method id, e.g. gift_card_0000000'),
  balance: z.number().optional().describe('gift card balance'),
});

export const RetailUserSchema = z.looseObject({
  name: z.looseObject({
    first_name: z.string().describe('first name'),
    last_name: z.string().describe('last name'),
  }),
  address: AddressSchema.describe('default address'),
  email: z.string().describe('email address'),
  payment_methods: z.record(z.string(), PaymentMethodSchema).describe('payment methods by id'),
  orders: z.array(z.string()).describe("the user's order ids"),
});
export type RetailUser = z.infer<typeof RetailUserSchema>;

const OrderItemSchema = z.looseObject({
  name: z.string().describe('product name'),
  product_id: z.string().describe('product id'),
  item_id: z.string().describe('item (variant) id'),
  price: z.number().describe('price paid'),
  options: z.record(z.string(), z.string()).describe('the variant options'),
});

export const RetailOrderSchema = z.looseObject({
  order_id: z.string().describe('order id, "#W" and 7 digits'),
  user_id: z.string().describe('the ordering user'),
  address: AddressSchema.describe('shipping address'),
  items: z.array(OrderItemSchema).describe('ordered items'),
  fulfillments: z.array(z.unknown()).describe('shipments (tracking ids, item ids)'),
  status: z.string().describe('pending, processed, delivered, cancelled, or a requested change'),
  payment_history: z
    .array(
      z.looseObject({
        transaction_type: z.string().describe('payment or refund'),
        amount: z.number().describe('amount'),
        payment_method_id: z.string().describe('payment method'),
      }),
    )
    .describe('payments and refunds, oldest first'),
});
export type RetailOrder = z.infer<typeof RetailOrderSchema>;

const VariantSchema = z.looseObject({
  item_id: z.string().describe('item id'),
  options: z.record(z.string(), z.string()).describe('option values'),
  available: z.boolean().describe('in stock'),
  price: z.number().describe('price'),
});

export const RetailProductSchema = z.looseObject({
  name: z.string().describe('product type name'),
  product_id: z.string().describe('product id'),
  variants: z.record(z.string(), VariantSchema).describe('variants by item id'),
});
export type RetailProduct = z.infer<typeof RetailProductSchema>;

/** The retail database: three tables keyed by id. */
export interface RetailData {
  readonly users: Readonly<Record<string, RetailUser>>;
  readonly orders: Readonly<Record<string, RetailOrder>>;
  readonly products: Readonly<Record<string, RetailProduct>>;
}

/**
 * Key order of objects whose keys look like integers (a product's variants, keyed by 10-digit item
 * ids), which JavaScript objects would list in numeric order: Python lists them as the file does.
 */
export type KeyOrder = WeakMap<object, readonly string[]>;

export const RetailActionSchema = z.object({
  name: z.string().min(1).describe('tool name (or "respond")'),
  kwargs: z.record(z.string(), z.unknown()).describe('the arguments'),
});
export type RetailAction = z.infer<typeof RetailActionSchema>;

/** One task (tasks_train.json, tasks_dev.json: a JSON list of these). */
export const RetailTaskSchema = z.object({
  annotator: z.string().default('').describe('who wrote the task ("synthetic" for generated ones)'),
  user_id: z.string().min(1).describe('the user the simulated customer is'),
  instruction: z.string().describe("the customer's instruction"),
  actions: z.array(RetailActionSchema).describe('the gold actions whose replay defines the target database'),
  outputs: z.array(z.string()).default([]).describe('strings the agent must say'),
});
export type RetailTask = z.infer<typeof RetailTaskSchema>;

/** A retail data or task file is malformed; names file, line and field. */
export class RetailDataError extends FileFormatError {}

async function readJson(file: string, what: string): Promise<{ raw: unknown; text: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new MissingFileError(file, what);
  }
  try {
    return { raw: JSON.parse(text), text };
  } catch (e) {
    throw new RetailDataError({ file }, `not JSON: ${(e as Error).message}`);
  }
}

function validate<S extends z.ZodType>(schema: S, raw: unknown, file: string, text: string): z.infer<S> {
  try {
    return validateConfig(schema, raw, file, text);
  } catch (e) {
    if (e instanceof ConfigError) throw new RetailDataError(e.location, e.detail);
    throw e;
  }
}

/** Freezes a loaded record tree: the shared base data must never change (episodes copy on write). */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * Loads users.json, orders.json and products.json from data/taubench_retail. The records are the
 * files' own objects (validated, frozen, key order kept); `keyOrder` gives each variants table's
 * item ids in file order.
 */
export async function loadRetailData(dataDir: string): Promise<{ data: RetailData; keyOrder: KeyOrder }> {
  const dir = path.join(dataDir, 'taubench_retail');
  const texts: Record<string, string> = {};
  const table = async <S extends z.ZodType>(name: string, schema: S) => {
    const file = path.join(dir, `${name}.json`);
    const { raw, text } = await readJson(file, `tau-bench retail ${name}`);
    validate(z.record(z.string(), schema), raw, file, text);
    texts[name] = text;
    return raw as Record<string, z.infer<S>>;
  };
  const data: RetailData = {
    users: await table('users', RetailUserSchema),
    orders: await table('orders', RetailOrderSchema),
    products: await table('products', RetailProductSchema),
  };
  const keyOrder: KeyOrder = new WeakMap();
  const productOf = new Map<string, string>();
  for (const p of Object.values(data.products))
    for (const id of Object.keys(p.variants)) productOf.set(id, p.product_id);
  const seen = new Map<string, string[]>();
  for (const m of texts.products!.matchAll(/"item_id"\s*:\s*"([^"]+)"/g)) {
    const pid = productOf.get(m[1]!);
    if (pid === undefined) continue;
    const list = seen.get(pid) ?? [];
    if (!list.includes(m[1]!)) list.push(m[1]!);
    seen.set(pid, list);
  }
  for (const p of Object.values(data.products)) {
    const order = seen.get(p.product_id);
    if (order && order.length === Object.keys(p.variants).length) keyOrder.set(p.variants, order);
  }
  return { data: deepFreeze(data), keyOrder };
}

/** Loads a task file (a JSON list of tasks). */
export async function loadRetailTasks(file: string): Promise<RetailTask[]> {
  const { raw, text } = await readJson(file, 'tau-bench task file');
  return validate(z.array(RetailTaskSchema), raw, file, text);
}

/** The task files of the data directory, by split. */
export const RETAIL_TASK_SPLITS = ['train', 'dev'] as const;
export type RetailTaskSplit = (typeof RETAIL_TASK_SPLITS)[number];
export const retailTaskFile = (dataDir: string, split: RetailTaskSplit) =>
  path.join(dataDir, 'taubench_retail', 'tasks', `tasks_${split}.json`);
