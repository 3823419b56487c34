import type { Rng } from '@gopo/core';
import { match } from 'ts-pattern';
import type { RetailAction, RetailOrder, RetailTask } from './data.js';
import type { RetailDb } from './db.js';
import { isRetailWriteTool, type RetailWriteToolName } from './tools.js';

/** What the simulated customer knows about themself (from the task's instruction and profile). */
export interface RetailIdentity {
  readonly userId: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly zip: string;
  readonly email: string;
  /** How the instruction says to identify: by email, or by name and zip code. */
  readonly mode: 'email' | 'name_zip';
}

/** One thing the customer wants done: a gold write action and how the customer says it. */
export interface RetailRequest {
  readonly action: RetailAction;
  /** The order the request is about (absent for a change of the default address). */
  readonly orderId?: string;
  /** A short statement of intent ("cancel an order"). */
  readonly intent: string;
  /** The full request with every detail the agent needs. */
  readonly text: string;
}

/** Reads the identity the instruction gives ("Your name is X Y and your zip code is Z" / "... email is E"). */
export function retailIdentity(db: RetailDb, task: RetailTask): RetailIdentity {
  const profile = db.user(task.user_id);
  if (!profile) throw new RangeError(`task user ${task.user_id} is not in users.json`);
  const email = /\byour email is (\S+?@\S+?)\.?(?:\s|$)/i.exec(task.instruction)?.[1];
  return {
    userId: task.user_id,
    firstName: profile.name.first_name,
    lastName: profile.name.last_name,
    zip: profile.address.zip,
    email: email ?? profile.email,
    mode: email ? 'email' : 'name_zip',
  };
}

/** Options as the customer writes them: a JSON object ({"color": "blue"}). */
const opts = (o: Readonly<Record<string, string>>) =>
  JSON.stringify(o).replaceAll('","', '", "').replaceAll('":"', '": "');

/** An item of an order as the customer names it: the product name, with its options when the name alone is ambiguous. */
function describeItem(order: RetailOrder, itemId: string): string {
  const item = order.items.find((i) => i.item_id === itemId);
  if (!item) return `item ${itemId}`;
  const sameName = order.items.filter((i) => i.name === item.name && i.item_id !== item.item_id);
  return sameName.length ? `${item.name} ${opts(item.options)}` : item.name;
}

/** The options that change from an item to the new variant. */
function changedOptions(
  db: RetailDb,
  order: RetailOrder,
  itemId: string,
  newId: string,
): Record<string, string> {
  const item = order.items.find((i) => i.item_id === itemId);
  const next = item ? db.product(item.product_id)?.variants[newId] : undefined;
  if (!item || !next) return {};
  return Object.fromEntries(Object.entries(next.options).filter(([k, v]) => item.options[k] !== v));
}

const addressText = (a: Readonly<Record<string, unknown>>) =>
  opts(
    Object.fromEntries(
      ['address1', 'address2', 'city', 'state', 'country', 'zip'].map((k) => [k, String(a[k] ?? '')]),
    ),
  );

/** How the customer asks for a gold write action (a structured request the rule agent can read back). */
export function describeRequest(db: RetailDb, action: RetailAction): RetailRequest {
  const k = action.kwargs;
  const orderId = typeof k.order_id === 'string' ? k.order_id : undefined;
  const order = orderId ? db.order(orderId) : undefined;
  const items = (ids: unknown) =>
    Array.isArray(ids) && order ? ids.map((id) => describeItem(order, String(id))) : [];
  const swaps = () =>
    Array.isArray(k.item_ids) && Array.isArray(k.new_item_ids) && order
      ? k.item_ids.map(
          (id, i) =>
            `${describeItem(order, String(id))} -> ${opts(changedOptions(db, order, String(id), String((k.new_item_ids as unknown[])[i])))}`,
        )
      : [];
  const name = action.name;
  if (!isRetailWriteTool(name))
    return { action, intent: 'ask something', text: `Please run ${name} with ${JSON.stringify(k)}.` };
  const [intent, text] = match<RetailWriteToolName, [string, string]>(name)
    .with('cancel_pending_order', () => [
      'cancel an order',
      `I want to cancel order ${orderId}. The reason: ${String(k.reason)}.`,
    ])
    .with('return_delivered_order_items', () => [
      'return some items',
      `I want to return these items of order ${orderId}: ${items(k.item_ids).join('; ')}. Refund to ${String(k.payment_method_id)}.`,
    ])
    .with('exchange_delivered_order_items', () => [
      'exchange some items',
      `For order ${orderId}, I want to exchange: ${swaps().join('; ')}. Use ${String(k.payment_method_id)} for any price difference.`,
    ])
    .with('modify_pending_order_items', () => [
      'change items of an order',
      `For my pending order ${orderId}, I want to change: ${swaps().join('; ')}. Use ${String(k.payment_method_id)} for any price difference.`,
    ])
    .with('modify_pending_order_address', () => [
      'change the address of an order',
      `Please change the shipping address of order ${orderId} to ${addressText(k)}.`,
    ])
    .with('modify_pending_order_payment', () => [
      'change how an order is paid',
      `Please change the payment method of order ${orderId} to ${String(k.payment_method_id)}.`,
    ])
    .with('modify_user_address', () => [
      'change my address',
      `Please change my default address to ${addressText(k)}.`,
    ])
    .exhaustive();
  return { action, ...(orderId ? { orderId } : {}), intent, text };
}

