import { Rng } from '@gopo/core';

/**
 * A generated corpus of shop customer-service dialogue text, the training text of the shipped default
 * tokenizer. Templates with slots (products, attributes, prices, order numbers, dates) are filled
 * from a seeded Rng, so the same seed and size always give the same text. It covers the vocabulary
 * the shop simulator and the CS Agent use, plus numbers, punctuation and some non-ASCII text so
 * that common shapes of those get merges too.
 */

const CATEGORIES = [
  ['headphones', 'headphone', 'pair of headphones'],
  ['sneakers', 'sneaker', 'pair of sneakers'],
  ['laptop bag', 'laptop bag', 'laptop bag'],
  ['coffee maker', 'coffee maker', 'coffee maker'],
  ['smartwatch', 'smartwatch', 'smartwatch'],
  ['desk lamp', 'desk lamp', 'desk lamp'],
  ['backpack', 'backpack', 'backpack'],
  ['rain jacket', 'rain jacket', 'rain jacket'],
  ['blender', 'blender', 'blender'],
  ['phone case', 'phone case', 'phone case'],
  ['office chair', 'office chair', 'office chair'],
  ['yoga mat', 'yoga mat', 'yoga mat'],
  ['water bottle', 'water bottle', 'water bottle'],
  ['keyboard', 'keyboard', 'keyboard'],
  ['monitor', 'monitor', 'monitor'],
  ['running shorts', 'running short', 'pair of running shorts'],
  ['winter boots', 'winter boot', 'pair of winter boots'],
  ['electric kettle', 'electric kettle', 'electric kettle'],
  ['bluetooth speaker', 'bluetooth speaker', 'bluetooth speaker'],
  ['sunglasses', 'sunglass', 'pair of sunglasses'],
  ['vacuum cleaner', 'vacuum cleaner', 'vacuum cleaner'],
  ['air fryer', 'air fryer', 'air fryer'],
  ['tablet', 'tablet', 'tablet'],
  ['gaming mouse', 'gaming mouse', 'gaming mouse'],
  ['wool sweater', 'wool sweater', 'wool sweater'],
  ['hiking socks', 'hiking sock', 'pair of hiking socks'],
  ['standing desk', 'standing desk', 'standing desk'],
  ['travel pillow', 'travel pillow', 'travel pillow'],
  ['frying pan', 'frying pan', 'frying pan'],
  ['e-reader', 'e-reader', 'e-reader'],
] as const;

const CITIES = [
  'Berlin',
  'Lyon',
  'Madrid',
  'Toronto',
  'Chicago',
  'Osaka',
  'Melbourne',
  'Dublin',
  'Warsaw',
  'São Paulo',
];
const MATERIALS = ['cotton', 'leather', 'aluminium', 'bamboo', 'ceramic', 'nylon', 'merino wool', 'glass'];

const BRANDS = [
  'Acme',
  'Nordlys',
  'Veloce',
  'Kumo',
  'Brightline',
  'Tessera',
  'Orbit',
  'Fjell',
  'Lumen',
  'Sora',
];
const COLORS = ['black', 'white', 'navy', 'red', 'green', 'grey', 'beige', 'blue', 'pink', 'olive'];
const SIZES = ['XS', 'S', 'M', 'L', 'XL', '38', '40', '42', '44', '15 inch', '17 inch'];
const FEATURES = [
  'noise cancelling',
  'waterproof',
  'lightweight',
  'wireless',
  'rechargeable',
  'foldable',
  'stainless steel',
  'recycled materials',
  'ergonomic',
  'long battery life',
  'quick charging',
  'machine washable',
  'dishwasher safe',
  'adjustable',
  'compact',
  'energy efficient',
  'shock resistant',
  'breathable',
];
const NAMES = [
  'Alex',
  'Sam',
  'Maria',
  'Jonas',
  'Priya',
  'Chen',
  'Fatima',
  'Lucas',
  'Emma',
  'Kenji',
  'Zoé',
  'Björn',
];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
];
const REASONS = [
  'it arrived damaged',
  'the size is wrong',
  "it doesn't fit",
  'I changed my mind',
  'the color is different from the photo',
  'it stopped working after two days',
  'I received the wrong item',
  'it was a duplicate order',
];
const EXTRAS = [
  'Merci beaucoup !',
  'Danke schön, das ist perfekt.',
  '¿Tienen envío gratis?',
  'ありがとうございます。',
  '谢谢你的帮助。',
  'Great, thanks! 👍',
  'Perfect 😊',
  'naïve question: is the café edition still available?',
  'Größe M bitte.',
  'Спасибо!',
];

