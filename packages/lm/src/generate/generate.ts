/**
 * Batched autoregressive generation. Prompts of different lengths are left padded to a common
 * bucket P (positions count real tokens only), prefilled in one pass that fills a KV cache of
 * capacity C >= P + maxNewTokens, then decoded one token per row per step against that cache. The
 * uncached path recomputes the whole prefix every step (same padding, same sampling, same RNG
 * draws): it exists to check the cache and as the benchmark's baseline.
 */
import { Rng, UsageError } from '@gopo/core';
import type { HostTensor } from '@gopo/nn';
import { z } from 'zod';
import { eosIds } from '../model/config.js';
import { int64, type LlamaModel, pastName, presentName, roundUp } from '../model/llama-model.js';
import { STEPS_PER_ITERATION } from './decode-loop.js';
import { SamplingOptionsSchema, sampleNext } from './sampling.js';

export const GenerateOptionsSchema = SamplingOptionsSchema.extend({
  maxNewTokens: z.number().int().positive().default(32).describe('most tokens generated per prompt'),
  seed: z.number().int().default(0).describe('seed of the sampling RNG (one stream per batch row)'),
  rowSeeds: z
    .array(z.number().int())
    .optional()
    .describe(
      "one seed per prompt: row i samples from its own stream seeded by rowSeeds[i] (instead of seed's i-th stream), so a row's tokens do not depend on the rest of the batch",
    ),
  stopStrings: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'a row stops once its decoded text contains one of these (needs a tokenizer); text is cut before it',
    ),
  stopTokenIds: z
    .array(z.number().int().nonnegative())
    .optional()
    .describe("ids that end a row (kept as its last token); default the config's eos_token_id"),
  useCache: z
    .boolean()
    .default(true)
    .describe('decode with the KV cache (false: recompute the prefix each step)'),
  padId: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe("padding id; default the config's pad_token_id or 0"),
  tokensPerRun: z
    .number()
    .int()
    .positive()
    .default(32)
    .describe(
      'greedy decoding with the cache (temperature 0, no repetition penalty): tokens decoded per session run, rounded up to a multiple of 4, in an ONNX Loop with the argmax in the graph, so the cache crosses into JavaScript once per run (1 = one run per token, the host path; sampling always runs one token per run). Same tokens either way; the onToken events of a run arrive when it ends',
    ),
  lengthBucket: z
    .number()
    .int()
    .positive()
    .default(16)
    .describe('prompt length and cache capacity are rounded up to multiples of this (fewer compiled shapes)'),
}).describe('generation settings');
export type GenerateOptions = z.infer<typeof GenerateOptionsSchema>;
export type GenerateOptionsInput = z.input<typeof GenerateOptionsSchema>;

export type FinishReason = 'eos' | 'stop_string' | 'length';

export interface GenerationResult {
  /** Generated ids (a final stop id included). */
  tokens: number[];
  /**
   * log p(token) of each generated token under the model's own distribution (log-softmax of the raw
   * logits, before repetition penalty, temperature and filtering): the behaviour policy's log-probs.
   */
  logprobs: number[];
  /** Decoded text, cut before a stop string and without a stop id (only with a tokenizer). */
  text?: string;
  finishReason: FinishReason;
}

export interface TokenEvent {
  row: number;
  /** 0-based index of this token within its row's generation. */
  step: number;
  token: number;
  /** New text since the previous event of this row ('' without a tokenizer or mid-character). */
  text: string;
  /** Set on the row's last event. */
  finishReason?: FinishReason;
}

/** What generation needs from a tokenizer (the lm `Tokenizer` fits). */
export interface TextDecoderLike {
  decode(ids: readonly number[]): string;
}

export interface GenerateExtras {
  tokenizer?: TextDecoderLike;
  /** Called for every new token, in step order and row order within a step. */
  onToken?: (event: TokenEvent) => void;
}

