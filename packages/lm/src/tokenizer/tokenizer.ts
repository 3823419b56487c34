import { promises as fs } from 'node:fs';
import { MissingFileError, UnknownNameError, UsageError, writeFileAtomic } from '@gopo/core';
import { z } from 'zod';
import { BpeEncoder, type DecodeOptions, type EncodeOptions } from './bpe-encoder.js';
import { parseStrategyToken, strategyToken } from './special-tokens.js';
import {
  parseTokenizerJson,
  parseTokenizerJsonText,
  serializeTokenizerJson,
  type TokenizerJson,
} from './tokenizer-json.js';

export const BatchEncodeOptionsSchema = z
  .object({
    addSpecial: z.boolean().default(false).describe('add the post-processor special tokens (<|bos|>)'),
    parseSpecial: z.boolean().default(true).describe('match special tokens written literally in the text'),
    padding: z
      .enum(['longest', 'max_length'])
      .default('longest')
      .describe('pad to the longest sequence of the batch, or to maxLength'),
    maxLength: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('longest allowed sequence; required for max_length'),
    padToMultipleOf: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('round the padded length up to a multiple of this (tensor-core and shape-cache friendly)'),
    truncation: z
      .boolean()
      .default(false)
      .describe('cut sequences longer than maxLength (otherwise such a sequence is an error)'),
    paddingSide: z
      .enum(['right', 'left'])
      .default('right')
      .describe('where pad tokens go; left padding lines up the last tokens for batched generation'),
  })
  .superRefine((o, ctx) => {
    if (o.padding === 'max_length' && o.maxLength === undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxLength'], message: 'padding "max_length" needs maxLength' });
    }
    if (o.truncation && o.maxLength === undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxLength'], message: 'truncation needs maxLength' });
    }
  });

export type BatchEncodeOptions = z.input<typeof BatchEncodeOptionsSchema>;

/** A padded batch: every row has the same length; mask 1 marks real tokens, 0 padding. */
export interface BatchEncoding {
  readonly ids: number[][];
  readonly attentionMask: number[][];
  /** Unpadded length of each row (after truncation). */
  readonly lengths: number[];
  /** The common padded length. */
  readonly length: number;
}

/**
 * The tokenizer the rest of the project uses: a byte-level BPE tokenizer.json (trained here or by
 * Hugging Face tokenizers) run by our own encoder. decode(encode(s)) === s for every well-formed
 * string (lone UTF-16 surrogates have no UTF-8 form and come back as U+FFFD).
 */
export class Tokenizer {
  private readonly encoder: BpeEncoder;
  private readonly specials: ReadonlyMap<string, number>;
  private readonly strategyIds: ReadonlyMap<string, number>;

  private constructor(
    readonly json: TokenizerJson,
    readonly source: string,
  ) {
    this.encoder = new BpeEncoder(json, source);
    const specials = new Map<string, number>();
    const strategies = new Map<string, number>();
    for (const a of json.added_tokens) {
      if (!a.special) continue;
      specials.set(a.content, a.id);
      const name = parseStrategyToken(a.content);
      if (name !== undefined) strategies.set(name, a.id);
    }
    this.specials = specials;
    this.strategyIds = strategies;
  }

  /** From parsed or textual tokenizer.json content; `source` names it in errors. */
  static fromJson(json: unknown, source = '(tokenizer.json)'): Tokenizer {
    const parsed =
      typeof json === 'string' ? parseTokenizerJsonText(json, source) : parseTokenizerJson(json, source);
    return new Tokenizer(parsed, source);
  }

