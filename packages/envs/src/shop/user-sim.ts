import type { Rng } from '@gopo/core';
import type { DialogueEvent, ShopStrategy } from '@gopo/dialogue';
import { match } from 'ts-pattern';
import type { NluResult } from './nlu.js';
import type { HiddenGoal, Scenario } from './scenario.js';
import type { Revealed, ShopProgress } from './state.js';
import { CLOSERS, FRUSTRATED, GREETINGS, OPENERS, USER_TEMPLATES, type UserAct } from './user-templates.js';
import { type AttributeValue, attributeLabel, couponApplies, type Item, type World } from './world.js';

/** Why a session ended. */
export type EndReason =
  | 'resolved'
  | 'consolation'
  | 'user_left'
  | 'handoff'
  | 'closed_unresolved'
  | 'turn_limit';

/** The customer's reply to one agent turn. */
export interface UserReaction {
  readonly text: string;
  readonly act: UserAct;
  /** Events caused by the agent's turn (they go on the agent turn). */
  readonly agentEvents: DialogueEvent[];
  /** Events the customer caused (they go on this user turn). */
  readonly userEvents: DialogueEvent[];
  readonly done: boolean;
  readonly end?: EndReason;
  /** Patience lost on this turn. */
  readonly penalty: number;
}

/** How hard each kind of unhelpful reply hits the customer's patience. */
export interface PenaltyWeights {
  readonly sopViolation: number;
  readonly mismatch: number;
  readonly turnCost: number;
}

type Fill = Record<string, string | number>;

interface Judgement {
  act: UserAct;
  penalty: number;
  fill?: Fill;
  agentEvents?: DialogueEvent[];
  userEvents?: DialogueEvent[];
  end?: EndReason;
  /** A second act appended to the message (e.g. asking for a discount after accepting). */
  also?: UserAct;
}

const ORDER_TOPICS = new Set(['order_status', 'return_refund', 'complaint']);

const ISSUE_TEXT: Record<string, readonly string[]> = {
  late_delivery: [
    'my order is late',
    "my package still hasn't arrived",
    'the delivery is way overdue',
    'my parcel is days late',
  ],
  damaged_item: [
    'the item arrived damaged',
    'it came broken',
    'the product was cracked on arrival',
    'the box and the item were smashed',
  ],
  wrong_item: [
    'you sent me the wrong item',
    'I received something I never ordered',
    'the wrong product was in the box',
    'this is not what I ordered',
  ],
};

