/**
 * The paraphrase corpus: CS replies for every shop strategy, written with phrasings of our own that
 * are not the simulator's templates (other wordings, sentence structures, openers and fillers), with
 * slot values (items, prices, orders, coupons, policies) drawn from a generated world of @gopo/envs.
 * The independent strategy classifier learns from it; the reply model never trains on it, so the
 * two adherence judges share neither data nor phrasing.
 *
 * A phrasing is a small grammar: `{a|b|}` picks one alternative (possibly empty) and `<slot>` is
 * filled from the world. Splits are by phrasing, not by example: every fourth phrasing of each
 * strategy (`heldOutEvery`) only appears in the held-out split, whose slot values also come from
 * another world, so held-out accuracy measures generalisation to unseen wordings. Deterministic for
 * a config.
 */
import { GopoError, Rng } from '@gopo/core';
import { SHOP_STRATEGIES, type ShopStrategy } from '@gopo/dialogue';
import { generateWorld, type Order, type World } from '@gopo/envs';
import { z } from 'zod';

export const ParaphraseCorpusConfigSchema = z
  .strictObject({
    seed: z.number().int().default(1).describe('seed of the slot values, grammar choices and noise'),
    trainPerStrategy: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(400)
      .describe('training replies per strategy'),
    heldOutPerStrategy: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .default(150)
      .describe('held-out replies per strategy (from held-out phrasings only)'),
    heldOutEvery: z
      .number()
      .int()
      .min(2)
      .default(4)
      .describe('phrasing k of a strategy is held out when k % heldOutEvery === heldOutEvery - 1'),
    trainWorldSeed: z.number().int().default(101).describe('world the training slot values come from'),
    heldOutWorldSeed: z.number().int().default(202).describe('world the held-out slot values come from'),
    openerRate: z
      .number()
      .min(0)
      .max(1)
      .default(0.2)
      .describe('share of replies given a neutral opener ("Sure.")'),
    casualRate: z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe('share of replies written casually (lower case, no final punctuation)'),
  })
  .describe('how the paraphrase corpus is drawn');
export type ParaphraseCorpusConfig = z.infer<typeof ParaphraseCorpusConfigSchema>;
export type ParaphraseCorpusConfigInput = z.input<typeof ParaphraseCorpusConfigSchema>;

/** One labelled reply. */
export interface ParaphraseExample {
  readonly text: string;
  readonly strategy: ShopStrategy;
  /** `<strategy>/<phrasing index>`: which phrasing it came from. */
  readonly template: string;
}

export interface ParaphraseCorpus {
  readonly train: readonly ParaphraseExample[];
  readonly heldOut: readonly ParaphraseExample[];
}

/**
 * The phrasings, per strategy: our own wordings, none of them one of the simulator's templates. A
 * `Record` over ShopStrategy, so a strategy without phrasings does not compile. Slots: <shop>,
 * <agent>, <item> <id> <price> <rating> (a catalog item), <item2> <id2> <price2> <rating2> (another
 * of its category), <category>, <attr> <attrtext> <answer> (an attribute of the item: its label, "has
 * gps" / "has no gps" / "has color red", and yes / no / the value), <order> <status> <state> <carrier>
 * <total> <placed> (an order), <ritem> <rprice> (an item of that order), <code> <pct> (a coupon),
 * <days> <free> <xdays> <fee> <window> (the store policies).
 */
