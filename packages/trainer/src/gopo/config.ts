/**
 * `gopo train`'s configuration: every knob a documented field with its default here and nowhere else,
 * cross-field rules in superRefine. A run writes the resolved config into its folder; a resumed run
 * must resolve to the same training-relevant settings (see resumeKey in loop.ts).
 */

import { KtoConfigSchema, PpoConfigSchema, ReplyRlConfigSchema } from '@gopo/cs-agent';
import { ShopEnvConfigSchema } from '@gopo/envs';
import { ExpertModelConfigSchema, GopoLossConfigSchema } from '@gopo/expert-agent';
import { MetricsConfigSchema } from '@gopo/rewards';
import { z } from 'zod';

/** The CS phases of the hierarchical loop (DESIGN.md 4.6): the reply model's updates, Expert frozen. */
export const CsPhaseConfigSchema = z
  .object({
    mode: z
      .enum(['rl', 'kto', 'ppo'])
      .default('rl')
      .describe(
        'per-turn RL (clipped surrogate, group baseline), KTO, or step-reward PPO (token rewards, value head, GAE)',
      ),
    scenarios: z.number().int().min(1).default(16).describe('episodes played per CS phase'),
    rl: ReplyRlConfigSchema.prefault({}),
    kto: KtoConfigSchema.prefault({}),
    ppo: PpoConfigSchema.prefault({}).describe(
      'step-reward PPO (mode ppo); its replies are sampled at rl.temperature',
    ),
    rows: z.number().int().min(1).default(16).describe('replies per optimizer step'),
    epochs: z.number().int().min(1).default(1).describe("passes over a phase's replies"),
    lr: z.number().positive().default(2e-5).describe('learning rate (constant)'),
  })
  .strict()
  .describe("the reply model's training in CS phases");

/** An OpenAI-compatible chat-completions server: the reply backend's and the JOSH agent's settings. */
export const OpenAiServerConfigSchema = z
  .object({
    baseUrl: z.string().url().describe('server base URL, e.g. http://localhost:8000/v1'),
    model: z.string().min(1).describe('model name sent in each request'),
    apiKeyEnv: z
      .string()
      .default('OPENAI_API_KEY')
      .describe('environment variable holding the API key (may be unset for local servers)'),
    timeoutMs: z.number().int().min(100).default(30_000).describe('per-request timeout'),
    retries: z.number().int().min(0).max(10).default(2).describe('retries after a timeout or a 5xx'),
    maxConcurrency: z.number().int().min(1).default(8).describe('requests in flight at once'),
    temperature: z.number().min(0).max(2).default(0).describe('sampling temperature'),
    maxTokens: z.number().int().min(1).default(128).describe('reply length cap in tokens'),
  })
  .strict();
export type OpenAiServerConfig = z.infer<typeof OpenAiServerConfigSchema>;

export const ReplyBackendConfigSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('template').describe("the simulator's template CS agent (frozen)") }).strict(),
    z
      .object({
        kind: z.literal('lm').describe("a strategy-conditioned reply model: @gopo/cs-agent's CsAgent"),
        dir: z.string().min(1).describe('Hugging Face-layout model folder with tokenizer.json'),
        maxNewTokens: z.number().int().min(1).max(512).default(64).describe('reply length cap in tokens'),
        temperature: z
          .number()
          .min(0)
          .default(0)
          .describe('sampling temperature of the replies in rollouts (0: greedy)'),
        train: CsPhaseConfigSchema.optional().describe(
          'train the reply model in the CS phases of the loop (absent: frozen, CS phases are skipped)',
        ),
      })
      .strict(),
    z
      .object({
        kind: z.literal('openai').describe('an OpenAI-compatible chat-completions server (frozen)'),
        ...OpenAiServerConfigSchema.shape,
      })
      .strict(),
  ])
  .describe('the CS Agent that writes replies for the chosen strategies');
export type ReplyBackendConfig = z.infer<typeof ReplyBackendConfigSchema>;

export const WarmStartConfigSchema = z
  .object({
    logs: z
      .string()
      .optional()
      .describe('Mgshop-style logs to learn from; absent: the simulator plays `episodes` history sessions'),
    episodes: z
      .number()
      .int()
      .min(1)
      .default(800)
      .describe('history sessions to simulate when no logs are given (imperfect agents, not the oracle)'),
    policy: z
      .string()
      .default('history')
      .describe('scripted shop policy that plays those sessions (see shopStrategyPolicies)'),
    steps: z.number().int().min(0).default(300).describe('SFT steps'),
    rows: z.number().int().min(1).default(16).describe('trajectories per SFT step'),
    lr: z.number().positive().default(3e-3).describe('SFT learning rate (constant)'),
  })
  .strict()
  .describe('SFT warm start on logged strategy decisions (used when agent.init is "sft")');

export const AgentInitSchema = z
  .discriminatedUnion('from', [
    z
      .object({
        from: z.literal('dir').describe('load an Expert Agent folder'),
        dir: z
          .string()
          .optional()
          .describe('the folder; absent: the warm start shipped with @gopo/trainer (assets/warm-start)'),
      })
      .strict(),
    z
      .object({
        from: z.literal('sft').describe('a fresh decoder trained with SFT on logs first'),
        model: ExpertModelConfigSchema.prefault({}),
        warmStart: WarmStartConfigSchema.prefault({}),
      })
      .strict(),
  ])
  .describe('where the Expert Agent starts');

