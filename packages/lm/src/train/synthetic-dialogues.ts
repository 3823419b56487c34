/**
 * A small deterministic dialogue corpus with one right reply per prompt (a price list), for checks
 * that SFT really teaches a model something and for benchmarks.
 */
import type { ChatMessage } from '../tokenizer/chat-template.js';

const ITEMS = ['lamp', 'desk', 'chair', 'kettle', 'phone', 'watch', 'bag', 'scarf'];
const COLORS = ['red', 'blue', 'green', 'black'];

export interface SyntheticDialogue {
  readonly messages: ChatMessage[];
  /** The agent reply the model should learn. */
  readonly reply: string;
}

/** `count` exchanges (at most 32): "Do you have the lamp in red?" -> "Yes, the red lamp costs 23 dollars." */
export function syntheticDialogues(count = 32): SyntheticDialogue[] {
  const out: SyntheticDialogue[] = [];
  for (let i = 0; i < Math.min(count, ITEMS.length * COLORS.length); i++) {
    const item = ITEMS[i % ITEMS.length] as string;
    const color = COLORS[Math.floor(i / ITEMS.length)] as string;
    const price = 10 + ((i * 37) % 90);
    const reply = `Yes, the ${color} ${item} costs ${price} dollars.`;
    out.push({
      messages: [
        { role: 'user', content: `Do you have the ${item} in ${color}?` },
        { role: 'agent', content: reply },
      ],
      reply,
    });
  }
  return out;
}
