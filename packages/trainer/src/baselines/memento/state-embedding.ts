/**
 * A deterministic text embedding of case states for retrieval: the text is read line by line with
 * the shipped tokenizer of @gopo/lm; each line "key: value" gives the value's token ids and token
 * bigrams (with start and end markers), each hashed together with the key, and the whole line; these
 * features are hashed with a sign (feature hashing) into a fixed number of dimensions; the vector is
 * L2-normalised, so a dot product is the cosine similarity. Whole-line features make an exact match of
 * a line ("sop: need_known", "last strategy: recommend") count more than shared words. Digits can be
 * read as 0, so item ids and prices differ only in shape. No learned weights: the same text gives the
 * same vector on every machine.
 */
import type { Tokenizer } from '@gopo/lm';
import { z } from 'zod';

export const StateEmbeddingConfigSchema = z
  .strictObject({
    dim: z.number().int().min(8).max(4096).default(256).describe('dimensions of the embedding'),
    bigrams: z.boolean().default(true).describe('hash token bigrams (per line, with start/end markers)'),
    lineWeight: z
      .number()
      .min(0)
      .default(2)
      .describe('weight of the feature of a whole line (0: none) against 1 for a token'),
    lowercase: z.boolean().default(true).describe('read the text in lower case'),
    maskDigits: z
      .boolean()
      .default(true)
      .describe('read every digit as 0 (ids and prices differ only in shape)'),
    maxTokens: z
      .number()
      .int()
      .min(1)
      .max(8192)
      .default(512)
      .describe('tokens read per state (longer are cut)'),
  })
  .describe('how case states are embedded for retrieval');
export type StateEmbeddingConfig = z.infer<typeof StateEmbeddingConfigSchema>;
export type StateEmbeddingConfigInput = z.input<typeof StateEmbeddingConfigSchema>;

/** A 32-bit mix of two integers (murmur3's finaliser): the same on every machine. */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x27d4eb2f, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a of a string's UTF-16 code units. */
function hashText(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// Feature kinds, mixed into the hash so a token, a bigram and a line never share a slot by design.
const TOKEN = 1;
const BIGRAM = 2;
const LINE = 3;
const START = -1;
const END = -2;

export class StateEmbedder {
  readonly config: StateEmbeddingConfig;

  constructor(
    readonly tokenizer: Tokenizer,
    config: StateEmbeddingConfigInput = {},
  ) {
    this.config = StateEmbeddingConfigSchema.parse(config);
  }

  get dim(): number {
    return this.config.dim;
  }

  /** Adds `weight` at the signed slot of feature hash `h`. */
  private add(out: Float32Array, offset: number, h: number, weight: number): void {
    const slot = h % this.config.dim;
    out[offset + slot]! += (h & 0x80000000 ? -1 : 1) * weight;
  }

  /** Writes the embedding of `text` into `out` at `offset` (dim entries, overwritten). */
  embedInto(text: string, out: Float32Array, offset = 0): void {
    const { dim, bigrams, lineWeight, lowercase, maskDigits, maxTokens } = this.config;
    out.fill(0, offset, offset + dim);
    let t = lowercase ? text.toLowerCase() : text;
    if (maskDigits) t = t.replace(/[0-9]/g, '0');
    let budget = maxTokens;
    for (const line of t.split('\n')) {
      if (budget <= 0) break;
      if (line.trim() === '') continue;
      // "key: value": the value's tokens are hashed together with the key, so the labels every state
      // shares ("sop:", "customer:") add nothing by themselves and one word under two keys is two features.
      const colon = line.indexOf(': ');
      const key = colon >= 0 ? hashText(line.slice(0, colon)) : 0;
      const value = colon >= 0 ? line.slice(colon + 2) : line;
      if (lineWeight > 0) this.add(out, offset, mix(LINE, hashText(line)), lineWeight);
      const ids = this.tokenizer.encode(value, { parseSpecial: false }).slice(0, budget);
      budget -= ids.length;
      let prev = START;
      for (const id of ids) {
        this.add(out, offset, mix(mix(TOKEN, key), id), 1);
        if (bigrams) this.add(out, offset, mix(mix(BIGRAM, key), mix(prev, id)), 1);
        prev = id;
      }
      if (bigrams) this.add(out, offset, mix(mix(BIGRAM, key), mix(prev, END)), 1);
    }
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += out[offset + i]! * out[offset + i]!;
    if (norm === 0) return;
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dim; i++) out[offset + i]! *= inv;
  }

  /** The embedding of one text (unit length, or all zeros for an empty text). */
  embed(text: string): Float32Array {
    const out = new Float32Array(this.config.dim);
    this.embedInto(text, out);
    return out;
  }

  /** The embeddings of several texts, row after row ([texts, dim]). */
  embedAll(texts: readonly string[]): Float32Array {
    const out = new Float32Array(texts.length * this.config.dim);
    texts.forEach((t, i) => {
      this.embedInto(t, out, i * this.config.dim);
    });
    return out;
  }
}