interface Slots {
  cat: (typeof CATEGORIES)[number];
  brand: string;
  brand2: string;
  color: string;
  size: string;
  feature: string;
  feature2: string;
  name: string;
  price: string;
  price2: string;
  budget: number;
  order: string;
  days: number;
  date: string;
  reason: string;
  pct: number;
  code: string;
  rating: string;
  qty: number;
  city: string;
  material: string;
}

const USER_OPENERS: ((s: Slots) => string)[] = [
  (s) => `Hi, I'm looking for a ${s.cat[2]}.`,
  (s) => `Hello! Do you have any ${s.cat[0]} under $${s.budget}?`,
  (s) => `hey, I need new ${s.cat[0]} for work`,
  (s) => `Hi there, where is my order ${s.order}?`,
  (s) => `I want to return the ${s.cat[1]} I bought last week because ${s.reason}.`,
  (s) => `Good morning. Is the ${s.brand} ${s.cat[1]} ${s.feature}?`,
  (s) => `My order ${s.order} still hasn't arrived and it's been ${s.days} days. This is really frustrating!`,
  (s) => `Can you help me pick a ${s.cat[1]}? My budget is about ${s.budget} dollars.`,
  (s) => `I'm shopping for a gift for my sister, maybe a ${s.cat[1]}? She lives in ${s.city}.`,
  (s) => `Why was I charged twice for order ${s.order}?`,
  (s) => `Is the ${s.material} ${s.cat[1]} back in stock?`,
  (s) => `Quick question about the ${s.brand} ${s.cat[0]} - do they ship to ${s.city}?`,
  (s) => `The ${s.cat[1]} I got yesterday is broken. I want a refund.`,
];

const USER_FOLLOWUPS: ((s: Slots) => string)[] = [
  (s) => `I'd prefer ${s.color}, size ${s.size} if possible.`,
  (s) => `Something ${s.feature} would be great.`,
  (s) => `What's the difference between the ${s.brand} and the ${s.brand2}?`,
  (s) => `How long does shipping take to ${s.name === 'Zoé' ? 'Lyon' : 'Berlin'}?`,
  (s) => `Is there a discount? $${s.price} is a bit much for me.`,
  () => `OK, I'll take it.`,
  () => `Yes, please add it to my cart.`,
  () => `No thanks, that's all.`,
  (s) => `The order number is ${s.order}.`,
  (s) => `Does it come with a warranty? I had a ${s.cat[1]} break after ${s.days} months once.`,
  (s) => `Can I pay in ${s.qty} installments?`,
  () => `Hmm, I'm not sure... let me think.`,
  () => `I want to talk to a human, please.`,
  (s) => `My email is ${s.name.toLowerCase()}${s.days}@example.com`,
  (s) => `I ordered ${s.qty} of them on ${s.date}.`,
  (s) => `Is it made of ${s.material}?`,
  (s) => `Which one would you choose for everyday use in ${s.city}?`,
  () => `Can you send me the tracking link?`,
  () => `That sounds good, but is there a cheaper option?`,
  (s) => `I already tried restarting it ${s.qty} times.`,
  () => `Could you check whether the refund went through?`,
  (s) => `How many ${s.cat[0]} do you have left in ${s.color}?`,
  () => `Actually, never mind. I found it.`,
];

