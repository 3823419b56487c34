import { checkToolArguments, type JsonSchema, type ToolCall, type ToolSpec } from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { calculate } from './calculate.js';
import type { RetailOrder, RetailUser } from './data.js';
import type { RetailDb } from './db.js';
import { pyJsonDumps, pyRound2 } from './python.js';

/*
 * The 16 tau-bench retail tools (sierra-research/tau-bench, tau_bench/envs/retail/tools), written
 * from their behaviour: the same checks in the same order, the same error texts, the same writes
 * (status values, refunds, gift-card balances rounded with Python's round(x, 2), sorted item lists)
 * and the same outputs (json.dumps of the record). Descriptions are our own wording.
 */

export const RETAIL_TOOL_NAMES = [
  'calculate',
  'cancel_pending_order',
  'exchange_delivered_order_items',
  'find_user_id_by_email',
  'find_user_id_by_name_zip',
  'get_order_details',
  'get_product_details',
  'get_user_details',
  'list_all_product_types',
  'modify_pending_order_address',
  'modify_pending_order_items',
  'modify_pending_order_payment',
  'modify_user_address',
  'return_delivered_order_items',
  'think',
  'transfer_to_human_agents',
] as const;
export type RetailToolName = (typeof RETAIL_TOOL_NAMES)[number];

export const isRetailTool = (name: string): name is RetailToolName =>
  (RETAIL_TOOL_NAMES as readonly string[]).includes(name);

/** Tools that change the database: each needs the user's explicit confirmation first. */
export const RETAIL_WRITE_TOOLS = [
  'cancel_pending_order',
  'exchange_delivered_order_items',
  'modify_pending_order_address',
  'modify_pending_order_items',
  'modify_pending_order_payment',
  'modify_user_address',
  'return_delivered_order_items',
] as const satisfies readonly RetailToolName[];
export type RetailWriteToolName = (typeof RETAIL_WRITE_TOOLS)[number];

export const isRetailWriteTool = (name: string): name is RetailWriteToolName =>
  (RETAIL_WRITE_TOOLS as readonly string[]).includes(name);

/** Tools that end the episode when called. */
export const RETAIL_TERMINATE_TOOLS: readonly RetailToolName[] = ['transfer_to_human_agents'];

const str = (description: string): JsonSchema => ({ type: 'string', description });
const strList = (description: string): JsonSchema => ({
  type: 'array',
  items: { type: 'string' },
  description,
});
const ORDER_ID = str("the order id, starting with '#', e.g. '#W0000000'");
const PAYMENT = str("a payment method id of the user, e.g. 'gift_card_0000000' or 'credit_card_0000000'");
const ADDRESS: Record<string, JsonSchema> = {
  address1: str('first address line'),
  address2: str('second address line'),
  city: str('city'),
  state: str("state, e.g. 'CA'"),
  country: str("country, e.g. 'USA'"),
  zip: str('zip code'),
};
const ADDRESS_FIELDS = Object.keys(ADDRESS);

function spec(name: RetailToolName, description: string, properties: Record<string, JsonSchema>): ToolSpec {
  return {
    type: 'function',
    function: {
      name,
      description,
      parameters: { type: 'object', properties, required: Object.keys(properties) },
    },
  };
}