export const PARAPHRASE_TEMPLATES: Readonly<Record<ShopStrategy, readonly string[]>> = {
  greet: [
    '{Hi|Hey|Hiya}, and thanks for stopping by <shop>.',
    '{Hey there|Hi there}! You have reached the <shop> {help desk|support team|service chat}.',
    'Good {morning|evening|day} from everyone at <shop>!',
    'Greetings! <agent> here from <shop> {customer care|support}.',
    'Hello, {nice|lovely|good} to meet you. This is the <shop> {support chat|help line}.',
    '{Welcome|Welcome in}! I am <agent>, your <shop> assistant {today|for this chat}.',
    '{Hi|Hello}, glad you dropped in at <shop>.',
    'Good {evening|afternoon} and a warm welcome to <shop>.',
    "Hey, great to see you {here|again} at <shop>. I've got your message in front of me.",
    'Hello there, <agent> speaking on behalf of <shop>.',
    '{Hi|Hello}! Happy to have you with us at <shop> {today|}.',
    'Welcome aboard, this is <shop> support. {I am reading through what you wrote.|Give me a second to read your note.}',
    '{Hiya|Hi}, <agent> from <shop> here. {Lovely|Nice} to {meet you|have you here}.',
    'Good day! Thanks for choosing <shop> {support|customer service}.',
    "Hello and hi from the <shop> team, I'm <agent>.",
    '{Hey|Hi}! <agent> at <shop>, {at your service|ready when you are}.',
    'Hi, welcome in! Cheers for getting in touch with <shop>.',
    'Morning! You are chatting with <agent> at <shop>.',
    'Hello, and welcome to the <shop> {live chat|helpdesk}.',
    'A very warm hello from <shop>!',
  ],
  elicit_need: [
    'What can I do for you {today|this morning|right now}?',
    "Tell me what you need and I'll take it from there.",
    'How may I be of {service|help}?',
    'Is there something {specific|in particular} I can assist with?',
    'What would you like to sort out today?',
    "Let me know what you're after, and I'll point you in the right direction.",
    'Which of our products or services {would you like a hand with|are you interested in}?',
    'So, what are you shopping for?',
    "Is it an order, a product, or something else you'd like {help with|to talk about}?",
    "What's on your mind today?",
    "I'm here to help. What do you need?",
    "Anything in particular you're hoping to {find|fix|get done} today?",
    'Where would you like to start?',
    'What did you come in for today?',
    'How can we make your day easier?',
    'What are you hoping I can help with?',
    'How can I help?',
    'What can we help you find {today|}?',
    "Fill me in on what you need and we'll go from there.",
    'Are you looking for something new, or is this about an existing order?',
  ],
  clarify: [
    'Roughly how much were you planning to spend?',
    'Is there a price limit I should stay under?',
    'Can you share the order {ID|number} so I can {find|pick out} the right purchase?',
    'Which order is this about? The number starts with "o-".',
    'Any must-have features, like <attr>?',
    'Do you prefer a certain <attr>?',
    'Before I search, {what size or color|which color} works for you?',
    "Quick check: what's the order number on your {receipt|confirmation email}?",
    "I didn't quite catch that. Which product do you mean?",
    'To narrow it down: is <attr> important to you?',
    'Would you mind telling me your budget?',
    'Which one did you mean, the <item> or something else?',
    'What matters most to you: price, <attr>, or brand?',
    "I'll need a bit more detail. Is this about an existing order or a new purchase?",
    'How much {would you like|are you willing} to spend on the <category>?',
    'Could I get the {order reference|order number} first, please?',
    'Do you have {a colour|a size|a brand} in mind?',
    'Could you confirm {the order number|your budget} for me?',
    'Just so I get this right: {which model|what budget} are we talking about?',
    'Is the <attr> a deal-breaker for you?',
  ],
  recommend: [
    'My pick for you would be the <item> (<id>), priced at <price>.',
    'You might like the <item> (<id>); it sells for <price> and customers give it <rating> stars.',
    'Have you considered the <item> (<id>)? At <price> it ticks your boxes.',
    'The <item> (<id>) looks like the best match here: <price>.',
    'Try the <item> (<id>), <price>, rated <rating>/5.',
    'I think the <item> (<id>) would suit you {well|nicely}. It costs <price>.',
    'Going by your requirements, the <item> (<id>) at <price> is a strong {option|candidate}.',
    'One that stands out is the <item> (<id>), <price>.',
    "{I suggest|My suggestion is} going with the <item> (<id>); it's <price>.",
    'For <category> in that range, the <item> (<id>) for <price> is {popular|a favourite}.',
    "How about the <item> (<id>)? It's <price> and in stock.",
    'Our top-rated {option|model} that fits is the <item> (<id>) at <price>.',
    "If I were you, I'd go for the <item> (<id>) at <price>.",
    "Here's one worth a look: <item>, item <id>, <price>.",
    'The <item> (<id>) would be my {first|top} choice for you, at <price>.',
    'You {could|should} get the <item> (<id>): <price>, {well reviewed|rated <rating>}.',
    'I would point you to the <item> (<id>) at <price>.',
    'Consider the <item> (<id>): <price>, and it matches what you described.',
    'A good fit would be the <item> (<id>), which goes for <price>.',
    'My recommendation: the <item> (<id>), <price>.',
  ],
  compare: [
    'Side by side: the <item> (<id>) costs <price> and scores <rating>, {and|but} the <item2> (<id2>) costs <price2> and scores <rating2>.',
    'The <item> (<id>) is cheaper at <price>, but the <item2> (<id2>) at <price2> has the better rating.',
    'Between the <item> (<id>, <price>) and the <item2> (<id2>, <price2>), the first saves you money and the second is rated higher.',
    '<item> (<id>): <price>, <rating> stars. <item2> (<id2>): <price2>, <rating2> stars.',
    'If price matters most, the <item> (<id>) at <price> wins; for the higher rating, take the <item2> (<id2>) at <price2>.',
    "Here's how they stack up: <item> (<id>) for <price> against <item2> (<id2>) for <price2>.",
    'Putting them next to each other, the <item> (<id>) is <price> and the <item2> (<id2>) is <price2>; ratings are <rating> and <rating2>.',
    'The two differ mainly in price: <price> for the <item> (<id>) {compared with|against} <price2> for the <item2> (<id2>).',
    'Both are good. The <item> (<id>) is rated <rating> at <price>; the <item2> (<id2>) is rated <rating2> at <price2>.',
    "Let's weigh the <item> (<id>) against the <item2> (<id2>): <price> or <price2>.",
    'Option one, the <item> (<id>), costs <price>. Option two, the <item2> (<id2>), costs <price2> and is rated <rating2>.',
    'The <item2> (<id2>) is pricier at <price2> than the <item> (<id>) at <price>, though reviewers like it a bit more.',
    'Cheaper pick: <item> (<id>), <price>. Better reviewed: <item2> (<id2>), <price2>.',
    'The <item> (<id>) and the <item2> (<id2>) are close: <price> and <price2>, rated <rating> and <rating2>.',
    'Of the two, the <item> (<id>) {costs less|is the budget one} (<price>), and the <item2> (<id2>) {is the premium pick|costs more} (<price2>).',
    'Weighing them up: <item> (<id>) gives you the lower price, <item2> (<id2>) the higher score.',
    'Let me lay out the difference: the <item> (<id>) is <price> while the <item2> (<id2>) is <price2>.',
    'In comparison, the <item2> (<id2>) costs <price2> against <price> for the <item> (<id>).',
    'Versus the <item2> (<id2>) at <price2>, the <item> (<id>) at <price> is {the cheaper|the better-rated} one.',
    'Here are two to choose between: <item> (<id>, <price>) or <item2> (<id2>, <price2>).',
  ],
  answer_question: [
    '{Yes|Sure}, the <item> (<id>) <attrtext>.',
    'The <attr> on the <item> (<id>): it <attrtext>.',
    'Happy to clarify: the <item> (<id>) <attrtext>.',
    'Regarding your question, standard delivery takes <days> days and costs nothing on orders above <free>.',
    'As for shipping, express arrives in <xdays> days for <fee>.',
    'You can send items back within <window> days of receiving them.',
    "Short answer: it <attrtext>, that's the <item> (<id>).",
    "That's a fair question. Returns are accepted for <window> days after delivery.",
    'About order <order>: it <status>.',
    'In answer to that: items can come back up to <window> days after they arrive, so it depends on when order <order> was delivered.',
    'The answer is <answer>, for the <item> (<id>).',
    'Let me answer that: orders over <free> ship free, and express shipping is <fee>.',
    'Sure, I can tell you that: the <item> (<id>) <attrtext>.',
    'To your question about delivery times: <days> days standard, <xdays> days express.',
    'On the <attr> question: <answer>. {That is for|This applies to} the <item> (<id>).',
    'As to whether it can be returned: our window is <window> days from delivery.',
    'Good to ask! The <item> (<id>) <attrtext>.',
    'To answer: <answer>, the <item> (<id>) <attrtext>.',
    'Shipping is free above <free>; otherwise standard delivery takes <days> days.',
    'Order <order>? It <status>, to answer your question.',
  ],
  check_order: [
    'Got it, order <order> is in our system: it <status>.',
    'Order <order> is showing on my screen. Current status: <state>.',
    'I checked the tracking for <order>; it <status>.',
    "Here's what I see for order <order>: <state>, with <carrier>.",
    'Your order <order> turned up in our records and it <status>.',
    'Looking at <order> now... it <status>.',
    'The system shows order <order>: it <status>.',
    'Order <order>, placed <placed> days ago, <status>.',
    'I searched our records, and order <order> <status>.',
    'Status update on <order>: <state>, carrier <carrier>.',
    'Thanks, I have the details for order <order> open: it <status>.',
    'I tracked down order <order>. It <status>.',
    'Your purchase <order> (<total>) is currently marked as <state>.',
    'According to our order system, <order> <status>.',
    'I can see order <order> ({<total>|<placed> days ago}) and it <status>.',
    "Let me confirm where <order> is: it's <state>.",
    'Found it: order <order> <status>.',
    'I looked into order <order>, and it <status>.',
    'Located your order <order>. It <status>.',
    'Your order <order> is on record; it <status>.',
  ],
  process_return: [
    "The return for your <ritem> (order <order>) is now open; you'll get a prepaid label by email.",
    "I've set up a return on order <order>. Drop the <ritem> off at any <carrier> point.",
    'All done: a refund of <rprice> is on its way back to your card.',
    'Your <rprice> refund for the <ritem> has gone through.',
    "I've arranged for a replacement <ritem> to be sent out for order <order>, free of charge.",
    "A return has been created for order <order>. Once the <ritem> is back with us, we'll refund <rprice>.",
    "I've processed the refund of <rprice>; it should show up in {3 to 5|a few} business days.",
    'Return request submitted for the <ritem> from <order>. Would you like the money back on your card?',
    "We'll swap the <ritem> from order <order> for a new one at no cost.",
    'The <ritem> from order <order> is booked for return; print the label we just emailed you.',
    "I've sent <rprice> back to the card you paid with, for the <ritem>.",
    'Your replacement is on the way, and there is no need to send anything back.',
    'Refund approved: <rprice> for order <order>, back on your card within a few days.',
    'I have opened a return case for order <order>; {the courier will collect the <ritem>|just pack the <ritem> up}.',
    'The money for the <ritem>, <rprice>, has been credited back to you.',
    'A new <ritem> is being shipped to replace the one from <order>.',
    'The return is approved and the label for the <ritem> is in your email.',
    'The refund for the <ritem> (<rprice>) is being processed now.',
    'You will get <rprice> back once the courier picks the <ritem> up.',
    'A replacement for your <ritem> (order <order>) ships today.',
  ],
  offer_coupon: [
    "Here's a little something: <code> takes <pct>% off at checkout.",
    'Enter <code> at checkout to save <pct>%.',
    'I can give you a <pct>% discount with the code <code>.',
    "Apply <code> and you'll get <pct>% knocked off the price.",
    'As a thank-you, <code> gets you <pct>% off this purchase.',
    "To make up for it, here's <code>: <pct>% off your next order.",
    "There's a voucher that fits: <code>, worth <pct>% off.",
    'Good news, you qualify for <code>, which cuts <pct>% from the total.',
    "I've got a discount code for you: <code> (<pct>% off).",
    '<code> will bring the price down by <pct>%.',
    "Try the code <code> when you pay; it's <pct>% off.",
    'Let me sweeten the deal: <code> gives <pct> percent off.',
    'Use <code> on this one and you save <pct>% straight away.',
    'With <code> the total drops by <pct>%.',
    'I have added a <pct>% promotion for you, code <code>.',
    'A small gift from us: <pct>% off with <code>.',
    'Save <pct>% today with promo code <code>.',
    'Here is code <code>, good for <pct>% off.',
    'You can knock <pct>% off with <code>.',
    'Your discount code is <code>: <pct>% off.',
  ],
  reassure: [
    "I understand how annoying that must be, and I'm here to fix it.",
    "That's really not the experience we want for you. My apologies.",
    'Please accept our apologies for the hassle.',
    "Oh no, that sounds frustrating. We'll get this sorted together.",
    "I hear you, and I'm sorry it's come to this.",
    "No worries, you're in good hands. I'll take care of it.",
    "That's completely understandable. Let's get it fixed.",
    "I can see why you're upset; I'd feel the same.",
    'My sincere apologies for the {delay|mix-up} and the trouble it caused.',
    'Thank you for your patience. I know this has been a pain.',
    "Sorry to hear that! I'll do everything I can to put it right.",
    'I really regret the inconvenience. Leave it with me.',
    "You have every right to be frustrated, and I'm on your side here.",
    'That must have been {disappointing|stressful}, and I apologise.',
    "I'm sorry, that should never have happened. We will make it good.",
    "Please don't worry, we'll get to the bottom of this.",
    'I know that is frustrating, and I am sorry.',
    'Apologies for all of this. I will sort it out.',
    'Thank you for bearing with us; we will make this right.',
    'That is not okay, and I am truly sorry.',
  ],
  confirm_purchase: [
    'Want me to go ahead and buy the <item> (<id>) for <price>?',
    'Ready to check out? The <item> (<id>) comes to <price>.',
    'I can put the order through for the <item> (<id>) now, <price> total. Okay?',
    "Just say yes and I'll complete the purchase of the <item> (<id>) at <price>.",
    'Shall we finalize your order: <item> (<id>), <price>?',
    'To confirm: one <item> (<id>) for <price>. Should I submit it?',
    "Everything's set for the <item> (<id>) at <price>. Place the order?",
    'Do you want to proceed with buying the <item> (<id>) for <price>?',
    'Great choice. Can I book the <item> (<id>) for you at <price>?',
    'The <item> (<id>) is in your cart at <price>. Shall I finish the checkout?',
    'Let me know if I should process the payment for the <item> (<id>), <price>.',
    "All that's left is your go-ahead: <item> (<id>), <price> with the discount.",
    'Say the word and the <item> (<id>) is yours for <price>. Buy it now?',
    'Should I {go ahead and |}order the <item> (<id>) for you? That is <price>.',
    'Confirming the purchase: <item> (<id>) at <price>. {Is that right?|Go ahead?}',
    'Can I charge <price> for the <item> (<id>) and send it your way?',
    'Do you want me to place the order now? <item> (<id>), <price>.',
    'Would you like to buy the <item> (<id>) at <price>?',
    'Ready when you are: the <item> (<id>), <price>. Confirm and I will order it.',
    'Okay to complete the checkout for <price>? That is the <item> (<id>).',
  ],
  escalate: [
    "I'm going to bring in a specialist from our team who can take this further.",
    'Let me pass you to a supervisor who has more options here.',
    "This needs a colleague with more access; I'm routing you to them now.",
    "I'll get a member of our senior support team to join this chat.",
    "I'm handing this case over to our escalations team.",
    "One moment, I'm connecting you to a live agent.",
    'A human teammate will pick this up from here.',
    "I've flagged this for a manager, who will contact you shortly.",
    'Please hold while I forward your case to the right department.',
    'Our {returns|billing} specialists can help best; let me put you through.',
    "I'm raising this with a supervisor right away.",
    'Let me get someone more senior on the line for you.',
    "I'm referring this to a person on our care team who can decide on it.",
    'A specialist will take over this conversation {shortly|in a minute}.',
    'I am passing this on to a team lead, who can make an exception.',
    "Let me bring a manager into this chat; they'll be with you soon.",
    'I will transfer this to a colleague who specialises in it.',
    'Let me connect you with a {human|real person} from our team.',
    'A senior agent will take it from here; transferring you now.',
    'I will ask my supervisor to step in.',
  ],
  close: [
    'Thanks again, and enjoy the rest of your day!',
    'It was a pleasure helping you. Goodbye!',
    "Glad that's sorted. Take it easy!",
    'Happy shopping, and see you next time!',
    'Have a lovely evening, and thanks for choosing <shop>.',
    "That's everything, then. Cheers and all the best!",
    'Thanks for chatting with us today. Bye for now!',
    'Enjoy your new <category>! Have a good one.',
    "If anything else comes up, we're always here. Take care!",
    'Wishing you a great week ahead. Goodbye!',
    'Thank you for being a <shop> customer. All the best!',
    "I'll close this chat now. Have a wonderful weekend!",
    'Pleasure talking to you, so long!',
    'All sorted, then. Bye, and {thanks|thank you} for your time!',
    'We are all done here. Enjoy, and see you soon!',
    'Cheers, and have a {good|great} {night|afternoon}!',
    'Thanks, and goodbye!',
    'Have a great one, and thanks for shopping!',
    'Take care, and enjoy your day.',
    'Bye! Come back any time.',
  ],
};