interface Row {
  prompt: readonly number[];
  tokens: number[];
  logprobs: number[];
  seen: number[];
  text: string;
  emitted: string;
  done: FinishReason | null;
  rng: Rng;
}

export async function generate(
  model: LlamaModel,
  prompts: readonly (readonly number[])[],
  options: GenerateOptionsInput = {},
  extras: GenerateExtras = {},
): Promise<GenerationResult[]> {
  const o = GenerateOptionsSchema.parse(options);
  const b = prompts.length;
  if (b === 0) return [];
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new UsageError(`prompt ${i} is empty`);
    for (const id of p)
      if (!Number.isInteger(id) || id < 0 || id >= model.config.vocab_size)
        throw new UsageError(
          `prompt ${i}: token id ${id} is outside the vocabulary (0..${model.config.vocab_size - 1})`,
        );
  });
  if (o.stopStrings.length > 0 && !extras.tokenizer) throw new UsageError('stopStrings need a tokenizer');
  const stopIds = new Set(o.stopTokenIds ?? eosIds(model.config));
  const pad = o.padId ?? model.config.pad_token_id ?? 0;
  const p = roundUp(Math.max(...prompts.map((q) => q.length)), o.lengthBucket);
  const cap = roundUp(p + o.maxNewTokens, o.lengthBucket);
  const longest = Math.max(...prompts.map((q) => q.length)) + o.maxNewTokens;
  if (longest > model.config.max_position_embeddings)
    throw new UsageError(
      `prompt + maxNewTokens reaches position ${longest}, beyond max_position_embeddings ${model.config.max_position_embeddings}`,
    );
  if (o.rowSeeds && o.rowSeeds.length !== prompts.length)
    throw new UsageError(`rowSeeds has ${o.rowSeeds.length} seeds for ${prompts.length} prompts`);
  const root = Rng.fromSeed(o.seed, 'generate');
  const rows: Row[] = prompts.map((q, i) => ({
    prompt: q,
    tokens: [],
    logprobs: [],
    seen: [...q],
    text: '',
    emitted: '',
    done: null,
    rng: o.rowSeeds ? Rng.fromSeed(o.rowSeeds[i]!, 'generate') : root.derive(`row ${i}`),
  }));

  const v = model.config.vocab_size;
  const choose = (logits: Float32Array) => {
    const next: number[] = [];
    rows.forEach((r, i) => {
      if (r.done) {
        next.push(pad);
        return;
      }
      const raw = logits.subarray(i * v, (i + 1) * v);
      const token = sampleNext(raw.slice(), r.seen, o, r.rng);
      r.logprobs.push((raw[token] as number) - logSumExp(raw));
      next.push(token);
    });
    return next;
  };
  const accept = (next: number[], step: number) => {
    rows.forEach((r, i) => {
      if (r.done) return;
      const token = next[i] as number;
      r.tokens.push(token);
      r.seen.push(token);
      let finish: FinishReason | null = null;
      if (stopIds.has(token)) finish = 'eos';
      let text = r.text;
      if (extras.tokenizer) {
        const body = finish === 'eos' ? r.tokens.slice(0, -1) : r.tokens;
        text = extras.tokenizer.decode(body);
        if (!finish) {
          for (const s of o.stopStrings) {
            const at = text.indexOf(s);
            if (at >= 0) {
              text = text.slice(0, at);
              finish = 'stop_string';
              break;
            }
          }
        }
      }
      if (!finish && r.tokens.length >= o.maxNewTokens) finish = 'length';
      r.text = text;
      r.done = finish;
      const stable = finish ? text : streamableText(text, o.stopStrings);
      let delta = '';
      if (stable.startsWith(r.emitted)) {
        delta = stable.slice(r.emitted.length);
        r.emitted = stable;
      }
      extras.onToken?.({ row: i, step, token, text: delta, ...(finish ? { finishReason: finish } : {}) });
    });
  };

  // Left-padded prompt block: slots p - len .. p-1 hold row i's prompt.
  const ids = new Array<number>(b * p).fill(pad);
  const mask = new Array<number>(b * p).fill(0);
  const lengths = prompts.map((q) => q.length);
  prompts.forEach((q, i) => {
    for (let j = 0; j < q.length; j++) {
      ids[i * p + p - q.length + j] = q[j] as number;
      mask[i * p + p - q.length + j] = 1;
    }
  });

  if (o.useCache) {
    const d = model.dims;
    const cacheDims = [b, d.kvHeads, cap, d.headDim];
    const size = b * d.kvHeads * cap * d.headDim;
    const alloc = () => {
      const set: Record<string, HostTensor> = {};
      for (let l = 0; l < d.layers; l++)
        for (const kind of ['key', 'value'] as const)
          set[pastName(l, kind)] = { dtype: 'float32', dims: cacheDims, data: new Float32Array(size) };
      return set;
    };
    let cur = alloc();
    let spare = alloc();
    const asPresent = (set: Record<string, HostTensor>) => {
      const out: Record<string, HostTensor> = {};
      for (let l = 0; l < d.layers; l++)
        for (const kind of ['key', 'value'] as const)
          out[presentName(l, kind)] = set[pastName(l, kind)] as HostTensor;
      return out;
    };
    const positions = mask.map((_, k) => {
      const i = Math.floor(k / p);
      const j = k % p;
      return Math.max(j - (p - (lengths[i] as number)), 0);
    });
    const prefill = await model.prefillGraph(b, p, cap);
    const first = await model.run(
      prefill,
      {
        input_ids: int64(ids, [b, p]),
        attention_mask: int64(mask, [b, p]),
        position_ids: int64(positions, [b, p]),
      },
      asPresent(cur),
    );
    accept(choose(first.logits?.data as Float32Array), 0);
    // The cache is a window: the prompt block sits in its last p slots, each step shifts it left by one.
    const cacheMask = new Array<number>(b * cap).fill(0);
    for (let i = 0; i < b; i++)
      for (let j = 0; j < p; j++) cacheMask[i * cap + cap - p + j] = mask[i * p + j] as number;
    const inGraph = o.temperature === 0 && o.repetitionPenalty === 1 && o.tokensPerRun > 1;
    if (inGraph && o.maxNewTokens > 1 && rows.some((r) => !r.done)) {
      // Greedy: up to tokensPerRun tokens per run, argmax in the graph (decode-loop.ts).
      const loop = await model.decodeLoopGraph(b, cap);
      const stops = [...stopIds];
      const fixed = {
        stop_ids: int64(stops.length > 0 ? stops : [-1], [Math.max(stops.length, 1)]),
        pad_id: int64([pad], []),
      };
      let maskState = int64(cacheMask, [b, cap]);
      // A Loop iteration decodes STEPS_PER_ITERATION tokens: runs cover a multiple of it (the
      // steps past maxNewTokens in the last run are discarded).
      const perRun = roundUp(o.tokensPerRun, STEPS_PER_ITERATION);
      for (let s = 1; s < o.maxNewTokens && rows.some((r) => !r.done); ) {
        const n = Math.min(perRun, o.maxNewTokens - s);
        const out = await model.run(
          loop,
          {
            ...fixed,
            max_steps: int64([Math.ceil(n / STEPS_PER_ITERATION)], []),
            input_ids: int64(
              rows.map((r) => (r.done ? pad : (r.tokens[r.tokens.length - 1] as number))),
              [b, 1],
            ),
            position_ids: int64(
              lengths.map((len) => len + s - 1),
              [b, 1],
            ),
            cache_mask: maskState,
            done: { dtype: 'bool', dims: [b], data: Uint8Array.from(rows, (r) => (r.done ? 1 : 0)) },
            ...cur,
          },
          asPresent(spare),
        );
        [cur, spare] = [spare, cur];
        maskState = out['out.cache_mask'] as HostTensor;
        const tokens = out.tokens as HostTensor;
        const picked = out.token_logits?.data as Float32Array;
        const lse = out.logsumexp?.data as Float64Array;
        const ran = (tokens.dims[0] as number) * STEPS_PER_ITERATION;
        const ids = tokens.data as BigInt64Array;
        for (let j = 0; j < ran && rows.some((r) => !r.done); j++, s++) {
          const next = rows.map((r, i) => {
            if (r.done) return pad;
            r.logprobs.push((picked[j * b + i] as number) - (lse[j * b + i] as number));
            return Number(ids[j * b + i]);
          });
          accept(next, s);
        }
      }
    }
    const step = inGraph ? null : await model.stepGraph(b, 1, cap);
    for (let s = 1; step && s < o.maxNewTokens && rows.some((r) => !r.done); s++) {
      for (let i = 0; i < b; i++) {
        cacheMask.copyWithin(i * cap, i * cap + 1, (i + 1) * cap);
        cacheMask[(i + 1) * cap - 1] = 1;
      }
      const last = rows.map((r) => (r.done ? pad : (r.tokens[r.tokens.length - 1] as number)));
      const out = await model.run(
        step,
        {
          input_ids: int64(last, [b, 1]),
          position_ids: int64(
            lengths.map((n) => n + s - 1),
            [b, 1],
          ),
          attention_mask: int64(cacheMask, [b, cap]),
          ...cur,
        },
        asPresent(spare),
      );
      [cur, spare] = [spare, cur];
      accept(choose(out.logits?.data as Float32Array), s);
    }
  } else {
    // Each row: its left-padded prompt then its generated tokens, right-aligned in a bucket.
    for (let s = 0; s < o.maxNewTokens && rows.some((r) => !r.done); s++) {
      const len = p + s;
      const lb = roundUp(len, o.lengthBucket);
      const shift = lb - len;
      const fullIds = new Array<number>(b * lb).fill(pad);
      const fullMask = new Array<number>(b * lb).fill(0);
      rows.forEach((r, i) => {
        for (let j = 0; j < p; j++) {
          fullIds[i * lb + shift + j] = ids[i * p + j] as number;
          fullMask[i * lb + shift + j] = mask[i * p + j] as number;
        }
        for (let j = 0; j < s; j++) {
          fullIds[i * lb + shift + p + j] = r.done && j >= r.tokens.length ? pad : (r.tokens[j] as number);
          fullMask[i * lb + shift + p + j] = 1;
        }
      });
      const graph = await model.lastLogitsGraph(b, lb);
      const out = await model.run(graph, {
        input_ids: int64(fullIds, [b, lb]),
        attention_mask: int64(fullMask, [b, lb]),
      });
      accept(choose(out.logits?.data as Float32Array), s);
    }
  }
  return rows.map((r) => ({
    tokens: r.tokens,
    logprobs: r.logprobs,
    ...(extras.tokenizer ? { text: r.text } : {}),
    finishReason: r.done ?? 'length',
  }));
}

/**
 * The part of a running row's text that is safe to stream: a trailing U+FFFD may be a character cut
 * mid-bytes, and a suffix that starts a stop string may be cut away by the next token.
 */
export function streamableText(text: string, stopStrings: readonly string[]): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === '\uFFFD') end--;
  let hold = 0;
  for (const s of stopStrings) {
    for (let k = Math.min(s.length - 1, end); k > hold; k--) {
      if (text.slice(end - k, end) === s.slice(0, k)) {
        hold = k;
        break;
      }
    }
  }
  return text.slice(0, end - hold);
}

function logSumExp(xs: Float32Array): number {
  let max = -Infinity;
  for (const x of xs) if (x > max) max = x;
  let sum = 0;
  for (const x of xs) sum += Math.exp(x - max);
  return max + Math.log(sum);
}
