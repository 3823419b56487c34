/**
 * `gopo josh` configuration: JOSH self-play on a tool environment with a given agent, the SFT and
 * KTO datasets it leaves, the LM tool agent trained on them (SFT, then KTO from the SFT model), and
 * the evaluation of base / JOSH-SFT / JOSH-KTO on held-out goals over seeds.
 */
import { KtoConfigSchema, LmToolAgentConfigSchema, PpoConfigSchema } from '@gopo/cs-agent';
import { KlControllerConfigSchema } from '@gopo/rewards';
import { z } from 'zod';
import { CsModelConfigSchema } from '../cs/sft.js';
import { OpenAiServerConfigSchema } from '../gopo/config.js';
import { JoshSearchConfigSchema } from './search.js';
import { ToolStepRewardSchema } from './tool-step-rewards.js';

/** The ppo stage: step-reward PPO of the LM tool agent in the environment (josh/ppo.ts). */
export const JoshPpoConfigSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe('run the ppo stage (after kto, before eval; its model joins the evaluation as josh-ppo)'),
    from: z
      .enum(['sft', 'kto'])
      .default('kto')
      .describe('the model PPO starts from, which also stays frozen as the KL reference'),
    phases: z
      .number()
      .int()
      .min(1)
      .default(10)
      .describe('PPO phases (rollouts, then epochs of updates); the run folder resumes per phase'),
    goalsPerPhase: z
      .number()
      .int()
      .min(1)
      .default(16)
      .describe('training goals played per phase (the training goals in turn, wrapping around)'),
    temperature: z.number().positive().default(1).describe('sampling temperature of the rollouts'),
    topK: z.number().int().min(0).default(0).describe('rollouts keep the k most likely tokens (0: all)'),
    reward: ToolStepRewardSchema.prefault({ kind: 'tod' }),
    stepWeight: z.number().min(0).default(1).describe('w_step: weight of the progressive step reward'),
    goalWeight: z
      .number()
      .min(0)
      .default(1)
      .describe("w_goal: weight of the env's goal reward, given on the episode's last token"),
    kl: KlControllerConfigSchema.describe(
      'KL penalty to the frozen start model (DESIGN.md 4.5: adaptive, beta_0 0.01, K_beta 0.2)',
    ),
    ppo: PpoConfigSchema.prefault({}).describe('clipped surrogate, value loss, GAE, whitening'),
    epochs: z.number().int().min(1).default(2).describe("passes over each phase's steps"),
    rows: z.number().int().min(1).default(8).describe('steps (prompt + completion) per optimizer step'),
    lr: z.number().positive().default(1e-5).describe('learning rate (AdamW, constant)'),
    keepCheckpoints: z.number().int().min(1).default(2).describe('phase checkpoints kept'),
  })
  .strict()
  .describe('step-reward PPO of the LM tool agent (ToolWOZ step rewards; other envs: reward.kind none)');
export type JoshPpoConfig = z.infer<typeof JoshPpoConfigSchema>;

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
    z
      .object({
        kind: z
          .literal('openai')
          .describe(
            "a model behind an OpenAI-compatible server, as JOSH's paper self-plays with a large model; SFT then starts from model.dir or a new model",
          ),
        ...OpenAiServerConfigSchema.shape,
        temperature: z
          .number()
          .min(0)
          .max(2)
          .default(1)
          .describe('sampling temperature of the branches (the evaluation uses eval.temperature)'),
        maxTokens: z.number().int().min(1).default(256).describe('answer length cap in tokens'),
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
    ppo: JoshPpoConfigSchema.prefault({}),
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
