import { FileFormatError } from '@gopo/core';
import { z } from 'zod';

/**
 * The subset of Hugging Face's tokenizer.json this package writes and reads: a byte-level BPE with
 * added special tokens. Fields the schema does not name are kept (loose objects) so files written by
 * other tools load as long as the parts that decide encoding match what the encoder implements.
 */
export const AddedTokenSchema = z.looseObject({
  id: z.number().int().nonnegative().describe('token id'),
  content: z.string().min(1).describe('the literal text of the token'),
  single_word: z.boolean().default(false).describe('match only as a whole word (must be false here)'),
  lstrip: z.boolean().default(false).describe('swallow whitespace on the left (must be false here)'),
  rstrip: z.boolean().default(false).describe('swallow whitespace on the right (must be false here)'),
  normalized: z.boolean().default(false).describe('match after normalization'),
  special: z.boolean().default(false).describe('a special token (skipped by decode with skipSpecial)'),
});
export type AddedToken = z.infer<typeof AddedTokenSchema>;

const ByteLevelSchema = z.looseObject({
  type: z.literal('ByteLevel').describe('byte-level pre-tokenizer / decoder / post-processor'),
  add_prefix_space: z.boolean().default(false).describe('prepend a space to the text (must be false here)'),
  trim_offsets: z
    .boolean()
    .default(true)
    .describe('trim whitespace from offsets (offsets are not used here)'),
  use_regex: z.boolean().default(true).describe('split with the GPT-2 pattern first (must be true here)'),
});

const TemplatePieceSchema = z.union([
  z.object({
    SpecialToken: z
      .object({
        id: z.string().describe('content of the special token'),
        type_id: z.number().int().describe('segment id'),
      })
      .describe('a special token inserted by the template'),
  }),
  z.object({
    Sequence: z
      .object({
        id: z.enum(['A', 'B']).describe('which input sequence'),
        type_id: z.number().int().describe('segment id'),
      })
      .describe('the encoded input sequence'),
  }),
]);

const PostProcessorSchema = z.discriminatedUnion('type', [
  z.looseObject({
    type: z.literal('TemplateProcessing').describe('adds special tokens around the sequence'),
    single: z.array(TemplatePieceSchema).describe('template for one sequence'),
    pair: z.array(TemplatePieceSchema).describe('template for a pair of sequences'),
    special_tokens: z
      .record(
        z.string(),
        z.looseObject({
          id: z.string().describe('content of the special token'),
          ids: z.array(z.number().int()).describe('its ids'),
          tokens: z.array(z.string()).describe('its token strings'),
        }),
      )
      .describe('the special tokens the templates name'),
  }),
  ByteLevelSchema,
]);

export const BpeModelSchema = z.looseObject({
  type: z.literal('BPE').describe('model type (only BPE is supported)'),
  dropout: z.null().default(null).describe('BPE dropout (must be null: encoding is deterministic)'),
  unk_token: z.string().nullable().default(null).describe('unknown token (byte-level BPE needs none)'),
  continuing_subword_prefix: z
    .union([z.null(), z.literal('')])
    .default(null)
    .describe('subword prefix (must be null or empty here; GPT-2 files carry "")'),
  end_of_word_suffix: z
    .union([z.null(), z.literal('')])
    .default(null)
    .describe('end-of-word suffix (must be null or empty here)'),
  fuse_unk: z.boolean().default(false).describe('fuse consecutive unknown tokens'),
  byte_fallback: z.boolean().default(false).describe('SentencePiece byte fallback (must be false here)'),
  ignore_merges: z
    .boolean()
    .default(false)
    .describe('look words up whole before merging (must be false here)'),
  vocab: z.record(z.string(), z.number().int().nonnegative()).describe('token string (byte-level) to id'),
  merges: z
    .array(
      z.union([z.tuple([z.string(), z.string()]), z.string().regex(/^\S+ \S+$/, 'a merge is "left right"')]),
    )
    .describe('merge rules in priority order, as [left, right] pairs or "left right" strings'),
});