/** The tool specs in the OpenAI function-calling format; every argument is required. */
export const RETAIL_TOOLS: readonly ToolSpec[] = [
  spec(
    'calculate',
    'Evaluate an arithmetic expression (numbers, + - * /, parentheses); the result is rounded to 2 decimals.',
    {
      expression: str("the expression, e.g. '2 * (3.5 + 4)'"),
    },
  ),
  spec(
    'cancel_pending_order',
    'Cancel a pending order and refund it (gift cards at once, other methods in 5-7 business days). Only after the user confirmed the order id and the reason.',
    {
      order_id: ORDER_ID,
      reason: {
        type: 'string',
        enum: ['no longer needed', 'ordered by mistake'],
        description: 'why the order is cancelled',
      },
    },
  ),
  spec(
    'exchange_delivered_order_items',
    'Exchange items of a delivered order for other available options of the same products; the price difference is paid or refunded with the given payment method. Can be done once per order, after the user confirmed every item.',
    {
      order_id: ORDER_ID,
      item_ids: strList('the item ids to exchange (repeat an id to exchange several of the same item)'),
      new_item_ids: strList('the new item ids, position by position, each of the same product'),
      payment_method_id: PAYMENT,
    },
  ),
  spec('find_user_id_by_email', "Find a user's id by email address.", { email: str('the email address') }),
  spec(
    'find_user_id_by_name_zip',
    "Find a user's id by first name, last name and zip code (when the email is not known).",
    { first_name: str('first name'), last_name: str('last name'), zip: str('zip code') },
  ),
  spec('get_order_details', 'Status, items, address and payments of an order.', { order_id: ORDER_ID }),
  spec('get_product_details', "A product's variants: item ids, options, availability, prices.", {
    product_id: str('the product id (not an item id)'),
  }),
  spec('get_user_details', "A user's profile: name, address, email, payment methods, orders.", {
    user_id: str("the user id, e.g. 'sara_doe_496'"),
  }),
  spec('list_all_product_types', 'Every product type of the store, by name, with its product id.', {}),
  spec(
    'modify_pending_order_address',
    'Change the shipping address of a pending order, after the user confirmed it.',
    {
      order_id: ORDER_ID,
      ...ADDRESS,
    },
  ),
  spec(
    'modify_pending_order_items',
    'Change items of a pending order to other available options of the same products; the price difference is paid or refunded with the given payment method. Can be done once per order, after the user confirmed every item.',
    {
      order_id: ORDER_ID,
      item_ids: strList('the item ids to change'),
      new_item_ids: strList('the new item ids, position by position, each of the same product'),
      payment_method_id: PAYMENT,
    },
  ),
  spec(
    'modify_pending_order_payment',
    'Pay a pending order with another payment method of the user (a gift card must cover the total), after the user confirmed it.',
    { order_id: ORDER_ID, payment_method_id: PAYMENT },
  ),
  spec('modify_user_address', "Change a user's default address, after the user confirmed it.", {
    user_id: str("the user id, e.g. 'sara_doe_496'"),
    ...ADDRESS,
  }),
  spec(
    'return_delivered_order_items',
    'Return items of a delivered order; the refund goes to the original payment method or a gift card of the user. After the user confirmed the items and the refund method.',
    { order_id: ORDER_ID, item_ids: strList('the item ids to return'), payment_method_id: PAYMENT },
  ),
  spec('think', 'Write down reasoning; changes nothing and returns nothing.', {
    thought: str('the thought'),
  }),
  spec(
    'transfer_to_human_agents',
    'Hand the user to a human agent with a summary; only when the request cannot be handled with these tools or the user insists.',
    { summary: str("a summary of the user's issue") },
  ),
];

const specOf = (name: RetailToolName) => RETAIL_TOOLS[RETAIL_TOOL_NAMES.indexOf(name)]!;

/** CancelPendingOrder, ...: the upstream class names, which its argument errors quote. */
const className = (name: string) =>
  name
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');

const quoteList = (names: readonly string[]) => {
  const q = names.map((n) => `'${n}'`);
  if (q.length <= 2) return q.join(' and ');
  return `${q.slice(0, -1).join(', ')}, and ${q.at(-1)}`;
};

/**
 * Why a call cannot run, as upstream words it (Python's TypeError for an unexpected or missing
 * argument); arguments of the wrong JSON type are refused too (upstream would run the tool with them).
 */
function argumentError(name: RetailToolName, args: Readonly<Record<string, unknown>>): string | undefined {
  const s = specOf(name);
  const props = s.function.parameters.properties;
  const unexpected = Object.keys(args).find((k) => !(k in props));
  if (unexpected !== undefined)
    return `Error: ${className(name)}.invoke() got an unexpected keyword argument '${unexpected}'`;
  const missing = s.function.parameters.required.filter((k) => args[k] === undefined);
  if (missing.length)
    return `Error: ${className(name)}.invoke() missing ${missing.length} required positional argument${missing.length > 1 ? 's' : ''}: ${quoteList(missing)}`;
  const wrong = checkToolArguments(s, args).find((i) => i.problem === 'wrong_type');
  return wrong ? `Error: ${wrong.message}` : undefined;
}

