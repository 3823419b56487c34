/**
 * The decoder's configuration, read from a Hugging Face `config.json` with its own field names, so a
 * Llama / Qwen2 / SmolLM checkpoint directory loads as it is. Unknown fields are kept (and written back
 * on save) so round trips do not lose what other tools put there.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, FileFormatError, MissingFileError } from '@gopo/core';
import { z } from 'zod';

const tokenIdOrList = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]);

/** Llama 3 style RoPE frequency scaling (rope_type "llama3"), or plain linear position scaling. */
export const RopeScalingSchema = z
  .object({
    rope_type: z
      .enum(['default', 'linear', 'llama3'])
      .optional()
      .describe('scaling rule: linear divides positions by factor; llama3 rescales low frequencies'),
    type: z.enum(['default', 'linear', 'llama3']).optional().describe('older spelling of rope_type'),
    factor: z.number().positive().default(1).describe('scaling factor'),
    low_freq_factor: z.number().positive().default(1).describe('llama3: low-frequency wavelength factor'),
    high_freq_factor: z.number().positive().default(4).describe('llama3: high-frequency wavelength factor'),
    original_max_position_embeddings: z
      .number()
      .int()
      .positive()
      .default(8192)
      .describe('llama3: context length the model was pre-trained with'),
  })
  .loose()
  .describe('RoPE scaling (null or absent: none)');
export type RopeScaling = z.infer<typeof RopeScalingSchema>;

export const LlamaConfigSchema = z
  .object({
    model_type: z
      .string()
      .default('llama')
      .describe('architecture family: llama, qwen2, mistral (qwen2 implies q/k/v biases)'),
    vocab_size: z.number().int().positive().describe('number of token ids'),
    hidden_size: z.number().int().positive().describe('model width d_model'),
    intermediate_size: z.number().int().positive().describe('SwiGLU hidden width'),
    num_hidden_layers: z.number().int().positive().describe('decoder layers'),
    num_attention_heads: z.number().int().positive().describe('query heads'),
    num_key_value_heads: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('key/value heads (grouped-query attention); default num_attention_heads'),
    head_dim: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('per-head width; default hidden_size / num_attention_heads'),
    hidden_act: z.literal('silu').default('silu').describe('MLP activation (SwiGLU gate); only silu'),
    rms_norm_eps: z.number().positive().default(1e-6).describe('RMSNorm epsilon'),
    rope_theta: z.number().positive().default(10000).describe('RoPE base'),
    rope_scaling: RopeScalingSchema.nullable().default(null),
    max_position_embeddings: z.number().int().positive().default(2048).describe('longest supported context'),
    tie_word_embeddings: z
      .boolean()
      .default(false)
      .describe('output head shares model.embed_tokens.weight (no lm_head.weight tensor)'),
    attention_bias: z
      .boolean()
      .optional()
      .describe('biases on q/k/v/o projections; default true on q/k/v for qwen2, else false'),
    mlp_bias: z.boolean().default(false).describe('biases on gate/up/down projections'),
    bos_token_id: tokenIdOrList.nullable().optional().describe('beginning-of-sequence id'),
    eos_token_id: tokenIdOrList
      .nullable()
      .optional()
      .describe('end-of-sequence id(s): generation stops there'),
    pad_token_id: z.number().int().nonnegative().nullable().optional().describe('padding id'),
    torch_dtype: z.string().optional().describe('dtype the weights were saved in (informational)'),
  })
  .loose()
  .superRefine((c, ctx) => {
    const kv = c.num_key_value_heads ?? c.num_attention_heads;
    if (c.num_attention_heads % kv !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['num_key_value_heads'],
        message: `num_attention_heads ${c.num_attention_heads} is not a multiple of num_key_value_heads ${kv}`,
      });
    }
    if (c.head_dim === undefined && c.hidden_size % c.num_attention_heads !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['hidden_size'],
        message: `hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${c.num_attention_heads}; set head_dim`,
      });
    }
    const hd = c.head_dim ?? c.hidden_size / c.num_attention_heads;
    if (hd % 2 !== 0)
      ctx.addIssue({ code: 'custom', path: ['head_dim'], message: `head_dim ${hd} must be even (RoPE)` });
    for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id'] as const) {
      const v = c[key];
      for (const id of v == null ? [] : Array.isArray(v) ? v : [v]) {
        if (id >= c.vocab_size)
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `${id} is not below vocab_size ${c.vocab_size}`,
          });
      }
    }
  })
  .describe('Hugging Face config.json of a Llama-family decoder');

