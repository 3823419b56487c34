import type { GoalType } from '@gopo/dialogue';
import type { ComplaintIssue } from './scenario.js';
import type { UserAct } from './user-templates.js';
import type { AttributeValue, World } from './world.js';

/** What the customer has said so far: visible to agents (the goal type itself stays hidden until stated). */
export interface Revealed {
  needStated: boolean;
  /** The kind of request the customer stated. */
  topic: GoalType | undefined;
  category: string | undefined;
  maxPrice: number | undefined;
  wants: Record<string, AttributeValue>;
  orderId: string | undefined;
  itemId: string | undefined;
  attribute: string | undefined;
  issue: ComplaintIssue | undefined;
  reason: string | undefined;
}

/** What the shop has done so far: visible to agents. */
export interface ShopProgress {
  shownItems: string[];
  rejectedItems: string[];
  acceptedItemId: string | undefined;
  orderFound: boolean;
  returnStarted: boolean;
  returnRejected: boolean;
  refundIssued: boolean;
  purchased: boolean;
  couponCode: string | undefined;
  discountAsked: boolean;
  policyExplained: boolean;
  acknowledged: boolean;
  questionAnswered: boolean;
  resolved: boolean;
}

/** Everything an agent may see when it acts: the shop's tools (catalog, orders, policies) and the dialogue so far. */
export interface AgentView {
  readonly world: World;
  readonly revealed: Readonly<Revealed>;
  readonly progress: Readonly<ShopProgress>;
  /** SOP flags as a bit mask (see Sop.flags). */
  readonly sopMask: number;
  /** Agent turns taken so far. */
  readonly turn: number;
  readonly lastUserAct: UserAct;
}

export function emptyRevealed(): Revealed {
  return {
    needStated: false,
    topic: undefined,
    category: undefined,
    maxPrice: undefined,
    wants: {},
    orderId: undefined,
    itemId: undefined,
    attribute: undefined,
    issue: undefined,
    reason: undefined,
  };
}

export function emptyProgress(): ShopProgress {
  return {
    shownItems: [],
    rejectedItems: [],
    acceptedItemId: undefined,
    orderFound: false,
    returnStarted: false,
    returnRejected: false,
    refundIssued: false,
    purchased: false,
    couponCode: undefined,
    discountAsked: false,
    policyExplained: false,
    acknowledged: false,
    questionAnswered: false,
    resolved: false,
  };
}