type Args = Readonly<Record<string, unknown>>;
const s = (a: Args, k: string) => a[k] as string;
const list = (a: Args, k: string) => a[k] as string[];
const count = (xs: readonly string[], x: string) => xs.filter((y) => y === x).length;
const pySorted = (xs: readonly string[]) => [...xs].sort();
const isGiftCard = (paymentMethodId: string) => paymentMethodId.includes('gift_card');
type PaymentMethod = RetailUser['payment_methods'][string];

/** The order named by `order_id` when it exists and has `status`, else upstream's error text. */
function orderIn(db: RetailDb, a: Args, status: 'pending' | 'delivered', verb: string): RetailOrder | string {
  const order = db.order(s(a, 'order_id'));
  if (!order) return 'Error: order not found';
  if (order.status !== status) return `Error: non-${status} order cannot be ${verb}`;
  return order;
}

/** The order's user's payment method `id`, if the user has it. */
function paymentMethod(db: RetailDb, order: RetailOrder, id: string): PaymentMethod | undefined {
  const methods = db.user(order.user_id)!.payment_methods;
  return Object.hasOwn(methods, id) ? methods[id] : undefined;
}

/** A gift card that cannot cover `amount` (other methods always can). */
const giftCardShort = (pm: PaymentMethod, amount: number) =>
  pm.source === 'gift_card' && (pm.balance as number) < amount;

/** balance = round(balance + delta, 2) on the user's gift card; `float`: Python holds the result as a float. */
function addToBalance(db: RetailDb, userId: string, pmId: string, delta: number, float = true): void {
  const pm = db.editUser(userId).payment_methods[pmId]!;
  db.setNumber(pm, 'balance', pyRound2((pm.balance as number) + delta), float);
}

function cancelPendingOrder(db: RetailDb, a: Args): string {
  const found = orderIn(db, a, 'pending', 'cancelled');
  if (typeof found === 'string') return found;
  const reason = s(a, 'reason');
  if (reason !== 'no longer needed' && reason !== 'ordered by mistake') return 'Error: invalid reason';
  const order = db.editOrder(s(a, 'order_id'));
  const refunds = [];
  for (const payment of order.payment_history) {
    const pmId = payment.payment_method_id;
    refunds.push({ transaction_type: 'refund', amount: payment.amount, payment_method_id: pmId });
    if (isGiftCard(pmId)) addToBalance(db, order.user_id, pmId, payment.amount);
  }
  order.status = 'cancelled';
  order.cancel_reason = reason;
  order.payment_history.push(...refunds);
  return db.dumps(order);
}

/** The price difference of swapping items (new minus old, summed in order), or the upstream error. */
function priceDifference(
  db: RetailDb,
  order: RetailOrder,
  itemIds: readonly string[],
  newIds: readonly string[],
): number | string {
  const all = order.items.map((i) => i.item_id);
  for (const id of itemIds) if (count(itemIds, id) > count(all, id)) return `Error: ${id} not found`;
  if (itemIds.length !== newIds.length) return 'Error: the number of items to be exchanged should match';
  let diff = 0;
  for (let i = 0; i < itemIds.length; i++) {
    const item = order.items.find((x) => x.item_id === itemIds[i])!;
    const variants = db.product(item.product_id)!.variants;
    const next = Object.hasOwn(variants, newIds[i]!) ? variants[newIds[i]!] : undefined;
    if (!next?.available) return `Error: new item ${newIds[i]} not found or available`;
    diff += next.price - item.price;
  }
  return diff;
}

