import { z } from 'zod';
import { BYTE_TO_UNICODE, PRETOKENIZE_PATTERN } from './byte-level.js';
import {
  CORE_SPECIAL_TOKENS,
  DEFAULT_STRATEGY_NAMES,
  SpecialTokenMatcher,
  StrategyTokenNameSchema,
  strategyToken,
} from './special-tokens.js';
import { type BpeModelParts, buildTokenizerJson, type TokenizerJson } from './tokenizer-json.js';

export const BpeTrainConfigSchema = z
  .object({
    vocabSize: z
      .number()
      .int()
      .positive()
      .default(2048)
      .describe('total vocabulary size: special tokens + 256 byte tokens + learned merges'),
    minFrequency: z
      .number()
      .int()
      .min(1)
      .default(2)
      .describe('stop merging once the most frequent pair occurs fewer times than this'),
    specialTokens: z
      .array(z.string().min(1))
      .default([...CORE_SPECIAL_TOKENS])
      .describe('special tokens at ids 0..n-1 in this order (role, padding and boundary tokens)'),
    strategies: z
      .array(StrategyTokenNameSchema)
      .default([...DEFAULT_STRATEGY_NAMES])
      .describe('strategy names; each adds a <|strategy:NAME|> special token after specialTokens'),
    bosToken: z
      .string()
      .nullable()
      .default('<|bos|>')
      .describe('special token prepended when encoding with special tokens (null: none)'),
  })
  .superRefine((c, ctx) => {
    const all = [...c.specialTokens, ...c.strategies.map(strategyToken)];
    const seen = new Set<string>();
    all.forEach((tok, i) => {
      if (seen.has(tok)) {
        const inSpecial = i < c.specialTokens.length;
        ctx.addIssue({
          code: 'custom',
          path: inSpecial ? ['specialTokens', i] : ['strategies', i - c.specialTokens.length],
          message: `duplicate special token ${tok}`,
        });
      }
      seen.add(tok);
    });
    if (c.vocabSize < all.length + 256) {
      ctx.addIssue({
        code: 'custom',
        path: ['vocabSize'],
        message: `must be at least ${all.length + 256} (${all.length} special tokens + 256 byte tokens)`,
      });
    }
    if (c.bosToken !== null && !seen.has(c.bosToken)) {
      ctx.addIssue({
        code: 'custom',
        path: ['bosToken'],
        message: `${c.bosToken} is not among the special tokens`,
      });
    }
  });

export type BpeTrainConfig = z.infer<typeof BpeTrainConfigSchema>;
export type BpeTrainOptions = z.input<typeof BpeTrainConfigSchema>;

/**
 * Counts pre-tokenized words of a corpus, the input of BPE training. Special tokens occurring in the
 * text are cut out first, so training on already-rendered chat text never learns pieces of them.
 */
export class WordCounter {
  readonly counts = new Map<string, number>();
  private readonly matcher: SpecialTokenMatcher;
  totalWords = 0;
  totalChars = 0;

  constructor(specialTokens: readonly string[] = []) {
    this.matcher = new SpecialTokenMatcher(new Map(specialTokens.map((t, i) => [t, i])));
  }

  add(text: string): void {
    this.totalChars += text.length;
    for (const piece of this.matcher.split(text)) {
      if (typeof piece !== 'string') continue;
      for (const m of piece.matchAll(PRETOKENIZE_PATTERN)) {
        const w = m[0];
        this.counts.set(w, (this.counts.get(w) ?? 0) + 1);
        this.totalWords++;
      }
    }
  }
}

export interface BpeTrainStats {
  readonly totalWords: number;
  readonly uniqueWords: number;
  readonly merges: number;
  /** Why merging ended: the vocabulary is full, the best pair is rarer than minFrequency, or no pair is left. */
  readonly stoppedBy: 'vocab_size' | 'min_frequency' | 'no_pairs';
  readonly seconds: number;
}

export interface BpeTrainResult {
  readonly parts: BpeModelParts;
  readonly tokenizerJson: TokenizerJson;
  readonly stats: BpeTrainStats;
}