export type LlamaConfig = z.infer<typeof LlamaConfigSchema>;
export type LlamaConfigInput = z.input<typeof LlamaConfigSchema>;

/** Derived sizes every graph builder needs. */
export interface LlamaDims {
  readonly vocab: number;
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly mlp: number;
  readonly qkvBias: boolean;
  readonly oBias: boolean;
}

export function llamaDims(c: LlamaConfig): LlamaDims {
  const qkvBias = c.attention_bias ?? c.model_type === 'qwen2';
  return {
    vocab: c.vocab_size,
    hidden: c.hidden_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    mlp: c.intermediate_size,
    qkvBias,
    oBias: c.attention_bias ?? false,
  };
}

/** Ids that end generation (config eos_token_id, one or many). */
export function eosIds(c: LlamaConfig): number[] {
  const v = c.eos_token_id;
  return v == null ? [] : Array.isArray(v) ? [...v] : [v];
}

/** Parses config JSON text; errors name the file and the field path. */
export function parseLlamaConfig(raw: unknown, source = 'config.json'): LlamaConfig {
  const r = LlamaConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
    throw new ConfigError({ file: source, path }, issue.message);
  }
  return r.data;
}

export async function readLlamaConfig(file: string): Promise<LlamaConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFileError(file, 'model config.json');
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError({ file }, `not valid JSON: ${(e as Error).message}`);
  }
  return parseLlamaConfig(raw, file);
}

/** Per-dimension RoPE inverse frequencies [headDim / 2], with rope_scaling applied. */
export function ropeInvFreq(c: LlamaConfig): Float64Array {
  const hd = llamaDims(c).headDim;
  const half = hd / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = c.rope_theta ** (-(2 * i) / hd);
  const s = c.rope_scaling;
  const kind = s?.rope_type ?? s?.type ?? 'default';
  if (!s || kind === 'default') return inv;
  if (kind === 'linear') return inv.map((f) => f / s.factor);
  // llama3: long wavelengths are slowed down by `factor`, short ones kept, a smooth blend between.
  const lowWave = s.original_max_position_embeddings / s.low_freq_factor;
  const highWave = s.original_max_position_embeddings / s.high_freq_factor;
  return inv.map((f) => {
    const wave = (2 * Math.PI) / f;
    if (wave < highWave) return f;
    if (wave > lowWave) return f / s.factor;
    const smooth =
      (s.original_max_position_embeddings / wave - s.low_freq_factor) /
      (s.high_freq_factor - s.low_freq_factor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** The size of a fresh decoder, in the project's config field names. */
export interface DecoderSize {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly maxPositions: number;
  readonly ropeTheta?: number;
}

/**
 * The Llama config of a fresh decoder of `size` over a tokenizer's ids, tied embeddings, ending
 * sequences at `eosId` (a reply model stops at the end of a turn, a tool agent at the end of text).
 */
export function freshLlamaConfig(
  size: DecoderSize,
  ids: { readonly vocabSize: number; readonly bosId: number; readonly padId: number },
  eosId: number,
): LlamaConfigInput {
  return {
    model_type: 'llama' as const,
    vocab_size: ids.vocabSize,
    hidden_size: size.hiddenSize,
    intermediate_size: size.intermediateSize,
    num_hidden_layers: size.layers,
    num_attention_heads: size.heads,
    num_key_value_heads: size.kvHeads,
    ...(size.ropeTheta !== undefined ? { rope_theta: size.ropeTheta } : {}),
    max_position_embeddings: size.maxPositions,
    tie_word_embeddings: true,
    bos_token_id: ids.bosId,
    eos_token_id: eosId,
    pad_token_id: ids.padId,
  };
}
