/**
 * Where the step reward of a reply lands, token by token (DESIGN.md 4.5, Du et al.'s progressive
 * rewards): each id, price or code the reply states becomes complete at the token that finishes its
 * text, and the truth is the set the template agent's reply for the same state and strategy states
 * (the phases' Rg uses the same sets).
 */
import { factMentionSpans, factMentions } from '@gopo/cs-agent';
import { progressiveRewards, type StepRewardConfig, type TokenMark } from '@gopo/rewards';

/** A stated value as a set key (`kind:value`), the one definition the turn and token rewards share. */
export const factKey = (m: { readonly kind: string; readonly value: string }): string =>
  `${m.kind}:${m.value}`;

/** The `kind:value` keys of what `text` states. */
export function statedValues(text: string): string[] {
  return factMentions(text).map(factKey);
}

/**
 * A TokenMark per value the reply states, at the first token whose decoded prefix reaches the end of
 * the value's text. `decode` turns token ids into text (special tokens skipped).
 */
export function factTokenMarks(
  tokens: readonly number[],
  decode: (ids: readonly number[]) => string,
): TokenMark[] {
  const text = decode(tokens);
  const spans = factMentionSpans(text);
  if (spans.length === 0) return [];
  const ends: number[] = [];
  for (let k = 1; k <= tokens.length; k++) ends.push(decode(tokens.slice(0, k)).length);
  return spans.map((s) => {
    const k = ends.findIndex((e) => e >= s.end);
    return { token: k >= 0 ? k : tokens.length - 1, kind: 'slot' as const, key: factKey(s) };
  });
}

/** Rtod per token of a reply against the template reply's values (no requested slots: Rtod = Ru). */
export function stepTokenRewards(
  tokens: readonly number[],
  decode: (ids: readonly number[]) => string,
  truth: readonly string[],
  config: StepRewardConfig,
): Float64Array {
  return progressiveRewards({
    truthSlots: truth,
    truthRequests: [],
    marks: factTokenMarks(tokens, decode),
    numTokens: tokens.length,
    alpha: config.alpha,
    beta: config.beta,
    reward: 'tod',
  });
}