export const TokenizerJsonSchema = z
  .looseObject({
    version: z.string().default('1.0').describe('tokenizer.json format version'),
    truncation: z.unknown().optional().describe('truncation settings (ignored here)'),
    padding: z.unknown().optional().describe('padding settings (ignored here)'),
    added_tokens: z.array(AddedTokenSchema).default([]).describe('tokens matched in raw text before BPE'),
    normalizer: z.null().default(null).describe('normalizer (must be null: encoding is lossless)'),
    pre_tokenizer: ByteLevelSchema.describe('the pre-tokenizer (must be ByteLevel)'),
    post_processor: PostProcessorSchema.nullable().default(null).describe('adds special tokens on request'),
    decoder: ByteLevelSchema.describe('the decoder (must be ByteLevel)'),
    model: BpeModelSchema.describe('the BPE model'),
  })
  .superRefine((t, ctx) => {
    const flags = [
      [
        t.pre_tokenizer.add_prefix_space,
        ['pre_tokenizer', 'add_prefix_space'],
        'must be false (lossless encoding)',
      ],
      [!t.pre_tokenizer.use_regex, ['pre_tokenizer', 'use_regex'], 'must be true'],
      [t.model.byte_fallback, ['model', 'byte_fallback'], 'must be false'],
      [t.model.ignore_merges, ['model', 'ignore_merges'], 'must be false'],
    ] as const;
    for (const [bad, path, message] of flags)
      if (bad) ctx.addIssue({ code: 'custom', path: [...path], message });
    t.added_tokens.forEach((a, i) => {
      if (a.single_word || a.lstrip || a.rstrip) {
        ctx.addIssue({
          code: 'custom',
          path: ['added_tokens', i],
          message: 'single_word, lstrip and rstrip are not supported (they make encoding lossy)',
        });
      }
    });
  });

export type TokenizerJson = z.infer<typeof TokenizerJsonSchema>;

/**
 * A tokenizer.json that is broken for any reader (not merely using a feature our encoder lacks): an
 * id used twice, ids with gaps, a merge of tokens that are not in the vocab. Loading never falls
 * back to another tokenizer library on this error.
 */
export class CorruptTokenizerError extends FileFormatError {}

interface LooseTokenizerJson {
  readonly added_tokens?: unknown;
  readonly model?: { readonly type?: unknown; readonly vocab?: unknown; readonly merges?: unknown };
}

/**
 * Checks the parts of a tokenizer.json that every tokenizer library reads the same way, on raw
 * parsed JSON of any model type: vocab ids (non-negative integers, each used once, with the added
 * tokens running from 0 without gaps) and BPE merges (both halves and their join in the vocab).
 * Throws a CorruptTokenizerError naming the first problem.
 */
export function checkTokenizerIntegrity(raw: unknown, source = '(tokenizer.json)'): void {
  const json = (raw ?? {}) as LooseTokenizerJson;
  const vocab = json.model?.vocab;
  // Unigram models keep their vocab as a list of [piece, score]: no ids to check.
  if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) return;
  const fail = (path: (string | number)[], message: string) =>
    new CorruptTokenizerError({ file: source, path: ['model', ...path] }, message);
  const byId = new Map<number, string>();
  for (const [tok, id] of Object.entries(vocab as Record<string, unknown>)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
      throw fail(['vocab', tok], `id ${JSON.stringify(id)} is not a non-negative integer`);
    const other = byId.get(id);
    if (other !== undefined)
      throw fail(['vocab', tok], `id ${id} is used twice (also by ${JSON.stringify(other)})`);
    byId.set(id, tok);
  }
  const added = Array.isArray(json.added_tokens)
    ? (json.added_tokens as { id?: unknown; content?: unknown }[])
    : [];
  added.forEach((a, i) => {
    if (typeof a?.id !== 'number' || !Number.isInteger(a.id) || a.id < 0) return;
    const other = byId.get(a.id);
    if (other !== undefined && other !== a.content)
      throw new CorruptTokenizerError(
        { file: source, path: ['added_tokens', i, 'id'] },
        `id ${a.id} of ${JSON.stringify(a.content)} already belongs to ${JSON.stringify(other)}`,
      );
    byId.set(a.id, String(a.content));
  });
  const maxId = Math.max(-1, ...byId.keys());
  if (byId.size !== maxId + 1) {
    let gap = 0;
    while (byId.has(gap)) gap++;
    throw fail(['vocab'], `no token has id ${gap} (ids must run from 0 to ${maxId} without gaps)`);
  }
  const type = json.model?.type;
  const merges = json.model?.merges;
  if ((type !== undefined && type !== 'BPE') || !Array.isArray(merges)) return;
  const tokens = vocab as Record<string, unknown>;
  merges.forEach((m: unknown, rank) => {
    const pair = typeof m === 'string' ? m.split(' ') : m;
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((p) => typeof p !== 'string'))
      throw fail(['merges', rank], 'a merge is "left right" or [left, right]');
    const [left, right] = pair as [string, string];
    for (const tok of [left, right, left + right])
      if (!Object.hasOwn(tokens, tok))
        throw fail(['merges', rank], `token ${JSON.stringify(tok)} is not in the vocab`);
  });
}