/**
 * A max-heap of candidate pairs ordered by count, then by the smaller left id, then the smaller
 * right id, which makes tie-breaking deterministic. Entries go stale when a pair's count changes;
 * the trainer pushes a fresh entry and drops stale ones when they surface.
 */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  private before(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    if (ci !== cj) return ci > cj;
    return this.keys[i]! < this.keys[j]!;
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i]!;
    this.counts[i] = this.counts[j]!;
    this.counts[j] = c;
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; key: number } | undefined {
    const n = this.keys.length;
    if (n === 0) return undefined;
    const top = { count: this.counts[0]!, key: this.keys[0]! };
    this.swap(0, n - 1);
    this.counts.pop();
    this.keys.pop();
    let i = 0;
    const m = n - 1;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < m && this.before(l, best)) best = l;
      if (r < m && this.before(r, best)) best = r;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return top;
  }
}

/** Pair keys pack two symbol ids; ids stay below 2^21, so keys stay exact doubles (< 2^42). */
const KEY_BASE = 2 ** 21;
const pairKey = (a: number, b: number) => a * KEY_BASE + b;

/**
 * Trains a byte-level BPE (Sennrich et al. 2016; GPT-2's byte alphabet) on word counts.
 *
 * Each unique word is a sequence of symbol ids, starting from its UTF-8 bytes. Pair counts
 * (weighted by word frequency) and, for each pair, the words it occurs in are kept up to date
 * incrementally: a merge rewrites only the words that contain the merged pair, subtracting their old
 * pairs and adding their new ones. The best pair comes from a lazily invalidated heap, so a merge costs
 * time in proportion to the words it touches rather than to the corpus.
 */