/** Strategy-neutral openers put in front of some replies. */
const OPENERS = [
  'Sure.',
  'Okay.',
  'Alright,',
  'Got it.',
  'Certainly.',
  'Right,',
  'Absolutely.',
  'Of course.',
  'Okay, so',
];
const SHOPS = ['ShopCo', 'the store', 'our shop', 'ShopCo online', 'the ShopCo store'];
const AGENTS = ['Sam', 'Priya', 'Alex', 'Jordan', 'Mei', 'Luca', 'Noor', 'Tom'];

/** A phrasing that uses a slot the corpus does not fill. */
export class ParaphraseTemplateError extends GopoError {
  constructor(
    readonly template: string,
    readonly slot: string,
  ) {
    super(`paraphrase template "${template}" uses unknown slot <${slot}>`);
  }
}

const usd = (x: number) => `$${x.toFixed(2)}`;

/** Our own words for an order's status (not the simulator's statusPhrase). */
function orderStatus(o: Order, rng: Rng): string {
  const eta = o.etaDays ?? 3;
  const ago = o.deliveredDaysAgo ?? 1;
  if (o.status === 'processing')
    return rng.pick([
      `is still being packed and should reach you within ${eta + 1} days`,
      `hasn't left the warehouse yet; expect it in roughly ${eta} days`,
      `is in processing right now, due in ${eta} days`,
    ]);
  if (o.status === 'shipped')
    return rng.pick([
      `left our warehouse with ${o.carrier} and is due in ${eta} days`,
      `is in transit with ${o.carrier}, arriving in about ${eta} days`,
      `went out via ${o.carrier}; it should land in ${eta} days`,
    ]);
  return rng.pick([
    `arrived ${ago} days ago`,
    `was dropped off at your address ${ago} days ago`,
    `shows as delivered, ${ago} days back`,
  ]);
}