/**
 * How the Expert Agent acts, whatever it starts from. A section of its own rather than a field of
 * `agent` (a union over where the agent starts, so `--set agent.x=...` alone would name no variant) or
 * of `loss` (masking also shapes rollouts, pi_ref and evaluation, not only the objective).
 */
export const PolicyConfigSchema = z
  .object({
    sopMasking: z
      .boolean()
      .default(true)
      .describe(
        'mask the Expert Agent to the SOP-admissible strategies (DESIGN.md 4.1); false: the "without SOP masking" ablation: decisions, rankings, log pi and log pi_ref in the loss, and evaluation range over every strategy, and inadmissible choices are played (env.sopEnforcement decides their cost, violations are logged and scored)',
      ),
  })
  .strict()
  .describe('how the Expert Agent acts');

export const GopoTrainConfigSchema = z
  .object({
    seed: z.number().int().min(0).default(1).describe('seed of scenarios, sampling and initialisation'),
    env: ShopEnvConfigSchema.prefault({}).describe('the shop simulator'),
    agent: AgentInitSchema.prefault({ from: 'dir' }),
    policy: PolicyConfigSchema.prefault({}),
    reply: ReplyBackendConfigSchema.prefault({ kind: 'template' }),
    loss: GopoLossConfigSchema.prefault({}),
    rollout: z
      .object({
        scenarios: z.number().int().min(1).default(16).describe('training scenarios per Expert phase'),
        groupSize: z
          .number()
          .int()
          .min(2)
          .default(4)
          .describe('G: rollouts per scenario (preference pairs are formed within a group)'),
        maxLive: z.number().int().min(1).default(64).describe('dialogues stepped at once per worker'),
        workers: z
          .number()
          .int()
          .min(1)
          .default(1)
          .describe('rollout workers (threads); results are the same for any count'),
      })
      .strict()
      .prefault({}),
    update: z
      .object({
        groupsPerStep: z.number().int().min(1).default(2).describe('groups per optimizer step'),
        epochs: z.number().int().min(1).default(1).describe('passes over each rollout batch'),
        lr: z.number().positive().default(5e-4).describe('learning rate (constant)'),
        weightDecay: z.number().min(0).default(0).describe('AdamW weight decay'),
        clipNorm: z.number().positive().default(1).describe('global gradient-norm clip'),
      })
      .strict()
      .prefault({}),
    loop: z
      .object({
        iterations: z
          .number()
          .int()
          .min(1)
          .default(8)
          .describe('hierarchical iterations, each K_E Expert phases then K_C CS phases'),
        expertPhases: z
          .number()
          .int()
          .min(0)
          .default(1)
          .describe('K_E: Expert phases per iteration (CS frozen)'),
        csPhases: z
          .number()
          .int()
          .min(0)
          .default(1)
          .describe('K_C: CS phases per iteration (Expert frozen); empty for a frozen reply backend'),
      })
      .strict()
      .prefault({}),
    eval: z
      .object({
        scenarios: z.number().int().min(1).default(200).describe('held-out scenarios per evaluation'),
        every: z
          .number()
          .int()
          .min(1)
          .default(4)
          .describe('evaluate after every this many Expert phases (and after the last)'),
        resamples: z.number().int().min(100).max(100_000).default(1000).describe('bootstrap resamples'),
      })
      .strict()
      .prefault({}),
    guards: z
      .object({
        klAlarm: z
          .number()
          .positive()
          .default(2)
          .describe('warn when KL(pi || pi_ref) per decision exceeds this (nats)'),
        entropyAlarm: z
          .number()
          .min(0)
          .default(0.02)
          .describe('warn when the mean policy entropy per decision falls below this (nats)'),
        maxRollbacks: z
          .number()
          .int()
          .min(0)
          .default(3)
          .describe('non-finite steps in a row rolled back before the run stops'),
      })
      .strict()
      .prefault({}),
    metrics: MetricsConfigSchema.prefault({}).describe('TSE, GRE, ESNDCG settings and the reward weights'),
    threads: z.number().int().min(0).default(0).describe('ORT intra-op threads (0: ORT default)'),
    keepCheckpoints: z.number().int().min(1).default(2).describe('phase checkpoints kept'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.update.groupsPerStep > c.rollout.scenarios)
      ctx.addIssue({
        code: 'custom',
        path: ['update', 'groupsPerStep'],
        message: `groupsPerStep (${c.update.groupsPerStep}) exceeds rollout.scenarios (${c.rollout.scenarios})`,
      });
    if (c.loop.expertPhases === 0 && c.loop.csPhases === 0)
      ctx.addIssue({ code: 'custom', path: ['loop'], message: 'an iteration needs at least one phase' });
    // Worker threads load the reply model from its folder once; CS phases would train a copy they never see.
    if (c.rollout.workers > 1 && c.reply.kind === 'lm' && c.reply.train !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['rollout', 'workers'],
        message: 'training the reply model (reply.train) needs rollout.workers 1',
      });
    if (c.loss.mode === 'group_relative' && c.loss.klCoef === 0 && c.guards.klAlarm <= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['guards', 'klAlarm'],
        message: 'set a KL alarm without a KL penalty',
      });
  })
  .describe('gopo train');
export type GopoTrainConfig = z.infer<typeof GopoTrainConfigSchema>;
export type GopoTrainConfigInput = z.input<typeof GopoTrainConfigSchema>;