/** The customer's reply to an agent message, and what the environment learns from it. */
export interface RetailCustomerReply {
  readonly text: string;
  /** The reply is an explicit "yes" to a proposed change (SOP event user_confirmed). */
  readonly confirmed: boolean;
  /** The customer ends the conversation with this message. */
  readonly end?: 'done' | 'user_left';
}

const ASKS_CONFIRMATION =
  /\b(confirm|proceed|yes\/no|shall i|should i|would you like me to|do you want me to)\b/i;
const ASKS_IDENTITY = /\b(email|zip|name|identify|verify|authenticate|account)\b/i;

/**
 * A scripted customer for tau-bench's structured tasks. Its requests are the task's gold write
 * actions, said one at a time with every detail (order id, items by name and options, the wanted
 * options, the payment method, the address); it identifies itself as the instruction says (email, or
 * name and zip code) when the agent asks, answers an explicit "yes" to a confirmation that names the
 * order of its current request (and "no" to one that names another), counts a request as handled at
 * the agent's next reply after its "yes", and leaves after `patience` replies that move nothing.
 */
export class RetailCustomer {
  readonly requests: readonly RetailRequest[];
  private current = 0;
  private stated = false;
  private identified = false;
  private saidYes = false;
  private patience: number;

  constructor(
    readonly identity: RetailIdentity,
    task: RetailTask,
    db: RetailDb,
    private readonly rng: Rng,
    patience = 4,
  ) {
    this.patience = patience;
    this.requests = task.actions.filter((a) => isRetailWriteTool(a.name)).map((a) => describeRequest(db, a));
  }

  /** Requests the customer considers handled. */
  get handled(): number {
    return this.current;
  }

  open(): string {
    const r = this.requests[0];
    const hello = this.rng.pick(['Hi!', 'Hello.', 'Hi there.']);
    return r ? `${hello} I'd like to ${r.intent}.` : `${hello} I have a question about my account.`;
  }

  private identify(agentText: string): string {
    this.identified = true;
    const { firstName, lastName, zip, email, mode } = this.identity;
    if (mode === 'email') return `My email is ${email}.`;
    const prefix =
      /\bemail\b/i.test(agentText) && !/\bzip\b/i.test(agentText) ? "I don't remember my email. " : '';
    return `${prefix}My name is ${firstName} ${lastName} and my zip code is ${zip}.`;
  }

  private mentionsCurrent(agentText: string): boolean {
    const r = this.requests[this.current];
    if (!r) return false;
    if (r.orderId) return agentText.includes(r.orderId);
    return agentText.includes(String(r.action.kwargs.zip ?? '')) || /\baddress\b/i.test(agentText);
  }

  private stall(text: string): RetailCustomerReply {
    this.patience--;
    if (this.patience <= 0)
      return { text: "This isn't working. I'll come back later. Bye.", confirmed: false, end: 'user_left' };
    return { text, confirmed: false };
  }

  react(agentText: string): RetailCustomerReply {
    const request = this.requests[this.current];
    if (!request) return { text: 'Actually, never mind. Thanks, bye.', confirmed: false, end: 'done' };
    if (this.saidYes) {
      // The agent's reply after the "yes" reports on the change: the request is handled.
      this.saidYes = false;
      this.current++;
      this.stated = false;
      const next = this.requests[this.current];
      if (!next)
        return {
          text: this.rng.pick(["Thanks, that's all I needed. Bye!", 'Great, thank you. Goodbye.']),
          confirmed: false,
          end: 'done',
        };
      this.stated = true;
      return { text: `Thanks. One more thing: ${next.text}`, confirmed: false };
    }
    if (!this.identified) {
      if (ASKS_IDENTITY.test(agentText)) return { text: this.identify(agentText), confirmed: false };
      this.stated = true;
      return { text: `${this.identify(agentText)} ${request.text}`, confirmed: false };
    }
    if (ASKS_CONFIRMATION.test(agentText)) {
      if (this.mentionsCurrent(agentText)) {
        this.stated = true;
        this.saidYes = true;
        return { text: 'Yes, please go ahead.', confirmed: true };
      }
      if (this.stated) return this.stall(`No, that is not what I asked for. ${request.text}`);
    }
    if (!this.stated) {
      this.stated = true;
      return { text: request.text, confirmed: false };
    }
    if (ASKS_IDENTITY.test(agentText)) return this.stall(this.identify(agentText));
    return this.stall(`Could you please do this: ${request.text}`);
  }
}
