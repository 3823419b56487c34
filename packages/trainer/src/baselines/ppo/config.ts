/**
 * The flat PPO baseline's configuration (DESIGN.md 4.6, baselines): every knob a documented field with
 * its default here and nowhere else. A run writes the resolved config into its folder and refuses to
 * resume with other settings.
 */
import { PpoConfigSchema } from '@gopo/cs-agent';
import { SHOP_STRATEGIES } from '@gopo/dialogue';
import { ShopEnvConfigSchema } from '@gopo/envs';
import { MetricsConfigSchema } from '@gopo/rewards';
import { z } from 'zod';

export const FlatPpoConfigSchema = z
  .object({
    model: z
      .string()
      .min(1)
      .describe(
        'the flat SFT model folder (`gopo cs sft --config examples/compare-baselines/flat-sft.yaml` writes <run>/model); a value-head.safetensors there is the starting value head',
      ),
    seed: z.number().int().min(0).default(1).describe('seed of scenarios, sampling and minibatch order'),
    env: ShopEnvConfigSchema.prefault({}).describe('the shop simulator'),
    phases: z.number().int().min(1).default(8).describe('PPO phases (rollout, then update)'),
    episodesPerPhase: z
      .number()
      .int()
      .min(1)
      .default(16)
      .describe('training dialogues played per phase (one per scenario)'),
    epochs: z.number().int().min(1).default(2).describe("PPO epochs: passes over each phase's replies"),
    minibatch: z.number().int().min(1).default(16).describe('replies per optimizer step'),
    lr: z.number().positive().default(1e-5).describe('learning rate (constant, AdamW without decay)'),
    clipNorm: z.number().positive().default(1).describe('global gradient-norm clip'),
    ppo: PpoConfigSchema.prefault({}).describe(
      'clip eps, value clip, value coefficient, gamma and lambda of GAE, advantage whitening',
    ),
    temperature: z.number().positive().default(1).describe('sampling temperature of the training replies'),
    maxNewTokens: z.number().int().min(1).max(512).default(64).describe('reply length cap in tokens'),
    fallbackStrategy: z
      .enum(SHOP_STRATEGIES)
      .default('clarify')
      .describe(
        'strategy a reply is logged with when the shop NLU reads no move in it (if the SOP admits it there, else the first admissible one)',
      ),
    metrics: MetricsConfigSchema.prefault({}).describe(
      'the sequence reward at the last token (objective.tse/gre/esndcg weights, TSE/GRE/ESNDCG settings) and the adaptive KL controller (kl.beta0, kl.kBeta, kl.target in nats per dialogue)',
    ),
    eval: z
      .object({
        scenarios: z
          .number()
          .int()
          .min(1)
          .default(100)
          .describe('held-out scenarios per evaluation (greedy)'),
        every: z
          .number()
          .int()
          .min(1)
          .default(2)
          .describe('evaluate after every this many phases (and after the last; before the first too)'),
      })
      .strict()
      .prefault({}),
    maxLive: z.number().int().min(1).default(64).describe('dialogues stepped at once'),
    threads: z.number().int().min(0).default(0).describe('ORT intra-op threads (0: ORT default)'),
    keepCheckpoints: z.number().int().min(1).default(2).describe('phase checkpoints kept'),
  })
  .strict()
  .describe('gopo ppo: the flat PPO baseline');
export type FlatPpoConfig = z.infer<typeof FlatPpoConfigSchema>;
export type FlatPpoConfigInput = z.input<typeof FlatPpoConfigSchema>;