/** Validates parsed tokenizer.json content; errors name the source and the field path. */
export function parseTokenizerJson(raw: unknown, source = '(tokenizer.json)'): TokenizerJson {
  const result = TokenizerJsonSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const more = result.error.issues.length > 1 ? ` (+${result.error.issues.length - 1} more issue(s))` : '';
    throw new FileFormatError({ file: source, path }, issue.message + more);
  }
  return result.data;
}

/** Parses tokenizer.json text; malformed JSON is reported with the file name. */
export function parseTokenizerJsonText(text: string, source = '(tokenizer.json)'): TokenizerJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError({ file: source }, `invalid JSON (${(e as Error).message})`);
  }
  return parseTokenizerJson(raw, source);
}

/** What a trained byte-level BPE consists of, before it is written as tokenizer.json. */
export interface BpeModelParts {
  /** Special tokens at ids 0..n-1, in this order. */
  readonly specialTokens: readonly string[];
  /** Byte-level token strings; index = id. Starts with the special tokens. */
  readonly vocab: readonly string[];
  /** Merge rules in priority order, as byte-level token strings. */
  readonly merges: readonly (readonly [string, string])[];
  /** Added at the start of a sequence when encoding with special tokens (usually `<|bos|>`). */
  readonly bosToken?: string | undefined;
}

/** Builds tokenizer.json content for a byte-level BPE. */
export function buildTokenizerJson(parts: BpeModelParts): TokenizerJson {
  const vocab: Record<string, number> = {};
  parts.vocab.forEach((tok, id) => {
    vocab[tok] = id;
  });
  const bos = parts.bosToken;
  const bosId = bos === undefined ? undefined : parts.specialTokens.indexOf(bos);
  if (bos !== undefined && (bosId === undefined || bosId < 0)) {
    throw new RangeError(`bos token ${bos} is not among the special tokens`);
  }
  const byteLevel = {
    type: 'ByteLevel' as const,
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: true,
  };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: parts.specialTokens.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor:
      bos !== undefined && bosId !== undefined
        ? {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [
              { SpecialToken: { id: bos, type_id: 0 } },
              { Sequence: { id: 'A', type_id: 0 } },
              { Sequence: { id: 'B', type_id: 1 } },
            ],
            special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
          }
        : byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: parts.merges.map(([a, b]) => [a, b] as [string, string]),
    },
  };
}

/** Longest line the repository's formatter (biome, lineWidth 110) leaves alone. */
const LINE_WIDTH = 110;

function formatJson(value: unknown, indent: string, prefixWidth: number): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const flat = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      // +1 for a trailing comma.
      if (prefixWidth + flat.length + 1 <= LINE_WIDTH) return flat;
    }
    const items = value.map((v) => inner + formatJson(v, inner, inner.length));
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  if (entries.length === 0) return '{}';
  const items = entries.map(([k, v]) => {
    const head = `${inner}${JSON.stringify(k)}: `;
    return head + formatJson(v, inner, head.length);
  });
  return `{\n${items.join(',\n')}\n${indent}}`;
}

/**
 * Serialises tokenizer.json deterministically: the same content always gives the same bytes, in the
 * layout the repository's formatter produces (so a committed file stays as written), with the vocab
 * in id order and one vocab entry and one merge per line.
 */
export function serializeTokenizerJson(t: TokenizerJson): string {
  // A Map keeps the vocab in id order; a plain object would list digit-only tokens ("7") first.
  const vocab = new Map(Object.entries(t.model.vocab).sort((a, b) => a[1] - b[1]));
  return `${formatJson({ ...t, model: { ...t.model, vocab } }, '', 0)}\n`;
}