/** Slot values for one reply, drawn from a world. */
function drawSlots(world: World, rng: Rng): Record<string, string> {
  const inStock = world.items.filter((it) => it.stock > 0);
  const item = rng.pick(inStock);
  const same = inStock.filter((it) => it.category === item.category && it.id !== item.id);
  const other = rng.pick(same.length > 0 ? same : inStock);
  const order = rng.pick(world.orders);
  const ritem = world.itemsById.get(rng.pick(order.lines).itemId)!;
  const [name, value] = rng.pick(Object.entries(item.attributes));
  const attr = name.replace(/_/g, ' ');
  const coupon = rng.pick(world.policies.coupons);
  const p = world.policies;
  return {
    shop: rng.pick(SHOPS),
    agent: rng.pick(AGENTS),
    item: item.name,
    id: item.id,
    price: usd(item.price),
    rating: item.rating.toFixed(1),
    item2: other.name,
    id2: other.id,
    price2: usd(other.price),
    rating2: other.rating.toFixed(1),
    category: item.category,
    attr,
    attrtext:
      typeof value === 'boolean' ? (value ? `has ${attr}` : `has no ${attr}`) : `has ${attr} ${value}`,
    answer: typeof value === 'boolean' ? (value ? 'yes' : 'no') : value,
    order: order.id,
    status: orderStatus(order, rng),
    state: order.status,
    carrier: order.carrier,
    total: usd(order.total),
    placed: String(order.placedDaysAgo),
    ritem: ritem.name,
    rprice: usd(ritem.price),
    code: coupon.code,
    pct: String(coupon.percent),
    days: String(p.standardShippingDays),
    free: usd(p.freeShippingOver),
    xdays: String(p.expressShippingDays),
    fee: usd(p.expressFee),
    window: String(p.returnWindowDays),
  };
}