export function trainBpeFromCounts(counter: WordCounter, options: BpeTrainOptions = {}): BpeTrainResult {
  const started = performance.now();
  const config = BpeTrainConfigSchema.parse(options);
  const specials = [...config.specialTokens, ...config.strategies.map(strategyToken)];
  const maxMerges = config.vocabSize - specials.length - 256;
  if (config.vocabSize >= KEY_BASE) throw new RangeError(`vocabSize must be below ${KEY_BASE}`);

  // Sorting the words fixes the order of everything below, whatever order the corpus came in.
  const unique = [...counter.counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const encoder = new TextEncoder();
  const words: Int32Array[] = [];
  const freqs: number[] = [];
  for (const [w, f] of unique) {
    words.push(Int32Array.from(encoder.encode(w)));
    freqs.push(f);
  }

  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  for (let wi = 0; wi < words.length; wi++) {
    const w = words[wi]!;
    const f = freqs[wi]!;
    for (let i = 0; i + 1 < w.length; i++) {
      const k = pairKey(w[i]!, w[i + 1]!);
      pairCounts.set(k, (pairCounts.get(k) ?? 0) + f);
      let list = pairWords.get(k);
      if (!list) {
        list = [];
        pairWords.set(k, list);
      }
      if (list[list.length - 1] !== wi) list.push(wi);
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCounts) heap.push(c, k);

  // Symbol id -> its bytes (ids 0..255 are the bytes themselves).
  const symbolBytes: number[][] = Array.from({ length: 256 }, (_, b) => [b]);
  const symbolString = (id: number) => symbolBytes[id]!.map((x) => BYTE_TO_UNICODE[x]!).join('');
  const symbolIds = new Map<string, number>(BYTE_TO_UNICODE.map((c, b) => [c, b]));
  const merges: [number, number][] = [];
  let stoppedBy: BpeTrainStats['stoppedBy'] = maxMerges === 0 ? 'vocab_size' : 'no_pairs';
  const visited = new Int32Array(words.length).fill(-1);
  const changed = new Set<number>();
  const banned = new Set<number>();
  const specialSet = new Set(specials);

  while (symbolBytes.length - 256 < maxMerges) {
    const top = heap.pop();
    if (!top) {
      stoppedBy = 'no_pairs';
      break;
    }
    const current = pairCounts.get(top.key) ?? 0;
    if (current !== top.count || current <= 0) continue;
    if (current < config.minFrequency) {
      stoppedBy = 'min_frequency';
      break;
    }
    const a = Math.floor(top.key / KEY_BASE);
    const b = top.key - a * KEY_BASE;
    const merged = symbolString(a) + symbolString(b);
    // A learned token spelled like a special token would share its string (one id per string in
    // tokenizer.json); such a pair is never merged.
    if (specialSet.has(merged)) {
      banned.add(top.key);
      continue;
    }
    merges.push([a, b]);
    // Two merge paths can spell the same bytes ((a,bc) and (ab,c)); they share one token, as in
    // tokenizer.json each string has one id.
    let newId = symbolIds.get(merged);
    if (newId === undefined) {
      newId = symbolBytes.length;
      symbolBytes.push([...symbolBytes[a]!, ...symbolBytes[b]!]);
      symbolIds.set(merged, newId);
    }

    changed.clear();
    const bump = (k: number, delta: number) => {
      const c = (pairCounts.get(k) ?? 0) + delta;
      if (c === 0) pairCounts.delete(k);
      else pairCounts.set(k, c);
      changed.add(k);
    };
    const merging = merges.length;
    for (const wi of pairWords.get(top.key) ?? []) {
      if (visited[wi] === merging) continue;
      visited[wi] = merging;
      const w = words[wi]!;
      let hit = false;
      for (let i = 0; i + 1 < w.length; i++) {
        if (w[i] === a && w[i + 1] === b) {
          hit = true;
          break;
        }
      }
      if (!hit) continue;
      const f = freqs[wi]!;
      for (let i = 0; i + 1 < w.length; i++) bump(pairKey(w[i]!, w[i + 1]!), -f);
      const out: number[] = [];
      for (let i = 0; i < w.length; ) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(newId);
          i += 2;
        } else {
          out.push(w[i]!);
          i++;
        }
      }
      const nw = Int32Array.from(out);
      words[wi] = nw;
      for (let i = 0; i + 1 < nw.length; i++) {
        const x = nw[i]!;
        const y = nw[i + 1]!;
        const k = pairKey(x, y);
        bump(k, f);
        // Pairs without the new symbol already list this word; new ones must learn of it.
        if (x === newId || y === newId) {
          let list = pairWords.get(k);
          if (!list) {
            list = [];
            pairWords.set(k, list);
          }
          if (list[list.length - 1] !== wi) list.push(wi);
        }
      }
    }
    pairWords.delete(top.key);
    pairCounts.delete(top.key);
    for (const k of changed) {
      const c = pairCounts.get(k);
      if (c !== undefined && c > 0 && !banned.has(k)) heap.push(c, k);
    }
    if (symbolBytes.length - 256 === maxMerges) stoppedBy = 'vocab_size';
  }

  const vocab: string[] = [...specials];
  for (let id = 0; id < symbolBytes.length; id++) vocab.push(symbolString(id));
  const parts: BpeModelParts = {
    specialTokens: specials,
    vocab,
    merges: merges.map(([x, y]) => [symbolString(x), symbolString(y)] as const),
    bosToken: config.bosToken ?? undefined,
  };
  return {
    parts,
    tokenizerJson: buildTokenizerJson(parts),
    stats: {
      totalWords: counter.totalWords,
      uniqueWords: unique.length,
      merges: merges.length,
      stoppedBy,
      seconds: (performance.now() - started) / 1000,
    },
  };
}

/** Trains a byte-level BPE on texts; see trainBpeFromCounts. */
export function trainBpe(texts: Iterable<string>, options: BpeTrainOptions = {}): BpeTrainResult {
  const config = BpeTrainConfigSchema.parse(options);
  const counter = new WordCounter([...config.specialTokens, ...config.strategies.map(strategyToken)]);
  for (const t of texts) counter.add(t);
  return trainBpeFromCounts(counter, config);
}
