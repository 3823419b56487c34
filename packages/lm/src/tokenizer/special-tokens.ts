import { z } from 'zod';

/**
 * The special tokens every GOPO tokenizer carries, in id order (they take ids 0..6): padding,
 * sequence start and end, the three dialogue roles, and the end of a turn (the stop token when a
 * model writes a reply).
 */
export const CORE_SPECIAL_TOKENS = [
  '<|pad|>',
  '<|bos|>',
  '<|eos|>',
  '<|system|>',
  '<|user|>',
  '<|agent|>',
  '<|end|>',
] as const;

export type CoreSpecialToken = (typeof CORE_SPECIAL_TOKENS)[number];

/**
 * The default shop strategy set of DESIGN.md 4.1, in the same order as SHOP_STRATEGIES in
 * @gopo/dialogue. lm may not depend on dialogue (DESIGN.md section 2), so the names are repeated
 * here for the shipped default tokenizer only; everything else takes strategy names as a parameter.
 */
export const DEFAULT_STRATEGY_NAMES = [
  'greet',
  'elicit_need',
  'clarify',
  'recommend',
  'compare',
  'answer_question',
  'check_order',
  'process_return',
  'offer_coupon',
  'reassure',
  'confirm_purchase',
  'escalate',
  'close',
] as const;

export const StrategyTokenNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'strategy names are lower_snake_case')
  .describe('a strategy name; its token is <|strategy:NAME|>');

const STRATEGY_TOKEN = /^<\|strategy:([a-z][a-z0-9_]*)\|>$/;

/** The special token that stands for a strategy: `<|strategy:recommend|>`. */
export function strategyToken(name: string): string {
  return `<|strategy:${name}|>`;
}

/** The strategy name inside a strategy token, or undefined for any other string. */
export function parseStrategyToken(token: string): string | undefined {
  return STRATEGY_TOKEN.exec(token)?.[1];
}

/** Core tokens followed by one strategy token per name: the special-token list of a GOPO tokenizer. */
export function gopoSpecialTokens(strategies: readonly string[]): string[] {
  return [...CORE_SPECIAL_TOKENS, ...strategies.map(strategyToken)];
}

interface TrieNode {
  next: Map<string, TrieNode>;
  end?: number;
}

/**
 * Finds special tokens inside text: at each position the longest token that starts there wins, and
 * scanning resumes after it (the rule @huggingface/tokenizers applies to added tokens, so both split
 * text the same way).
 */
export class SpecialTokenMatcher {
  private readonly root: TrieNode = { next: new Map() };
  readonly size: number;

  constructor(tokens: ReadonlyMap<string, number>) {
    for (const [content, id] of tokens) {
      let node = this.root;
      // By UTF-16 code unit, the unit `split` walks the text in.
      for (let k = 0; k < content.length; k++) {
        const ch = content[k]!;
        let child = node.next.get(ch);
        if (!child) {
          child = { next: new Map() };
          node.next.set(ch, child);
        }
        node = child;
      }
      node.end = id;
    }
    this.size = tokens.size;
  }

  /**
   * Splits `text` into ordinary stretches (strings) and special tokens (their ids), in order.
   * Empty stretches are left out.
   */
  split(text: string): (string | number)[] {
    const out: (string | number)[] = [];
    if (this.size === 0) {
      if (text.length > 0) out.push(text);
      return out;
    }
    let start = 0;
    let i = 0;
    const n = text.length;
    while (i < n) {
      let node: TrieNode | undefined = this.root;
      let matchEnd = -1;
      let matchId = -1;
      let j = i;
      while (j < n) {
        node = node.next.get(text[j]!);
        if (!node) break;
        j++;
        if (node.end !== undefined) {
          matchEnd = j;
          matchId = node.end;
        }
      }
      if (matchEnd < 0) {
        i++;
        continue;
      }
      if (i > start) out.push(text.slice(start, i));
      out.push(matchId);
      i = matchEnd;
      start = i;
    }
    if (start < n) out.push(text.slice(start));
    return out;
  }
}