/** Expands `{a|b|}` choices, then fills `<slot>`s. */
export function expandPhrasing(template: string, slots: Readonly<Record<string, string>>, rng: Rng): string {
  const chosen = template.replace(/\{([^{}]*)\}/g, (_, alts: string) => rng.pick(alts.split('|')));
  return chosen
    .replace(/<([a-z0-9]+)>/g, (_, slot: string) => {
      const v = slots[slot];
      if (v === undefined) throw new ParaphraseTemplateError(template, slot);
      return v;
    })
    .replace(/\s+/g, ' ')
    .replace(/ ([.,;:?!])/g, '$1')
    .trim();
}

/** Light surface variation: a neutral opener, a casual (lower-case, unpunctuated) form. */
function decorate(text: string, rng: Rng, c: ParaphraseCorpusConfig): string {
  let t = text;
  if (rng.bool(c.openerRate)) {
    const opener = rng.pick(OPENERS);
    t = `${opener} ${/[,o]$/.test(opener) ? t.charAt(0).toLowerCase() + t.slice(1) : t}`;
  }
  if (rng.bool(c.casualRate)) t = t.toLowerCase().replace(/[.!]$/, '');
  return t;
}

/** Draws the corpus: balanced over strategies, held-out phrasings and world kept apart from training. */
export function paraphraseCorpus(config: ParaphraseCorpusConfigInput = {}): ParaphraseCorpus {
  const c = ParaphraseCorpusConfigSchema.parse(config);
  const split = (heldOut: boolean): ParaphraseExample[] => {
    const world = generateWorld({ seed: heldOut ? c.heldOutWorldSeed : c.trainWorldSeed });
    const rng = Rng.fromSeed(c.seed, heldOut ? 'paraphrase-held-out' : 'paraphrase-train');
    const n = heldOut ? c.heldOutPerStrategy : c.trainPerStrategy;
    const out: ParaphraseExample[] = [];
    for (const strategy of SHOP_STRATEGIES) {
      const phrasings = PARAPHRASE_TEMPLATES[strategy]
        .map((t, k) => ({ t, k }))
        .filter(({ k }) => (k % c.heldOutEvery === c.heldOutEvery - 1) === heldOut);
      for (let i = 0; i < n; i++) {
        const { t, k } = phrasings[i % phrasings.length]!;
        const text = decorate(expandPhrasing(t, drawSlots(world, rng), rng), rng, c);
        out.push({ text, strategy, template: `${strategy}/${k}` });
      }
    }
    return rng.shuffle(out);
  };
  return { train: split(false), heldOut: split(true) };
}
