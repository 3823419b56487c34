import type { ToolAgent, ToolAgentStep, ToolAgentView } from '@gopo/dialogue';
import { callIds, type ToolPolicy, toolPolicyRegistry } from '../tool-env.js';
import type { RetailAction, RetailOrder, RetailProduct } from './data.js';
import type { RetailPrivileged } from './env.js';
import { isRetailWriteTool } from './tools.js';

const reply = (text: string, plan?: string): ToolAgentStep => ({
  ...(plan ? { plan } : {}),
  action: { kind: 'reply', text },
});
const YES = /^\s*yes\b/i;

function lastMessage(view: ToolAgentView) {
  return view.messages[view.messages.length - 1];
}

/** A proposed write, as the agent lists it for confirmation. */
function describeAction(a: RetailAction): string {
  const k = a.kwargs;
  const order = typeof k.order_id === 'string' ? ` order ${k.order_id}` : '';
  const parts = Object.entries(k)
    .filter(([key]) => key !== 'order_id')
    .map(
      ([key, v]) =>
        `${key} ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
    );
  return `${a.name.replaceAll('_', ' ')} for${order || ' your account'} (${parts.join('; ')})`;
}

const confirmText = (a: RetailAction) => `I will ${describeAction(a)}. Shall I proceed (yes/no)?`;

/**
 * The retail oracle: knows the task (privileged). It asks for the customer's identity, authenticates
 * with the email of the customer's profile, then for each gold write action lists it, waits for the
 * customer's "yes", makes the call and reports; replies and ending tools in the gold list are
 * skipped. It follows the policy SOP, so it scores 1 on every task whose gold actions the scripted
 * customer asks for: a check of the environment, not a policy.
 */
export function retailOracle(p: RetailPrivileged): ToolAgent {
  const actions = p.task.actions.filter((a) => isRetailWriteTool(a.name));
  const nextId = callIds();
  let phase: 'greet' | 'auth' | 'work' | 'bye' = 'greet';
  let i = 0;
  let proposed = false;
  return {
    name: 'oracle',
    act(view) {
      const last = lastMessage(view);
      if (phase === 'greet') {
        phase = 'auth';
        return reply(
          'Hello! Could you tell me your email, or your name and zip code, so I can find your account?',
        );
      }
      if (phase === 'auth') {
        phase = 'work';
        return {
          plan: 'authenticate',
          action: {
            kind: 'tool_call',
            call: { id: nextId(), name: 'find_user_id_by_email', arguments: { email: p.identity.email } },
          },
        };
      }
      const action = actions[i];
      if (!action) {
        phase = 'bye';
        return reply('Is there anything else I can help you with?');
      }
      if (last?.role === 'tool' && proposed === false && last.name === action.name) {
        i++;
        return reply(
          `Done: ${last.content.startsWith('Error') ? last.content : `${describeAction(action)} is complete`}.`,
        );
      }
      if (proposed && last?.role === 'user' && YES.test(last.content)) {
        proposed = false;
        return {
          plan: 'the customer confirmed',
          action: {
            kind: 'tool_call',
            call: { id: nextId(), name: action.name, arguments: { ...action.kwargs } },
          },
        };
      }
      proposed = true;
      return reply(confirmText(action));
    },
  };
}

interface ItemRef {
  readonly name: string;
  readonly options?: Record<string, string>;
}
interface Swap {
  readonly item: ItemRef;
  readonly changes: Record<string, string>;
}
/** A request read from the customer's message. */
type Parsed =
  | { kind: 'cancel'; orderId: string; reason: string }
  | { kind: 'return'; orderId: string; items: ItemRef[]; payment: string }
  | { kind: 'exchange' | 'modify_items'; orderId: string; swaps: Swap[]; payment: string }
  | { kind: 'order_address'; orderId: string; address: Record<string, string> }
  | { kind: 'payment'; orderId: string; payment: string }
  | { kind: 'user_address'; address: Record<string, string> };

const ORDER = /#W\d{7}/;
const PAYMENT = /\b((?:credit_card|gift_card|paypal)_\d+)\b/;

function parseObject(text: string): Record<string, string> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}

function parseItem(text: string): ItemRef {
  const m = /^\s*(.*?)\s*(\{.*\})?\s*$/.exec(text)!;
  const options = m[2] ? parseObject(m[2]) : undefined;
  return { name: m[1]!, ...(options ? { options } : {}) };
}

/** Reads a request in the scripted customer's phrasing (RetailCustomer). */
export function parseRetailRequest(text: string): Parsed | undefined {
  const orderId = ORDER.exec(text)?.[0];
  const payment = PAYMENT.exec(text)?.[1];
  const cancel = /cancel order (#W\d{7})\. The reason: (.+?)\.(?:\s|$)/.exec(text);
  if (cancel) return { kind: 'cancel', orderId: cancel[1]!, reason: cancel[2]! };
  const ret = /return these items of order #W\d{7}: (.*)\. Refund to/.exec(text);
  if (ret && orderId && payment)
    return { kind: 'return', orderId, items: ret[1]!.split('; ').map(parseItem), payment };
  const swap = /(?:exchange|change): (.*)\. Use /.exec(text);
  if (swap && orderId && payment) {
    const swaps = swap[1]!.split('; ').map((s) => {
      const [item, changes] = s.split(' -> ') as [string, string];
      return { item: parseItem(item), changes: parseObject(changes) ?? {} };
    });
    return { kind: /exchange:/.test(text) ? 'exchange' : 'modify_items', orderId, swaps, payment };
  }
  const address = /address (?:of order #W\d{7} )?to (\{.*\})/.exec(text);
  if (address) {
    const a = parseObject(address[1]!);
    if (a)
      return orderId ? { kind: 'order_address', orderId, address: a } : { kind: 'user_address', address: a };
  }
  if (/payment method of order/.test(text) && orderId && payment)
    return { kind: 'payment', orderId, payment };
  return undefined;
}

/** Picks the order's items a request names (by product name and, when given, options), each once. */
function pickItems(order: RetailOrder, refs: readonly ItemRef[]): string[] | undefined {
  const used = new Set<number>();
  const out: string[] = [];
  for (const ref of refs) {
    const i = order.items.findIndex(
      (it, j) =>
        !used.has(j) &&
        it.name === ref.name &&
        Object.entries(ref.options ?? {}).every(([k, v]) => it.options[k] === v),
    );
    if (i < 0) return undefined;
    used.add(i);
    out.push(order.items[i]!.item_id);
  }
  return out;
}

/**
 * A rule agent for the scripted customer, with no privileged knowledge: it authenticates with the
 * email or name and zip code the customer gives, reads the request, looks up the order (and, for an
 * exchange or modification, the products) to turn item names and wanted options into item ids, checks
 * the order is the customer's, lists the change and asks for a yes, then makes the call and reports.
 * With `confirm` false it makes the change without asking (the policy SOP blocks that write).
 */
export class RetailRuleAgent implements ToolAgent {
  readonly name: string;
  private readonly nextId = callIds();
  private userId: string | undefined;
  private request: Parsed | undefined;
  private order: RetailOrder | undefined;
  private products = new Map<string, RetailProduct>();
  private proposal: RetailAction | undefined;
  private awaitingYes = false;

  private call(name: string, args: Record<string, unknown>, plan: string): ToolAgentStep {
    return { plan, action: { kind: 'tool_call', call: { id: this.nextId(), name, arguments: args } } };
  }

  act(view: ToolAgentView): ToolAgentStep {
    const last = lastMessage(view);
    if (last?.role === 'tool') return this.afterTool(last.name, last.content);
    if (last?.role !== 'user') return reply('How can I help you today?');
    const text = last.content;
    if (this.awaitingYes && this.proposal) {
      this.awaitingYes = false;
      if (YES.test(text))
        return this.call(this.proposal.name, this.proposal.kwargs, 'the customer confirmed');
      this.proposal = undefined;
    }
    const parsed = parseRetailRequest(text);
    if (parsed) {
      this.request = parsed;
      this.order = undefined;
      this.proposal = undefined;
    }
    if (!this.userId) {
      const email = /\b([\w.+-]+@[\w-]+\.[\w.]+?)\.?(?:\s|$)/.exec(text)?.[1];
      if (email) return this.call('find_user_id_by_email', { email }, 'authenticate by email');
      const nz = /name is (\S+) (\S+?) and my zip code is (\d{5})/.exec(text);
      if (nz)
        return this.call(
          'find_user_id_by_name_zip',
          { first_name: nz[1], last_name: nz[2], zip: nz[3] },
          'authenticate by name and zip',
        );
      return reply('Before I can help, could you give me your email, or your name and zip code?');
    }
    if (/\b(bye|goodbye|that's all|never mind)\b/i.test(text))
      return reply('Thank you for contacting us. Goodbye!');
    return this.work();
  }

  /** Next move on the current request: look up what is missing, then propose the change. */
  private work(): ToolAgentStep {
    const r = this.request;
    if (!r) return reply('How can I help you today?');
    if (r.kind === 'user_address')
      return this.propose({ name: 'modify_user_address', kwargs: { user_id: this.userId, ...r.address } });
    if (!this.order || this.order.order_id !== r.orderId)
      return this.call('get_order_details', { order_id: r.orderId }, `look up ${r.orderId}`);
    if (this.order.user_id !== this.userId) {
      this.request = undefined;
      return reply(`I'm sorry, order ${r.orderId} is not on your account, so I cannot change it.`);
    }
    const order = this.order;
    switch (r.kind) {
      case 'cancel':
        return this.propose({
          name: 'cancel_pending_order',
          kwargs: { order_id: r.orderId, reason: r.reason },
        });
      case 'order_address':
        return this.propose({
          name: 'modify_pending_order_address',
          kwargs: { order_id: r.orderId, ...r.address },
        });
      case 'payment':
        return this.propose({
          name: 'modify_pending_order_payment',
          kwargs: { order_id: r.orderId, payment_method_id: r.payment },
        });
      case 'return': {
        const ids = pickItems(order, r.items);
        if (!ids)
          return reply(`I could not find those items in order ${r.orderId}. Could you list them again?`);
        return this.propose({
          name: 'return_delivered_order_items',
          kwargs: { order_id: r.orderId, item_ids: ids, payment_method_id: r.payment },
        });
      }
      default: {
        const ids = pickItems(
          order,
          r.swaps.map((s) => s.item),
        );
        if (!ids)
          return reply(`I could not find those items in order ${r.orderId}. Could you list them again?`);
        const newIds: string[] = [];
        for (const [j, id] of ids.entries()) {
          const item = order.items.find((it) => it.item_id === id)!;
          const product = this.products.get(item.product_id);
          if (!product)
            return this.call(
              'get_product_details',
              { product_id: item.product_id },
              `options of ${item.name}`,
            );
          const want = { ...item.options, ...r.swaps[j]!.changes };
          const variant = Object.values(product.variants).find((v) =>
            Object.entries(want).every(([k, val]) => v.options[k] === val),
          );
          if (!variant)
            return reply(`Sorry, ${item.name} is not available with ${JSON.stringify(r.swaps[j]!.changes)}.`);
          newIds.push(variant.item_id);
        }
        const name = r.kind === 'exchange' ? 'exchange_delivered_order_items' : 'modify_pending_order_items';
        return this.propose({
          name,
          kwargs: { order_id: r.orderId, item_ids: ids, new_item_ids: newIds, payment_method_id: r.payment },
        });
      }
    }
  }

  constructor(private readonly confirm = true) {
    this.name = confirm ? 'rule' : 'hasty';
  }

  private propose(action: RetailAction): ToolAgentStep {
    this.proposal = action;
    if (!this.confirm) return this.call(action.name, action.kwargs, 'make the change at once');
    this.awaitingYes = true;
    return reply(confirmText(action));
  }

  private afterTool(name: string, content: string): ToolAgentStep {
    if (name.startsWith('find_user_id')) {
      if (content.startsWith('Error'))
        return reply('I could not find your account. Could you check the details?');
      this.userId = content;
      return this.request ? this.work() : reply('Thank you, I found your account. How can I help you?');
    }
    if (name === 'get_order_details') {
      if (content.startsWith('Error')) {
        this.request = undefined;
        return reply(`I could not find that order: ${content}.`);
      }
      this.order = JSON.parse(content) as RetailOrder;
      return this.work();
    }
    if (name === 'get_product_details') {
      if (!content.startsWith('Error')) {
        const p = JSON.parse(content) as RetailProduct;
        this.products.set(p.product_id, p);
      }
      return this.work();
    }
    // A write: report it; the request is handled.
    const done = this.proposal;
    this.proposal = undefined;
    this.request = undefined;
    this.order = undefined;
    if (content.startsWith('Error')) return reply(`I could not complete it: ${content}.`);
    return reply(`Done: ${done ? describeAction(done) : name} is complete. Anything else?`);
  }
}

/** The scripted retail policies for `gopo eval-policy --env taubench-retail`. */
export function retailPolicies() {
  const policies: ToolPolicy<RetailPrivileged>[] = [
    {
      name: 'oracle',
      description: 'carries out the gold actions with the policy protocol (privileged; an upper bound)',
      create: retailOracle,
    },
    {
      name: 'rule',
      description: "reads the scripted customer's requests, looks up orders and products, confirms, acts",
      create: () => new RetailRuleAgent(),
    },
    {
      name: 'hasty',
      description: 'the rule agent without the confirmation step (its writes break the policy)',
      create: () => new RetailRuleAgent(false),
    },
  ];
  return toolPolicyRegistry('taubench-retail policy', policies);
}
