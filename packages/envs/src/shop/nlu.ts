import { SHOP_STRATEGIES, type ShopStrategy, type StrategyJudge } from '@gopo/dialogue';

/** What the NLU reads out of one agent reply. */
export interface NluResult {
  /** The reply that was read. */
  readonly text: string;
  /** The strategy the reply performs, or null when no strategy cue is present. */
  readonly strategy: ShopStrategy | null;
  /** Cue score per strategy (strategy-set order). */
  readonly scores: readonly number[];
  readonly itemIds: readonly string[];
  readonly orderIds: readonly string[];
  readonly prices: readonly number[];
  readonly couponCodes: readonly string[];
  /** The reply answers with a negative ("no, it does not ..."). */
  readonly negated: boolean;
}

type Cue = readonly [pattern: RegExp, weight: number];

/**
 * Cue phrases per strategy with weights. A reply's strategy is the one with the highest total weight;
 * ties go to the earlier strategy in this table's order, which lists the more specific moves first.
 */
const CUES: Readonly<Record<ShopStrategy, readonly Cue[]>> = {
  escalate: [
    [
      /\b(transfer|connect|hand) (you|this)\b.{0,40}\b(to|with) (a |an |one of )?(human|specialist|colleague|supervisor|senior|team)/i,
      5,
    ],
    [/\bescalat(e|ing)\b/i, 4],
    [/\bhuman (agent|colleague|specialist)\b/i, 3],
  ],
  close: [
    [/\bhave a (great|nice|wonderful|lovely|good) (day|evening|weekend|one)\b/i, 4],
    [/\bthanks? (you )?for (shopping|contacting|chatting|reaching out|visiting)\b/i, 3],
    [/\b(goodbye|bye for now|take care)\b/i, 3],
    [/\banything else\b.{0,30}\b(come back|reach out|let us know)\b/i, 2],
  ],
  process_return: [
    [
      /\b(return|refund|replacement)\b.{0,60}\b(started|initiated|opened|processed|issued|created|set up|arranged|on its way)\b/i,
      4,
    ],
    [
      /\b(started|initiated|opened|processed|issued|created|set up|arranged)\b.{0,40}\b(return|refund|replacement)\b/i,
      4,
    ],
    [/\breturn label\b/i, 2],
    [/\brefund of \$\d/i, 2],
  ],
  check_order: [
    [/\b(found|located|pulled up|looked up|checked on|tracked)\b.{0,30}\border\b/i, 4],
    [
      /\border o-\d+\b.{0,40}\b(is|was|has)\b.{0,30}\b(processing|shipped|delivered|on its way|being prepared|in transit)/i,
      3,
    ],
    [/\b(tracking|carrier)\b/i, 1],
  ],
  offer_coupon: [
    [/\b(code|coupon|voucher|promo)\b.{0,40}\b[A-Z]{3,}\d{2}\b/, 5],
    [/\b[A-Z]{3,}\d{2}\b.{0,40}\b(off|discount|saves?)\b/, 3],
    [/\b\d{1,2}% (off|discount)\b/i, 2],
  ],
  confirm_purchase: [
    [
      /\b(shall|should|can|may) I (go ahead and )?(place|complete|finali[sz]e|put through|submit)\b.{0,30}\b(order|purchase)\b/i,
      5,
    ],
    [/\bconfirm (the|your|this) (order|purchase)\b/i, 4],
    [/\b(ready|like) to (check ?out|order it|buy it|place the order)\b/i, 3],
  ],
  compare: [
    [/\bcompar(e|ed|ing|ison)\b/i, 3],
    [/\b(whereas|while the other|on the other hand|by contrast)\b/i, 3],
    [/\b(vs\.?|versus)\b/i, 2],
    [/\bthe (main )?difference\b/i, 2],
  ],
  recommend: [
    [/\b(I'?d|I would|I can|we) (recommend|suggest)\b/i, 4],
    [/\b(recommend|suggest)(ed|ion)?\b/i, 2],
    [/\b(great|good|perfect|solid|strong) (fit|match|choice|pick|option) for you\b/i, 3],
    [/\b(take a look at|have a look at|check out) the\b/i, 2],
  ],
  answer_question: [
    [/\b(to answer your question|good question|great question)\b/i, 4],
    [/^(yes|no)\b[,.!—-]/i, 3],
    [/\b(our )?(return|shipping|refund) (policy|window)\b/i, 3],
    [/\b(it|this one|that model) (does|doesn't|does not|has|hasn't|is|isn't)\b/i, 1],
  ],
  clarify: [
    [/\b(could|can|would) you (please )?(tell|share|give|confirm|send|let) me\b/i, 3],
    [/\bwhat('s| is) (your|the) (budget|order number|order id|price range|preferred)\b/i, 4],
    [/\b(do|did) you have (a|an|any) (budget|preference|order number|particular|specific)\b/i, 4],
    [/\bjust to (make sure|clarify|confirm)\b/i, 2],
    [/\bwhich (one|color|size|model|order)\b/i, 2],
  ],
  elicit_need: [
    [/\b(what|how) (can|may) I (help|assist|do for) you\b/i, 4],
    [/\bwhat (brings you|are you looking for|would you like)\b/i, 4],
    [/\btell me (a bit )?(more )?about what you('re| are) (looking|after)\b/i, 3],
    [/\bhow can I (help|assist)\b/i, 3],
  ],
  reassure: [
    [/\b(I'?m|I am|we are|we're) (so |really |truly )?sorry\b/i, 4],
    [/\bapologi[sz]e\b/i, 4],
    [/\b(I )?(completely |totally )?understand (how|your|why|the)\b/i, 2],
    [/\b(don'?t|do not) worry\b|\brest assured\b|\bI'?ll make (this|it) right\b/i, 3],
  ],
  greet: [
    [/^(hi|hello|hey|good (morning|afternoon|evening)|greetings)\b/i, 3],
    [/\bwelcome to\b/i, 3],
    [/\b(nice|great|lovely) to (meet|hear from|see) you\b/i, 2],
  ],
};

const ORDER = SHOP_STRATEGIES.map((s) => s);
const CUE_ORDER: readonly ShopStrategy[] = Object.keys(CUES) as ShopStrategy[];

const ITEM_RE = /\bp-\d{4}\b/g;
const ORDER_RE = /\bo-\d{5}\b/g;
const PRICE_RE = /\$(\d+(?:\.\d{1,2})?)/g;
const COUPON_RE = /\b[A-Z]{3,}\d{2}\b/g;
const NEG_RE = /^(no)\b|\b(does not|doesn't|is not|isn't|not available|out of stock|lacks|without)\b/i;

function uniq(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/**
 * Reads an agent reply: the strategy it performs (by weighted cue phrases), the items, orders, prices
 * and coupon codes it mentions. The same function is the user simulator's understanding and the
 * strategy-adherence checker for CS Agent replies.
 */
export function understand(text: string): NluResult {
  const scores = new Array<number>(ORDER.length).fill(0);
  let best: ShopStrategy | null = null;
  let bestScore = 0;
  for (const s of CUE_ORDER) {
    let score = 0;
    for (const [re, w] of CUES[s]) if (re.test(text)) score += w;
    scores[ORDER.indexOf(s)] = score;
    if (score > bestScore) {
      bestScore = score;
      best = s;
    }
  }
  return {
    text,
    strategy: best,
    scores,
    itemIds: uniq(text.match(ITEM_RE) ?? []),
    orderIds: uniq(text.match(ORDER_RE) ?? []),
    prices: [...text.matchAll(PRICE_RE)].map((m) => Number(m[1])),
    couponCodes: uniq(text.match(COUPON_RE) ?? []),
    negated: NEG_RE.test(text),
  };
}

/** The strategy a reply performs (null when it performs none). */
export function detectStrategy(text: string): ShopStrategy | null {
  return understand(text).strategy;
}

/** Adherence of a CS reply to its commanded strategy: 1 when the NLU reads that strategy, else 0. */
export function adherence(text: string, strategy: string): number {
  return detectStrategy(text) === strategy ? 1 : 0;
}

/**
 * The simulator's NLU as an adherence judge (dialogue's `StrategyJudge` role): each reply's strategy
 * by weighted cue phrases, null when it shows none. One of the CS Agent's two judges; the other is a
 * classifier trained on a separate paraphrase corpus (@gopo/cs-agent), so RL cannot win by gaming one.
 */
export const nluJudge: StrategyJudge = {
  name: 'nlu',
  async judge(texts) {
    return texts.map(detectStrategy);
  },
};