export function wantPhrase(name: string, v: AttributeValue): string {
  const label = attributeLabel(name);
  if (typeof v === 'boolean') return v ? `with ${label}` : `without ${label}`;
  if (name === 'color') return `in ${v}`;
  return `with ${label} ${v}`;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * The rule-based, agenda-driven customer. It holds the hidden goal and a persona, reads each agent
 * reply through the NLU, judges it against the goal and the store policies, updates what it has
 * revealed and what the shop has achieved, answers in varied natural language and loses patience on
 * unhelpful, wrong, off-SOP or self-contradicting replies until it leaves.
 */
export class UserSimulator {
  patience: number;
  readonly initialPatience: number;
  penaltyTotal = 0;
  private discountNagged = false;
  private readonly goal: HiddenGoal;

  constructor(
    private readonly world: World,
    readonly scenario: Scenario,
    private readonly rng: Rng,
    private readonly revealed: Revealed,
    private readonly progress: ShopProgress,
    private readonly weights: PenaltyWeights,
  ) {
    this.goal = scenario.goal;
    this.patience = scenario.persona.patience;
    this.initialPatience = scenario.persona.patience;
  }

  /** The opening message: a bare hello from reserved customers, the need from the rest. */
  open(): { text: string; act: UserAct; events: DialogueEvent[] } {
    if (this.scenario.persona.cooperativeness < 0.2)
      return { text: this.render('hello', {}), act: 'hello', events: [] };
    const j = this.stateNeed();
    return { text: this.render(j.act, j.fill ?? {}), act: j.act, events: j.userEvents ?? [] };
  }

  /**
   * Reacts to an agent reply. `nlu` is the NLU reading of its text. With `blocked` the store refused to
   * execute the move (hard SOP): whatever the reply promised does not happen, and the customer notices.
   */
  react(
    nlu: NluResult,
    context: { commanded: string; sopViolation: boolean; firstTurn: boolean; blocked?: boolean },
  ): UserReaction {
    let j: Judgement;
    if (this.progress.resolved) {
      // The task is done: the customer says goodbye whatever comes next (a close is the polite way).
      j =
        nlu.strategy === 'close' && !context.blocked
          ? { act: 'bye_after', penalty: 0, end: 'resolved' }
          : { act: 'bye_after', penalty: 0.5, end: 'resolved' };
    } else if (context.blocked) {
      j = { act: nlu.strategy === null ? 'confused' : 'off_task', penalty: 0.5 };
    } else if (nlu.strategy === null) {
      j = { act: 'confused', penalty: 1 };
    } else {
      j = this.judge(nlu.strategy, nlu, context.firstTurn);
    }
    let penalty = j.penalty + this.weights.turnCost;
    if (context.sopViolation) penalty += this.weights.sopViolation;
    if (nlu.strategy !== context.commanded) penalty += this.weights.mismatch;
    this.patience -= penalty;
    this.penaltyTotal += penalty;
    const userEvents = j.userEvents ?? [];
    // A reply that finished the task keeps the customer even if it also tried their patience.
    if (!j.end && !this.progress.resolved && this.patience <= 0) {
      userEvents.push({ type: 'user_left' });
      return {
        text: this.render('leave_angry', {}),
        act: 'leave_angry',
        agentEvents: j.agentEvents ?? [],
        userEvents,
        done: true,
        end: 'user_left',
        penalty,
      };
    }
    let text = this.render(j.act, j.fill ?? {});
    if (j.also) text = `${text} ${this.render(j.also, j.fill ?? {}, true)}`;
    return {
      text,
      act: j.act,
      agentEvents: j.agentEvents ?? [],
      userEvents,
      done: j.end !== undefined,
      ...(j.end ? { end: j.end } : {}),
      penalty,
    };
  }

  private messages = 0;

  private render(act: UserAct, fill: Fill, bare = false): string {
    const { verbosity } = this.scenario.persona;
    const first = this.messages++ === 0;
    let core = this.rng
      .pick(USER_TEMPLATES[act])
      .replace(/\{(\w+)\}/g, (_, k: string) => String(fill[k] ?? ''));
    core = cap(
      core
        .replace(/\s+([.,?!])/g, '$1')
        .replace(/\s{2,}/g, ' ')
        .trim(),
    );
    if (bare) return core;
    const parts: string[] = [];
    if (this.patience < 0.4 * this.initialPatience && this.rng.bool(0.7))
      parts.push(this.rng.pick(FRUSTRATED));
    else if (act !== 'hello' && this.rng.bool(verbosity * 0.6))
      parts.push(this.rng.pick(first ? GREETINGS : OPENERS));
    // After a lead-in that ends in a comma the sentence goes on in lower case ("Okay, yes please").
    const last = parts[parts.length - 1];
    parts.push(
      last?.endsWith(',') && !/^I\b/.test(core) ? core.charAt(0).toLowerCase() + core.slice(1) : core,
    );
    if (act !== 'hello' && this.rng.bool(verbosity * 0.5)) parts.push(this.rng.pick(CLOSERS));
    return parts.join(' ');
  }

  private item(id: string): Item {
    return this.world.itemsById.get(id)!;
  }

  // ---- the agenda: stating the need and revealing details ----

  private stateNeed(): Judgement {
    const g = this.goal;
    const coop = this.scenario.persona.cooperativeness;
    const r = this.revealed;
    r.needStated = true;
    r.topic = g.type;
    const giveOrder = coop > 0.5;
    return match(g)
      .with({ type: 'purchase' }, (p) => {
        r.category = p.category;
        if (coop > 0.4) r.maxPrice = p.maxPrice;
        for (const [k, v] of Object.entries(p.wants)) if (this.rng.float() < coop) r.wants[k] = v;
        const wants = Object.entries(r.wants).map(([k, v]) => wantPhrase(k, v));
        return {
          act: 'need_purchase' as const,
          penalty: 0,
          fill: {
            category: p.category,
            wants: wants.length ? ` ${wants.join(' and ')}` : '',
            budget: r.maxPrice !== undefined ? ` under $${r.maxPrice}` : '',
          },
          userEvents: [{ type: 'need_stated' as const }],
        };
      })
      .with({ type: 'order_status' }, (o) => {
        if (giveOrder) r.orderId = o.orderId;
        return {
          act: 'need_order_status' as const,
          penalty: 0,
          fill: { order: giveOrder ? ` ${o.orderId}` : '' },
          userEvents: [needEvent(r.orderId)],
        };
      })
      .with({ type: 'return_refund' }, (o) => {
        r.reason = o.reason;
        r.itemId = o.itemId;
        if (giveOrder) r.orderId = o.orderId;
        return {
          act: 'need_return' as const,
          penalty: 0,
          fill: { order: giveOrder ? ` ${o.orderId}` : '', reason: o.reason },
          userEvents: [needEvent(r.orderId, o.itemId)],
        };
      })
      .with({ type: 'product_question' }, (q) => {
        r.itemId = q.itemId;
        r.attribute = q.attribute;
        const it = this.item(q.itemId);
        return {
          act: 'need_question' as const,
          penalty: 0,
          fill: { question: this.question(it, q.attribute), itemName: it.name, item: it.id },
          userEvents: [{ type: 'need_stated' as const, item_id: q.itemId }],
        };
      })
      .with({ type: 'complaint' }, (c) => {
        r.issue = c.issue;
        if (giveOrder) r.orderId = c.orderId;
        return {
          act: 'need_complaint' as const,
          penalty: 0,
          fill: {
            issue: this.rng.pick(ISSUE_TEXT[c.issue]!),
            order: giveOrder ? ` (order ${c.orderId})` : '',
          },
          userEvents: [needEvent(r.orderId)],
        };
      })
      .exhaustive();
  }

  private question(it: Item, attribute: string): string {
    const v = it.attributes[attribute];
    const label = attributeLabel(attribute);
    const ref = `the ${it.name} (${it.id})`;
    const forms =
      typeof v === 'boolean'
        ? [
            `does ${ref} have ${label}?`,
            `is ${ref} available with ${label}?`,
            `can you tell me if ${ref} has ${label}?`,
            `I need to know whether ${ref} comes with ${label}.`,
          ]
        : [
            `what ${label} does ${ref} have?`,
            `which ${label} is ${ref}?`,
            `could you tell me the ${label} of ${ref}?`,
            `I'd like to know the ${label} of ${ref}.`,
          ];
    return cap(this.rng.pick(forms));
  }

  private missingOrderId(): boolean {
    return ORDER_TOPICS.has(this.goal.type) && this.revealed.orderId === undefined;
  }

  /** Reveals the next missing detail, or returns undefined when the customer has said everything. */
  private revealNext(): Judgement | undefined {
    const g = this.goal;
    const r = this.revealed;
    // The first thing a customer reveals is what they came for.
    if (!r.needStated) return this.stateNeed();
    if (this.missingOrderId() && 'orderId' in g) {
      r.orderId = g.orderId;
      return {
        act: 'give_order_id',
        penalty: 0,
        fill: { orderId: g.orderId },
        userEvents: [needEvent(g.orderId, r.itemId)],
      };
    }
    if (g.type !== 'purchase') return undefined;
    if (r.maxPrice === undefined) {
      r.maxPrice = g.maxPrice;
      return { act: 'reveal_budget', penalty: 0, fill: { budgetUsd: `$${g.maxPrice}` } };
    }
    for (const [k, v] of Object.entries(g.wants)) {
      if (k in r.wants) continue;
      r.wants[k] = v;
      return { act: 'reveal_attr', penalty: 0, fill: { want: wantPhrase(k, v) } };
    }
    return undefined;
  }

  private recap(): string {
    const r = this.revealed;
    const bits: string[] = [];
    if (r.category) bits.push(`I want ${r.category}`);
    if (r.maxPrice !== undefined) bits.push(`under $${r.maxPrice}`);
    if (r.orderId) bits.push(`my order is ${r.orderId}`);
    if (r.issue) bits.push(`the problem is ${r.issue.replace('_', ' ')}`);
    if (r.attribute && r.itemId) bits.push(`I asked about the ${attributeLabel(r.attribute)} of ${r.itemId}`);
    return bits.join(', ') || 'I told you what I need';
  }

  // ---- judging one agent move ----

  private offTask(penalty: number): Judgement {
    return { act: 'off_task', penalty };
  }

  private judge(s: ShopStrategy, nlu: NluResult, firstTurn: boolean): Judgement {
    const g = this.goal;
    const p = this.progress;
    const r = this.revealed;
    return match<ShopStrategy, Judgement>(s)
      .with('greet', () => {
        if (!r.needStated) return { ...this.stateNeed(), penalty: firstTurn ? 0 : 0.25 };
        if (!firstTurn) return this.offTask(0.75);
        return this.revealNext() ?? { act: 'hold_on', penalty: 0 };
      })
      .with('elicit_need', () => {
        if (!r.needStated) return this.stateNeed();
        const more = this.revealNext();
        return more
          ? { ...more, penalty: 0.25 }
          : { act: 'already_told', penalty: 1, fill: { recap: this.recap() } };
      })
      .with('clarify', () => {
        if (!r.needStated) return this.stateNeed();
        return this.revealNext() ?? { act: 'already_told', penalty: 1, fill: { recap: this.recap() } };
      })
      .with('recommend', () => {
        if (g.type === 'purchase') return this.judgeItems(nlu.itemIds, g);
        if (g.type === 'product_question' && nlu.itemIds.includes(g.itemId))
          return { act: 'hold_on', penalty: 0.5, agentEvents: [{ type: 'item_shown', item_id: g.itemId }] };
        return this.offTask(1.25);
      })
      .with('compare', () => {
        if (g.type !== 'purchase') return this.offTask(1);
        if (nlu.itemIds.length < 2) return { act: 'which_item', penalty: 0.75 };
        return this.judgeItems(nlu.itemIds, g);
      })
      .with('answer_question', () => this.judgeAnswer(nlu))
      .with('check_order', () => {
        if (!ORDER_TOPICS.has(g.type) || !('orderId' in g)) return this.offTask(1);
        if (nlu.orderIds.length === 0) {
          const more = this.revealNext();
          return more ? { ...more, penalty: 0.5 } : { act: 'wrong_answer', penalty: 1 };
        }
        if (!nlu.orderIds.includes(g.orderId) || r.orderId !== g.orderId)
          return { act: 'wrong_order', penalty: 1.5, fill: { orderId: g.orderId } };
        const events: DialogueEvent[] = [];
        if (!p.orderFound) events.push({ type: 'order_found', order_id: g.orderId });
        p.orderFound = true;
        if (g.type === 'order_status') {
          const order = this.world.ordersById.get(g.orderId)!;
          const said = new RegExp(
            order.status === 'processing' ? 'being prepared|processing' : order.status,
            'i',
          );
          if (said.test(nlu.text)) {
            events.push({ type: 'question_answered', order_id: g.orderId });
            p.questionAnswered = true;
            p.resolved = true;
            return { act: 'thanks_resolved', penalty: 0, agentEvents: events };
          }
        }
        return { act: 'hold_on', penalty: events.length ? 0 : 0.75, agentEvents: events };
      })
      .with('process_return', () => {
        if (g.type === 'return_refund') {
          if (!p.orderFound) return { act: 'no_order_yet', penalty: 1 };
          if (!g.inWindow) {
            p.returnRejected = true;
            return { act: 'return_rejected', penalty: 1.5 };
          }
          if (!p.returnStarted) {
            p.returnStarted = true;
            return {
              act: 'confirm_return',
              penalty: 0,
              agentEvents: [{ type: 'return_started', order_id: g.orderId, item_id: g.itemId }],
            };
          }
          p.refundIssued = true;
          p.resolved = true;
          return {
            act: 'thanks_resolved',
            penalty: 0,
            agentEvents: [
              {
                type: 'refund_issued',
                order_id: g.orderId,
                item_id: g.itemId,
                amount: this.item(g.itemId).price,
              },
            ],
          };
        }
        if (g.type === 'complaint' && g.issue !== 'late_delivery') {
          if (!p.orderFound) return { act: 'no_order_yet', penalty: 1 };
          p.resolved = true;
          return {
            act: 'thanks_resolved',
            penalty: p.acknowledged ? 0 : 0.5,
            agentEvents: [{ type: 'issue_resolved', order_id: g.orderId }],
          };
        }
        return this.offTask(1.25);
      })
      .with('offer_coupon', () => this.judgeCoupon(nlu))
      .with('reassure', () => {
        if (g.type === 'complaint' && !p.acknowledged) {
          p.acknowledged = true;
          return { act: 'complaint_heard', penalty: 0, agentEvents: [{ type: 'complaint_acknowledged' }] };
        }
        return { act: 'hold_on', penalty: p.returnRejected ? 0.25 : 0.5 };
      })
      .with('confirm_purchase', () => {
        if (g.type !== 'purchase') return this.offTask(1.25);
        if (!p.acceptedItemId) return { act: 'not_chosen_yet', penalty: 1 };
        if (p.discountAsked && !p.couponCode && !this.discountNagged) {
          this.discountNagged = true;
          return { act: 'discount_ignored', penalty: 0.75 };
        }
        if (!nlu.itemIds.includes(p.acceptedItemId)) return { act: 'wrong_answer', penalty: 1 };
        const it = this.item(p.acceptedItemId);
        const c = p.couponCode ? this.world.policies.coupons.find((x) => x.code === p.couponCode) : undefined;
        const amount = Math.round(it.price * (1 - (c?.percent ?? 0) / 100) * 100) / 100;
        p.purchased = true;
        p.resolved = true;
        return {
          act: 'confirm_buy',
          penalty: 0,
          userEvents: [
            { type: 'added_to_cart', item_id: it.id },
            { type: 'purchased', item_id: it.id, amount },
          ],
        };
      })
      .with('escalate', () => ({
        act: 'hold_on',
        penalty: 0,
        agentEvents: [{ type: 'handoff' }],
        end: 'handoff',
      }))
      .with('close', () => ({ act: 'unhappy_close', penalty: 2, end: 'closed_unresolved' }))
      .exhaustive();
  }

  private judgeItems(ids: readonly string[], g: Extract<HiddenGoal, { type: 'purchase' }>): Judgement {
    const p = this.progress;
    const items = ids.map((id) => this.world.itemsById.get(id)).filter((x): x is Item => x !== undefined);
    if (items.length === 0) return { act: 'which_item', penalty: 1 };
    const agentEvents: DialogueEvent[] = items.map((it) => ({ type: 'item_shown', item_id: it.id }));
    for (const it of items) if (!p.shownItems.includes(it.id)) p.shownItems.push(it.id);
    if (p.acceptedItemId) return { act: 'off_task', penalty: 0.5, agentEvents };
    const tolerance = 1 + 0.1 * (1 - this.scenario.persona.priceSensitivity);
    let firstProblem: Judgement | undefined;
    for (const it of items) {
      let problem: Judgement | undefined;
      if (it.category !== g.category)
        problem = { act: 'reject_category', penalty: 1, fill: { category: g.category } };
      else if (it.stock <= 0) problem = { act: 'reject_stock', penalty: 0.75, fill: { itemName: it.name } };
      else if (it.price > g.maxPrice * tolerance) {
        this.revealed.maxPrice = g.maxPrice;
        problem = {
          act: 'reject_price',
          penalty: 0.75,
          fill: { budgetUsd: `$${g.maxPrice}`, priceUsd: `$${it.price.toFixed(2)}` },
        };
      } else {
        const miss = Object.entries(g.wants).find(([k, v]) => it.attributes[k] !== v);
        if (miss) {
          this.revealed.wants[miss[0]] = miss[1];
          problem = { act: 'reject_attr', penalty: 0.75, fill: { want: wantPhrase(miss[0], miss[1]) } };
        }
      }
      if (!problem) {
        p.acceptedItemId = it.id;
        const ask = g.asksDiscount && !p.couponCode;
        if (ask) p.discountAsked = true;
        return {
          act: 'accept_item',
          penalty: 0,
          fill: { itemName: it.name, item: it.id },
          agentEvents,
          userEvents: [{ type: 'item_accepted', item_id: it.id }],
          ...(ask ? { also: 'ask_discount' as const } : {}),
        };
      }
      if (!p.rejectedItems.includes(it.id)) p.rejectedItems.push(it.id);
      firstProblem ??= problem;
    }
    return { ...firstProblem!, agentEvents };
  }

  private judgeAnswer(nlu: NluResult): Judgement {
    const g = this.goal;
    const p = this.progress;
    if (g.type === 'product_question') {
      if (!nlu.itemIds.includes(g.itemId)) return { act: 'wrong_answer', penalty: 1 };
      const v = this.item(g.itemId).attributes[g.attribute];
      const right =
        typeof v === 'boolean'
          ? nlu.negated === !v
          : nlu.text.toLowerCase().includes(String(v).toLowerCase());
      if (!right) return { act: 'wrong_answer', penalty: 1.5 };
      p.questionAnswered = true;
      p.resolved = true;
      return {
        act: 'thanks_resolved',
        penalty: 0,
        agentEvents: [
          { type: 'item_shown', item_id: g.itemId },
          { type: 'question_answered', item_id: g.itemId },
        ],
      };
    }
    if (
      g.type === 'return_refund' &&
      p.orderFound &&
      !g.inWindow &&
      /return (policy|window)|within \d+ days/i.test(nlu.text)
    ) {
      const first = !p.policyExplained;
      p.policyExplained = true;
      return first
        ? { act: 'ask_alternative', penalty: 0 }
        : { act: 'already_told', penalty: 0.75, fill: { recap: this.recap() } };
    }
    return this.offTask(0.75);
  }

  private judgeCoupon(nlu: NluResult): Judgement {
    const g = this.goal;
    const p = this.progress;
    const code = nlu.couponCodes[0];
    const coupon = code ? this.world.policies.coupons.find((c) => c.code === code) : undefined;
    if (!coupon) return { act: 'invalid_coupon', penalty: 1 };
    return match(g)
      .with({ type: 'purchase' }, () => {
        if (!p.acceptedItemId) return { act: 'not_chosen_yet' as const, penalty: 0.5 };
        const it = this.item(p.acceptedItemId);
        if (!couponApplies(coupon, it.category, it.price))
          return { act: 'invalid_coupon' as const, penalty: 1 };
        const first = !p.couponCode;
        p.couponCode = coupon.code;
        return first
          ? {
              act: 'coupon_noted' as const,
              penalty: 0,
              agentEvents: [
                {
                  type: 'coupon_applied' as const,
                  item_id: it.id,
                  amount: Math.round(it.price * coupon.percent) / 100,
                },
              ],
            }
          : { act: 'already_told' as const, penalty: 0.5, fill: { recap: this.recap() } };
      })
      .with({ type: 'return_refund' }, (o) => {
        if (!p.orderFound) return { act: 'no_order_yet' as const, penalty: 1 };
        if (o.inWindow) return this.offTask(0.75);
        p.couponCode = coupon.code;
        return {
          act: 'accept_consolation' as const,
          penalty: p.policyExplained ? 0 : 0.5,
          agentEvents: [{ type: 'coupon_applied' as const, order_id: o.orderId }],
          end: 'consolation' as const,
        };
      })
      .with({ type: 'complaint' }, (c) => {
        if (!p.orderFound) return { act: 'no_order_yet' as const, penalty: 1 };
        if (c.issue !== 'late_delivery') return { act: 'want_replacement' as const, penalty: 1 };
        p.couponCode = coupon.code;
        p.resolved = true;
        return {
          act: 'thanks_resolved' as const,
          penalty: p.acknowledged ? 0 : 0.5,
          agentEvents: [
            { type: 'coupon_applied' as const, order_id: c.orderId },
            { type: 'issue_resolved' as const, order_id: c.orderId },
          ],
        };
      })
      .with({ type: 'order_status' }, { type: 'product_question' }, () => ({
        act: 'coupon_noted' as const,
        penalty: 0.75,
      }))
      .exhaustive();
  }
}

function needEvent(orderId: string | undefined, itemId?: string): DialogueEvent {
  return {
    type: 'need_stated',
    ...(orderId ? { order_id: orderId } : {}),
    ...(itemId ? { item_id: itemId } : {}),
  };
}
