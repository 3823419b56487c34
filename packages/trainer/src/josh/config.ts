/**
 * `gopo josh` configuration: JOSH self-play on a tool environment with a given agent, the SFT and
 * KTO datasets it leaves, the LM tool agent trained on them (SFT, then KTO from the SFT model), and
 * the evaluation of base / JOSH-SFT / JOSH-KTO on held-out goals over seeds.
 */
import { KtoConfigSchema, LmToolAgentConfigSchema } from '@gopo/cs-agent';
import { z } from 'zod';
import { CsModelConfigSchema } from '../cs/sft.js';
import { JoshSearchConfigSchema } from './search.js';

export const JoshAgentConfigSchema = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z
          .literal('scripted')
          .describe('a scripted policy of the environment, its tool calls made noisy'),
        policy: z
          .string()
          .default('oracle')
          .describe(
            'the scripted policy (toolwoz: oracle, rule, greedy; taubench-retail: oracle, rule, hasty)',
          ),
        noise: z
          .number()
          .min(0)
          .max(1)
          .default(0.3)
          .describe('probability that a tool call loses one argument (a branch that fails for good)'),
      })
      .strict(),
    z
      .object({
        kind: z.literal('lm').describe('an LM tool agent (a model folder with tokenizer.json)'),
        model: z.string().min(1).describe('the model folder; also where SFT starts from'),
        temperature: z.number().positive().default(1).describe('sampling temperature of the branches'),
        topK: z.number().int().min(0).default(0).describe('keep the k most likely tokens (0: all)'),
      })
      .strict(),
  ])
  .describe('the agent whose sampled turns JOSH branches on (also the "base" of the evaluation)');
export type JoshAgentConfig = z.infer<typeof JoshAgentConfigSchema>;

export const JoshConfigSchema = z
  .object({
    agent: JoshAgentConfigSchema.prefault({ kind: 'scripted' }),
    goals: z
      .object({
        source: z
          .enum(['multiwoz', 'sampled'])
          .default('sampled')
          .describe('ToolWOZ goals: from the MultiWOZ val.json dialogues, or sampled from the databases'),
        train: z.number().int().min(1).default(200).describe('goals (tasks) JOSH self-plays on'),
        eval: z
          .number()
          .int()
          .min(1)
          .default(100)
          .describe('held-out goals (tau-bench: tasks of the dev split), disjoint from the training ones'),
      })
      .strict()
      .prefault({}),
    maxSteps: z
      .number()
      .int()
      .min(1)
      .default(30)
      .describe('agent steps before an episode is cut off (self-play and evaluation)'),
    search: JoshSearchConfigSchema.prefault({}),
    model: z
      .object({
        dir: z
          .string()
          .optional()
          .describe(
            "model folder SFT starts from (default: the lm agent's model; scripted agent: a new model)",
          ),
        init: CsModelConfigSchema.prefault({}).describe(
          'the decoder trained from scratch when there is no model folder',
        ),
      })
      .strict()
      .prefault({}),
    lmAgent: LmToolAgentConfigSchema.prefault({}).describe(
      'prompt rendering and generation of the trained agents (SFT prompts are fitted the same way)',
    ),
    sft: z
      .object({
        steps: z.number().int().min(1).default(400).describe('SFT optimizer steps'),
        lr: z.number().positive().default(1e-3).describe('peak learning rate (warmup + cosine)'),
        warmupSteps: z.number().int().min(0).default(20).describe('linear warmup steps'),
        microBatchSize: z.number().int().min(1).default(8).describe('rows per step'),
        seqLen: z.number().int().min(32).default(1024).describe('tokens per packed row'),
      })
      .strict()
      .prefault({}),
    kto: z
      .object({
        ...KtoConfigSchema.shape,
        epochs: z.number().int().min(1).default(2).describe('passes over the KTO records'),
        rows: z.number().int().min(1).default(8).describe('records per KTO step'),
        lr: z.number().positive().default(5e-5).describe('learning rate (AdamW, constant)'),
      })
      .strict()
      .prefault({}),
    eval: z
      .object({
        seeds: z
          .array(z.number().int())
          .min(1)
          .default([1, 2, 3])
          .describe('evaluation seeds (user wording, sampling); mean and 95% t-interval over them'),
        temperature: z
          .number()
          .min(0)
          .default(0)
          .describe('sampling temperature of the LM agents (0: greedy)'),
      })
      .strict()
      .prefault({}),
    threads: z.number().int().min(0).default(0).describe('ORT intra-op threads (0: ORT default)'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.sft.warmupSteps > c.sft.steps)
      ctx.addIssue({
        code: 'custom',
        path: ['sft', 'warmupSteps'],
        message: `exceeds sft.steps (${c.sft.steps})`,
      });
    if (c.model.dir !== undefined && c.agent.kind === 'lm' && c.model.dir !== c.agent.model)
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'dir'],
        message: "with an lm agent, SFT starts from the agent's model: leave model.dir out",
      });
  })
  .describe('gopo josh');
export type JoshConfig = z.infer<typeof JoshConfigSchema>;
export type JoshConfigInput = z.input<typeof JoshConfigSchema>;
