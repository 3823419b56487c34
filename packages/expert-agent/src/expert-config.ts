import { z } from 'zod';

/**
 * Size of the Expert Agent's decoder (a Llama from @gopo/lm; vocabulary and special ids come from
 * the tokenizer). Defaults are a model that trains on two CPU cores in minutes.
 */
export const ExpertModelConfigSchema = z
  .object({
    hiddenSize: z.number().int().min(8).default(96).describe('decoder width d_model'),
    layers: z.number().int().min(1).default(2).describe('decoder layers'),
    heads: z.number().int().min(1).default(4).describe('attention heads'),
    kvHeads: z.number().int().min(1).default(2).describe('key/value heads (grouped-query attention)'),
    intermediateSize: z.number().int().min(8).default(256).describe('SwiGLU hidden width'),
    maxSeqLen: z
      .number()
      .int()
      .min(64)
      .default(1024)
      .describe('longest dialogue (tokens) the agent reads; decisions past it carry no loss'),
    ropeTheta: z.number().positive().default(10000).describe('RoPE base'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.hiddenSize % c.heads !== 0)
      ctx.addIssue({ code: 'custom', path: ['heads'], message: 'hiddenSize must be divisible by heads' });
    if (c.heads % c.kvHeads !== 0)
      ctx.addIssue({ code: 'custom', path: ['kvHeads'], message: 'heads must be divisible by kvHeads' });
    if ((c.hiddenSize / c.heads) % 2 !== 0)
      ctx.addIssue({ code: 'custom', path: ['heads'], message: 'the head width must be even (RoPE)' });
  })
  .describe("the Expert Agent's decoder");
export type ExpertModelConfig = z.infer<typeof ExpertModelConfigSchema>;
export type ExpertModelConfigInput = z.input<typeof ExpertModelConfigSchema>;

/** expert.json beside config.json / model.safetensors / tokenizer.json in an Expert Agent folder. */
export const ExpertFileSchema = z
  .object({
    format: z.literal('gopo-expert-agent/1').describe('layout version of the folder'),
    strategies: z.array(z.string()).min(1).describe('the strategy set, in the order the head indexes it'),
    maxSeqLen: z.number().int().min(64).describe('longest dialogue (tokens) the agent reads'),
    version: z.number().int().min(0).default(0).describe('policy version: updates applied so far'),
    sopMasking: z
      .boolean()
      .default(true)
      .describe(
        'decisions are SOP-masked (false: an agent trained without SOP masking acts over every strategy)',
      ),
  })
  .strict();
export type ExpertFile = z.infer<typeof ExpertFileSchema>;
export const EXPERT_FILE = 'expert.json';
