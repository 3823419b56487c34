import {
  DEFAULT_MILESTONES,
  GOAL_TYPES,
  type GoalType,
  type Milestone,
  MilestoneSchema,
} from '@gopo/dialogue';
import { z } from 'zod';

export type { Milestone };
/** One TSE milestone: the event that marks it and its weight (dialogue's schema, re-exported). */
export { MilestoneSchema };

const milestoneList = (goal: GoalType) =>
  z
    .array(MilestoneSchema)
    .default(DEFAULT_MILESTONES[goal].map((m) => ({ ...m })))
    .describe(`ordered milestones of a ${goal} session; an empty list leaves TSE undefined for it`)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((m, i) => {
        if (seen.has(m.event))
          ctx.addIssue({ code: 'custom', path: [i, 'event'], message: `duplicate milestone "${m.event}"` });
        seen.add(m.event);
      });
    });

/** Milestones per goal type; the defaults are @gopo/dialogue's DEFAULT_MILESTONES (DESIGN.md 4.3). */
export const TseConfigSchema = z
  .strictObject({
    milestones: z
      .strictObject({
        purchase: milestoneList('purchase'),
        order_status: milestoneList('order_status'),
        return_refund: milestoneList('return_refund'),
        product_question: milestoneList('product_question'),
        complaint: milestoneList('complaint'),
      })
      .prefault({})
      .describe('milestones and weights per goal type'),
  })
  .prefault({})
  .describe('TSE, Task-focused Sequential Engagement (DESIGN.md 4.3)');
export type TseConfig = z.infer<typeof TseConfigSchema>;

export const EsndcgConfigSchema = z
  .strictObject({
    pRef: z
      .number()
      .min(0)
      .max(1)
      .default(0.8)
      .describe('continuation probability p_ref across reference turns'),
    pDown: z.number().min(0).max(1).default(0.7).describe('continuation probability p_down down a ranking'),
    k: z.number().int().min(1).default(5).describe('rank cut-off k'),
  })
  .prefault({})
  .describe('ESNDCG, expected session nDCG of strategy rankings (DESIGN.md 4.4)');
export type EsndcgConfig = z.infer<typeof EsndcgConfigSchema>;

export const GreConfigSchema = z
  .strictObject({
    expression: z
      .string()
      .min(1)
      .default('success - 0.02 * user_turns - 0.5 * sop_violations - 0.3 * escalated')
      .describe(
        'business reward R_goal: a mathjs expression over the outcome variables listed in the README',
      ),
    clip: z
      .tuple([z.number(), z.number()])
      .nullable()
      .default([-1, 1])
      .describe('[low, high] the reward is clipped to; null for no clipping'),
  })
  .prefault({})
  .superRefine((g, ctx) => {
    if (g.clip && !(g.clip[0] < g.clip[1]))
      ctx.addIssue({ code: 'custom', path: ['clip'], message: 'clip needs low < high' });
  })
  .describe('GRE, goal reward expectation: mean of the business reward (DESIGN.md 4.5)');
export type GreConfig = z.infer<typeof GreConfigSchema>;

export const StepRewardConfigSchema = z
  .strictObject({
    alpha: z
      .number()
      .min(0)
      .default(1)
      .describe('penalty rate alpha of the understanding reward Ru (Du et al. 2024)'),
    beta: z
      .number()
      .min(0)
      .default(1)
      .describe('penalty rate beta of the generation reward Rg (Du et al. 2024)'),
  })
  .prefault({})
  .describe('token-level step rewards of Du et al. 2024');
export type StepRewardConfig = z.infer<typeof StepRewardConfigSchema>;

export const KlControllerConfigSchema = z
  .strictObject({
    kind: z
      .enum(['fixed', 'adaptive'])
      .default('adaptive')
      .describe('fixed beta, or the adaptive controller'),
    beta0: z.number().min(0).default(0.01).describe('initial KL coefficient beta_0'),
    kBeta: z.number().min(0).default(0.2).describe('adaptive gain K_beta'),
    target: z
      .number()
      .positive()
      .default(6)
      .describe('target KL (nats per sequence) of the adaptive controller'),
    errorClip: z
      .number()
      .positive()
      .default(0.2)
      .describe('the proportional error e is clipped to [-errorClip, errorClip]'),
  })
  .prefault({})
  .describe('KL penalty controller (DESIGN.md 4.5)');
export type KlControllerConfig = z.infer<typeof KlControllerConfigSchema>;

/**
 * Most bootstrap resamples: the resample tables hold resamples x metrics x goal groups doubles, about
 * 80 MB at this bound with every metric.
 */
export const MAX_RESAMPLES = 100_000;

export const BootstrapConfigSchema = z
  .strictObject({
    resamples: z
      .number()
      .int()
      .min(10)
      .max(MAX_RESAMPLES)
      .default(1000)
      .describe(`bootstrap resamples for confidence intervals and tests (10 to ${MAX_RESAMPLES})`),
    confidence: z.number().gt(0).lt(1).default(0.95).describe('confidence level of the percentile intervals'),
    test: z
      .enum(['paired-bootstrap', 'permutation'])
      .default('paired-bootstrap')
      .describe('significance test between two systems evaluated on the same sessions'),
  })
  .prefault({})
  .describe('bootstrap statistics');
export type BootstrapConfig = z.infer<typeof BootstrapConfigSchema>;

export const ObjectiveConfigSchema = z
  .strictObject({
    tse: z.number().default(1).describe('lambda_tse: weight of TSE in the Expert Agent sequence reward'),
    gre: z.number().default(1).describe('lambda_gre: weight of the business reward R_goal'),
    esndcg: z.number().default(1).describe('lambda_es: weight of ESNDCG (only where a reference exists)'),
    adherence: z
      .number()
      .default(1)
      .describe('lambda_adh: weight of strategy adherence in the CS Agent turn reward'),
    compliance: z
      .number()
      .default(1)
      .describe('lambda_sop: weight of SOP compliance in the CS Agent turn reward'),
    step: z
      .number()
      .default(1)
      .describe('lambda_step: weight of the step reward in the CS Agent turn reward'),
  })
  .prefault({})
  .describe('weights of the GOPO rewards (DESIGN.md 4.6)');
export type ObjectiveConfig = z.infer<typeof ObjectiveConfigSchema>;

/** Every metric constant of the package; `gopo eval --config metrics.yaml` reads this. */
export const MetricsConfigSchema = z
  .strictObject({
    metrics: z
      .array(z.string().describe('a session metric name (see metricRegistry)'))
      .optional()
      .describe('session metrics to report, by registry name; all of them when absent'),
    tse: TseConfigSchema,
    esndcg: EsndcgConfigSchema,
    gre: GreConfigSchema,
    stepReward: StepRewardConfigSchema,
    kl: KlControllerConfigSchema,
    bootstrap: BootstrapConfigSchema,
    objective: ObjectiveConfigSchema,
  })
  .describe('configuration of @gopo/rewards');
export type MetricsConfig = z.infer<typeof MetricsConfigSchema>;
export type MetricsConfigInput = z.input<typeof MetricsConfigSchema>;

export function defaultMetricsConfig(): MetricsConfig {
  return MetricsConfigSchema.parse({});
}

export function milestonesFor(config: TseConfig, goal: GoalType): readonly Milestone[] {
  return config.milestones[goal];
}

export { GOAL_TYPES };