function exchangeDeliveredOrderItems(db: RetailDb, a: Args): string {
  const found = orderIn(db, a, 'delivered', 'exchanged');
  if (typeof found === 'string') return found;
  const itemIds = list(a, 'item_ids');
  const newIds = list(a, 'new_item_ids');
  const d = priceDifference(db, found, itemIds, newIds);
  if (typeof d === 'string') return d;
  const diff = pyRound2(d);
  const pmId = s(a, 'payment_method_id');
  const pm = paymentMethod(db, found, pmId);
  if (!pm) return 'Error: payment method not found';
  if (giftCardShort(pm, diff)) return 'Error: insufficient gift card balance to pay for the price difference';
  const order = db.editOrder(s(a, 'order_id'));
  order.status = 'exchange requested';
  order.exchange_items = pySorted(itemIds);
  order.exchange_new_items = pySorted(newIds);
  order.exchange_payment_method_id = pmId;
  // round(0, 2) of an empty exchange stays an int in Python.
  db.setNumber(order, 'exchange_price_difference', diff, itemIds.length > 0);
  return db.dumps(order);
}

function findUserIdByEmail(db: RetailDb, a: Args): string {
  const email = s(a, 'email').toLowerCase();
  for (const [id, user] of db.userEntries()) if (user.email.toLowerCase() === email) return id;
  return 'Error: user not found';
}

function findUserIdByNameZip(db: RetailDb, a: Args): string {
  const first = s(a, 'first_name').toLowerCase();
  const last = s(a, 'last_name').toLowerCase();
  for (const [id, user] of db.userEntries())
    if (
      user.name.first_name.toLowerCase() === first &&
      user.name.last_name.toLowerCase() === last &&
      user.address.zip === s(a, 'zip')
    )
      return id;
  return 'Error: user not found';
}

function listAllProductTypes(db: RetailDb): string {
  const byName = new Map<string, string>();
  for (const p of db.products()) byName.set(p.name, p.product_id);
  const sorted = [...byName].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : 1));
  return pyJsonDumps(Object.fromEntries(sorted));
}

function address(a: Args): Record<string, string> {
  return Object.fromEntries(ADDRESS_FIELDS.map((k) => [k, s(a, k)]));
}

function modifyPendingOrderAddress(db: RetailDb, a: Args): string {
  const found = orderIn(db, a, 'pending', 'modified');
  if (typeof found === 'string') return found;
  const order = db.editOrder(s(a, 'order_id'));
  order.address = address(a) as RetailOrder['address'];
  return db.dumps(order);
}

function modifyPendingOrderItems(db: RetailDb, a: Args): string {
  const found = orderIn(db, a, 'pending', 'modified');
  if (typeof found === 'string') return found;
  const itemIds = list(a, 'item_ids');
  const newIds = list(a, 'new_item_ids');
  const diff = priceDifference(db, found, itemIds, newIds);
  if (typeof diff === 'string') return diff;
  const pmId = s(a, 'payment_method_id');
  const pm = paymentMethod(db, found, pmId);
  if (!pm) return 'Error: payment method not found';
  if (giftCardShort(pm, diff)) return 'Error: insufficient gift card balance to pay for the new item';
  const order = db.editOrder(s(a, 'order_id'));
  // The difference is recorded unrounded, as upstream does; with no items it is Python's int 0.
  const floatDiff = itemIds.length > 0;
  const entry: Record<string, unknown> = { transaction_type: diff > 0 ? 'payment' : 'refund' };
  db.setNumber(entry, 'amount', Math.abs(diff), floatDiff);
  entry.payment_method_id = pmId;
  order.payment_history.push(entry as RetailOrder['payment_history'][number]);
  if (pm.source === 'gift_card')
    addToBalance(db, found.user_id, pmId, -diff, floatDiff || db.isFloat(pm, 'balance'));
  for (let i = 0; i < itemIds.length; i++) {
    const item = order.items.find((x) => x.item_id === itemIds[i])!;
    const variant = db.product(item.product_id)!.variants[newIds[i]!]!;
    item.item_id = newIds[i]!;
    item.price = variant.price;
    item.options = { ...variant.options };
  }
  order.status = 'pending (item modified)';
  return db.dumps(order);
}