const AGENT_BY_STRATEGY: Record<string, ((s: Slots) => string)[]> = {
  greet: [
    (s) => `Good afternoon and welcome back, ${s.name}. What are you looking for today?`,
    (s) => `Hello ${s.name}! Welcome to our shop. How can I help you today?`,
    () => `Hi! Thanks for reaching out. What can I do for you?`,
  ],
  elicit_need: [
    () => `What matters most to you: price, quality or delivery speed?`,
    (s) => `Will you use it at home, at the office or while travelling around ${s.city}?`,
    (s) => `Sure! What will you mainly use the ${s.cat[1]} for?`,
    () => `Happy to help. Do you have a budget or a favourite brand in mind?`,
    (s) => `Could you tell me a bit more about what you need in a ${s.cat[1]}?`,
  ],
  clarify: [
    (s) => `Sorry, which item do you mean: the ${s.brand} or the ${s.brand2}?`,
    (s) => `Could you double-check the order number? I can't find ${s.order}.`,
    (s) => `Just to confirm: you're looking for a ${s.color} ${s.cat[1]} in size ${s.size}, right?`,
    () => `Do you mean the order you placed this month or an earlier one?`,
  ],
  recommend: [
    (s) =>
      `Many customers in ${s.city} love the ${s.material} ${s.cat[1]} from ${s.brand}; it's ${s.feature} and only $${s.price}.`,
    (s) =>
      `I'd recommend the ${s.brand} ${s.cat[1]} in ${s.color}. It's ${s.feature} and costs $${s.price}. Customers rate it ${s.rating}/5.`,
    (s) =>
      `Based on what you said, the ${s.brand2} ${s.cat[1]} (${s.feature2}) at $${s.price2} is a great fit.`,
  ],
  compare: [
    (s) =>
      `Both are good. The ${s.brand2} is cheaper ($${s.price2} vs. $${s.price}), but the ${s.brand} is made of ${s.material} and lasts longer.`,
    (s) =>
      `The ${s.brand} is ${s.feature} and costs $${s.price}, while the ${s.brand2} is ${s.feature2} at $${s.price2}. If ${s.feature} matters most, go with the ${s.brand}.`,
  ],
  answer_question: [
    (s) => `It's made of ${s.material}, weighs about ${s.qty * 300} g and is ${s.feature2}.`,
    (s) =>
      `We currently have ${s.days} in stock in ${s.color}, and we ship to ${s.city} in ${s.qty + 1}-${s.qty + 3} days.`,
    (s) => `Yes, it's ${s.feature}. Standard shipping takes ${s.days} business days, express takes 1-2.`,
    (s) => `It comes with a ${s.qty}-year warranty, and returns are free within 30 days.`,
    () => `Yes, you can pay by card, PayPal or in installments.`,
  ],
  check_order: [
    (s) => `Your package left our warehouse in ${s.city} on ${s.date}. It's with the courier now.`,
    (s) => `I found order ${s.order}. It shipped on ${s.date} and should arrive within ${s.days} days.`,
    (s) =>
      `Let me check... Order ${s.order} is currently at the sorting center. Tracking: TRK${s.days}${s.qty}0${s.budget}.`,
  ],
  process_return: [
    () => `I've issued the refund to your original payment method. You'll see it in 3-5 business days.`,
    (s) =>
      `I'm sorry that ${s.reason}. I've started a return for order ${s.order}; you'll get a prepaid label by email.`,
    (s) =>
      `Your refund of $${s.price} will be issued within ${s.days} business days after we receive the item.`,
  ],
  offer_coupon: [
    (s) => `Since this is your first order, you can use ${s.code} at checkout for ${s.pct}% off.`,
    (s) => `Good news: I can offer you ${s.pct}% off with the code ${s.code}.`,
    (s) => `As a thank-you for your patience, here's a $${s.pct} coupon: ${s.code}.`,
  ],
  reassure: [
    (s) => `I'm really sorry about the delay, ${s.name}. I'll personally make sure it's resolved today.`,
    () => `I completely understand your frustration, and I'm here to sort this out for you.`,
    () => `Don't worry, your payment is safe and we'll make this right.`,
  ],
  confirm_purchase: [
    (s) => `Done! ${s.qty} item(s) will be delivered to ${s.city} by ${s.date}. We'll email you the receipt.`,
    (s) =>
      `Great choice! I've added ${s.qty} × ${s.brand} ${s.cat[1]} (${s.color}) to your cart. Total: $${s.price}.`,
    (s) => `Your order is confirmed. The order number is ${s.order}.`,
  ],
  escalate: [
    () => `This needs our billing team. I've opened a ticket and they'll contact you within 24 hours.`,
    () => `I'm transferring you to a specialist who can help further. Please hold on a moment.`,
  ],
  close: [
    () => `Glad I could help. Enjoy your purchase!`,
    () => `Thanks for shopping with us! Have a wonderful day.`,
    (s) => `You're welcome, ${s.name}. Is there anything else I can help with?`,
  ],
};