  /** Reads a tokenizer.json file. */
  static async load(file: string): Promise<Tokenizer> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFileError(file, 'tokenizer file');
      throw e;
    }
    return Tokenizer.fromJson(text, file);
  }

  /** Writes the tokenizer.json atomically. */
  async save(file: string): Promise<void> {
    await writeFileAtomic(file, serializeTokenizerJson(this.json));
  }

  /** Number of ids (largest id + 1), the size of an embedding table for this tokenizer. */
  get vocabSize(): number {
    return this.encoder.vocabSize;
  }

  /** Special tokens (content -> id), in id order. */
  get specialTokens(): ReadonlyMap<string, number> {
    return this.specials;
  }

  /** Strategy names that have a `<|strategy:NAME|>` token, in id order. */
  get strategies(): string[] {
    return [...this.strategyIds.keys()];
  }

  /** Id of a special token by its content (`'<|user|>'`); the error lists the valid ones. */
  specialTokenId(content: string): number {
    const id = this.specials.get(content);
    if (id === undefined) throw new UnknownNameError('special token', content, [...this.specials.keys()]);
    return id;
  }

  /** Whether the tokenizer has this special token. */
  hasSpecialToken(content: string): boolean {
    return this.specials.has(content);
  }

  /** Id of `<|strategy:NAME|>`; the error lists the strategies this tokenizer knows. */
  strategyTokenId(name: string): number {
    const id = this.strategyIds.get(name);
    if (id === undefined) throw new UnknownNameError('strategy token', name, this.strategies);
    return id;
  }

  get padId(): number {
    return this.specialTokenId('<|pad|>');
  }
  get bosId(): number {
    return this.specialTokenId('<|bos|>');
  }
  get eosId(): number {
    return this.specialTokenId('<|eos|>');
  }
  get endId(): number {
    return this.specialTokenId('<|end|>');
  }

  isSpecial(id: number): boolean {
    return this.encoder.isSpecial(id);
  }

  /** The token string of an id (byte-level form for learned tokens). */
  idToToken(id: number): string {
    return this.encoder.idToTokenString(id);
  }

  /** The id of a token string, if it is in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.encoder.tokenStringToId(token);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.encoder.encode(text, options);
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    return this.encoder.decode(ids, options);
  }

  /** The bytes of a non-special token: what streaming generation concatenates before UTF-8 decoding. */
  tokenBytes(id: number): Uint8Array {
    return this.encoder.tokenBytes(id);
  }

  /** Encodes texts into one padded batch with attention masks. */
  encodeBatch(texts: readonly string[], options: BatchEncodeOptions = {}): BatchEncoding {
    const o = BatchEncodeOptionsSchema.parse(options);
    const rows = texts.map((t, i) => {
      let ids = this.encode(t, { addSpecial: o.addSpecial, parseSpecial: o.parseSpecial });
      if (o.maxLength !== undefined && ids.length > o.maxLength) {
        if (!o.truncation) {
          throw new UsageError(
            `text ${i} has ${ids.length} tokens, more than maxLength ${o.maxLength} (enable truncation to cut it)`,
          );
        }
        ids = ids.slice(0, o.maxLength);
      }
      return ids;
    });
    return this.padBatch(rows, o);
  }

  /** Pads already-encoded rows the way encodeBatch does. */
  padBatch(
    rows: readonly (readonly number[])[],
    options: Pick<BatchEncodeOptions, 'padding' | 'maxLength' | 'padToMultipleOf' | 'paddingSide'> = {},
  ): BatchEncoding {
    const o = BatchEncodeOptionsSchema.parse(options);
    const longest = rows.reduce((m, r) => Math.max(m, r.length), 0);
    let length = o.padding === 'max_length' ? o.maxLength! : longest;
    if (length < longest) {
      throw new UsageError(`a row has ${longest} tokens, more than the padded length ${length}`);
    }
    if (o.padToMultipleOf !== undefined) length = Math.ceil(length / o.padToMultipleOf) * o.padToMultipleOf;
    const pad = this.padId;
    const ids: number[][] = [];
    const attentionMask: number[][] = [];
    for (const r of rows) {
      const fill = new Array<number>(length - r.length).fill(pad);
      const zeros = new Array<number>(length - r.length).fill(0);
      const ones = new Array<number>(r.length).fill(1);
      if (o.paddingSide === 'right') {
        ids.push([...r, ...fill]);
        attentionMask.push([...ones, ...zeros]);
      } else {
        ids.push([...fill, ...r]);
        attentionMask.push([...zeros, ...ones]);
      }
    }
    return { ids, attentionMask, lengths: rows.map((r) => r.length), length };
  }

  /** The strategy token string for a strategy name (whether or not this tokenizer has it). */
  static strategyToken(name: string): string {
    return strategyToken(name);
  }
}