function modifyPendingOrderPayment(db: RetailDb, a: Args): string {
  const found = orderIn(db, a, 'pending', 'modified');
  if (typeof found === 'string') return found;
  const pmId = s(a, 'payment_method_id');
  const pm = paymentMethod(db, found, pmId);
  if (!pm) return 'Error: payment method not found';
  const first = found.payment_history[0];
  if (!first) return 'Error: list index out of range';
  if (found.payment_history.length > 1 || first.transaction_type !== 'payment')
    return 'Error: there should be exactly one payment for a pending order';
  if (first.payment_method_id === pmId)
    return 'Error: the new payment method should be different from the current one';
  const amount = first.amount;
  if (giftCardShort(pm, amount)) return 'Error: insufficient gift card balance to pay for the order';
  const order = db.editOrder(s(a, 'order_id'));
  const oldId = first.payment_method_id;
  order.payment_history.push(
    { transaction_type: 'payment', amount, payment_method_id: pmId },
    { transaction_type: 'refund', amount, payment_method_id: oldId },
  );
  if (pm.source === 'gift_card') addToBalance(db, found.user_id, pmId, -amount);
  if (isGiftCard(oldId)) addToBalance(db, found.user_id, oldId, amount);
  return db.dumps(order);
}

function modifyUserAddress(db: RetailDb, a: Args): string {
  const id = s(a, 'user_id');
  if (!db.user(id)) return 'Error: user not found';
  const user = db.editUser(id);
  user.address = address(a) as RetailUser['address'];
  return db.dumps(user);
}

function returnDeliveredOrderItems(db: RetailDb, a: Args): string {
  const found = orderIn(db, a, 'delivered', 'returned');
  if (typeof found === 'string') return found;
  const pmId = s(a, 'payment_method_id');
  if (!paymentMethod(db, found, pmId)) return 'Error: payment method not found';
  if (!isGiftCard(pmId)) {
    const first = found.payment_history[0];
    if (!first) return 'Error: list index out of range';
    if (pmId !== first.payment_method_id)
      return 'Error: payment method should be either the original payment method or a gift card';
  }
  const itemIds = list(a, 'item_ids');
  const all = found.items.map((i) => i.item_id);
  for (const item of itemIds)
    if (count(itemIds, item) > count(all, item)) return 'Error: some item not found';
  const order = db.editOrder(s(a, 'order_id'));
  order.status = 'return requested';
  order.return_items = pySorted(itemIds);
  order.return_payment_method_id = pmId;
  return db.dumps(order);
}

const lookup = (db: RetailDb, record: object | undefined, what: string) =>
  record ? db.dumps(record) : `Error: ${what} not found`;

/** Runs one tool call on the episode's database and returns what the tool returns (a string). */
export function executeRetailCall(db: RetailDb, call: Pick<ToolCall, 'name' | 'arguments'>): string {
  if (!isRetailTool(call.name)) return `Unknown action ${call.name}`;
  const a = call.arguments;
  const bad = argumentError(call.name, a);
  if (bad) return bad;
  return match(call.name)
    .with('calculate', () => calculate(s(a, 'expression')))
    .with('cancel_pending_order', () => cancelPendingOrder(db, a))
    .with('exchange_delivered_order_items', () => exchangeDeliveredOrderItems(db, a))
    .with('find_user_id_by_email', () => findUserIdByEmail(db, a))
    .with('find_user_id_by_name_zip', () => findUserIdByNameZip(db, a))
    .with('get_order_details', () => lookup(db, db.order(s(a, 'order_id')), 'order'))
    .with('get_product_details', () => lookup(db, db.product(s(a, 'product_id')), 'product'))
    .with('get_user_details', () => lookup(db, db.user(s(a, 'user_id')), 'user'))
    .with('list_all_product_types', () => listAllProductTypes(db))
    .with('modify_pending_order_address', () => modifyPendingOrderAddress(db, a))
    .with('modify_pending_order_items', () => modifyPendingOrderItems(db, a))
    .with('modify_pending_order_payment', () => modifyPendingOrderPayment(db, a))
    .with('modify_user_address', () => modifyUserAddress(db, a))
    .with('return_delivered_order_items', () => returnDeliveredOrderItems(db, a))
    .with('think', () => '')
    .with('transfer_to_human_agents', () => 'Transfer successful')
    .exhaustive();
}