function money(rng: Rng): string {
  const whole = rng.intBetween(5, 400);
  return rng.bool(0.5) ? `${whole}.99` : `${whole}.${String(rng.int(100)).padStart(2, '0')}`;
}

function slots(rng: Rng): Slots {
  const brand = rng.pick(BRANDS);
  let brand2 = rng.pick(BRANDS);
  if (brand2 === brand) brand2 = BRANDS[(BRANDS.indexOf(brand) + 1) % BRANDS.length]!;
  return {
    cat: rng.pick(CATEGORIES),
    brand,
    brand2,
    color: rng.pick(COLORS),
    size: rng.pick(SIZES),
    feature: rng.pick(FEATURES),
    feature2: rng.pick(FEATURES),
    name: rng.pick(NAMES),
    price: money(rng),
    price2: money(rng),
    budget: rng.intBetween(2, 50) * 10,
    order: `#${rng.intBetween(10000, 99999)}`,
    days: rng.intBetween(2, 14),
    date: `${rng.pick(MONTHS)} ${rng.intBetween(1, 28)}, 20${rng.intBetween(23, 26)}`,
    reason: rng.pick(REASONS),
    pct: rng.pick([5, 10, 15, 20, 25]),
    code: `SAVE${rng.pick([5, 10, 15, 20])}-${rng.intBetween(100, 999)}`,
    rating: `${rng.intBetween(3, 4)}.${rng.int(10)}`,
    qty: rng.intBetween(1, 4),
    city: rng.pick(CITIES),
    material: rng.pick(MATERIALS),
  };
}

const STRATEGY_FLOW = Object.keys(AGENT_BY_STRATEGY);

/** One generated dialogue, one utterance per line (roles are special tokens in the chat template, not text). */
export function generateShopDialogue(rng: Rng): string {
  const s = slots(rng);
  const lines: string[] = [];
  lines.push(rng.pick(USER_OPENERS)(s));
  const turns = rng.intBetween(2, 6);
  let strategy = 'greet';
  for (let t = 0; t < turns; t++) {
    const reply = rng.pick(AGENT_BY_STRATEGY[strategy]!)(s);
    lines.push(reply);
    if (t === turns - 1) break;
    let user = rng.pick(USER_FOLLOWUPS)(s);
    if (rng.bool(0.08)) user += ` ${rng.pick(EXTRAS)}`;
    if (rng.bool(0.1)) user = user.toLowerCase();
    lines.push(user);
    strategy = t === turns - 2 ? 'close' : rng.pick(STRATEGY_FLOW);
  }
  return `${lines.join('\n')}\n`;
}

/** Dialogues from `seed` until the text reaches `targetChars` characters. */
export function generateShopCorpus(seed: number, targetChars: number): string[] {
  const rng = Rng.fromSeed(seed, 'lm/shop-corpus');
  const out: string[] = [];
  let chars = 0;
  while (chars < targetChars) {
    const d = generateShopDialogue(rng);
    out.push(d);
    chars += d.length;
  }
  return out;
}
