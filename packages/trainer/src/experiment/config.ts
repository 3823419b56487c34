/**
 * `gopo experiment`'s configuration (DESIGN.md 4.6, "Baselines on the same environments and
 * budgets"): the shared GOPO run config every strategy-level method starts from, the environment
 * episode budget every trained method gets, the seeds, the held-out evaluation, and the methods as a
 * discriminated union on `kind`. One file describes the whole comparison, and the report prints the
 * budget each method actually used.
 */
import { RunNameSchema } from '@gopo/core';
import { KlControllerConfigSchema } from '@gopo/rewards';
import { z } from 'zod';
import { MementoConfigSchema } from '../baselines/memento/memento-policy.js';
import { FlatPpoConfigSchema } from '../baselines/ppo/config.js';
import { GOPO_ABLATIONS, type GopoAblationName } from '../gopo/ablations.js';
import { GopoTrainConfigSchema } from '../gopo/config.js';

const MethodBase = {
  id: RunNameSchema.describe('method id: names its run folders and is what `compareAgainst` refers to'),
  label: z.string().min(1).optional().describe('name in the report (default: the id)'),
};

const SetSchema = z
  .array(z.string().min(1))
  .default([])
  .describe('overrides of the shared gopo config, in --set syntax (key.path=value)');

export const ExperimentMethodSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({
        ...MethodBase,
        kind: z.literal('gopo').describe('GOPO (gopo train) from the shared config, with `set` overrides'),
        ablation: z
          .enum(Object.keys(GOPO_ABLATIONS) as [GopoAblationName, ...GopoAblationName[]])
          .optional()
          .describe('one of the GOPO ablations (GOPO_ABLATIONS): its overrides come before `set`'),
        set: SetSchema,
      })
      .describe('GOPO or one of its ablations'),
    z
      .strictObject({
        ...MethodBase,
        kind: z.literal('sft').describe("the shared config's starting Expert Agent, frozen (no episodes)"),
        set: SetSchema,
      })
      .describe('SFT only'),
    z
      .strictObject({
        ...MethodBase,
        kind: z
          .literal('memento')
          .describe("frozen agents plus a case bank written after every episode of the budget's rollouts"),
        set: SetSchema,
        memento: MementoConfigSchema.prefault({}),
      })
      .describe('the Memento baseline'),
    z
      .strictObject({
        ...MethodBase,
        kind: z
          .literal('flat_ppo')
          .describe(
            'one LM agent without a strategy layer, token-level PPO on the sequence reward (gopo ppo)',
          ),
        ppo: FlatPpoConfigSchema.omit({ seed: true, env: true, phases: true, eval: true, metrics: true })
          .extend({
            kl: KlControllerConfigSchema.optional().describe(
              "the adaptive KL controller (default: the shared gopo config's metrics.kl)",
            ),
          })
          .describe(
            "gopo ppo's config: `model` is the flat SFT model; seed, environment and the sequence reward come from the shared gopo config, phases from the budget",
          ),
      })
      .describe('the flat PPO baseline'),
    z
      .strictObject({
        ...MethodBase,
        kind: z.literal('scripted').describe('a scripted shop policy (a reference row; no episodes)'),
        policy: z.enum(['uniform', 'history', 'oracle']).describe('which scripted policy'),
        set: SetSchema,
      })
      .describe('a scripted reference policy'),
  ])
  .describe('one method of the comparison');
export type ExperimentMethod = z.infer<typeof ExperimentMethodSchema>;

export const ExperimentConfigSchema = z
  .strictObject({
    seeds: z
      .array(z.number().int().min(0))
      .min(1)
      .default([1, 2, 3])
      .describe('seeds: every method is trained and evaluated once per seed'),
    budget: z
      .strictObject({
        episodes: z
          .number()
          .int()
          .min(1)
          .default(1280)
          .describe(
            'environment episodes every trained method plays per seed (GOPO: phases x scenarios x G)',
          ),
      })
      .prefault({})
      .describe('equal budgets (DESIGN.md 4.6)'),
    eval: z
      .strictObject({
        scenarios: z
          .number()
          .int()
          .min(1)
          .default(500)
          .describe('held-out scenarios of the final evaluation (the same for every method and seed)'),
        curveScenarios: z
          .number()
          .int()
          .min(1)
          .default(100)
          .describe('held-out scenarios of each learning-curve point'),
        curvePoints: z
          .number()
          .int()
          .min(1)
          .default(5)
          .describe('learning-curve evaluations during training (besides the one before it)'),
        resamples: z
          .number()
          .int()
          .min(100)
          .default(1000)
          .describe('bootstrap resamples of intervals and tests'),
      })
      .prefault({})
      .describe('held-out evaluation'),
    gopo: GopoTrainConfigSchema.prefault({}).describe(
      "the shared gopo train config: environment, starting Expert Agent, reply backend, metrics and GOPO's settings; `loop.iterations` and `eval` are set from the budget",
    ),
    methods: z.array(ExperimentMethodSchema).min(1).describe('the methods, in report order'),
    compareAgainst: z
      .array(RunNameSchema)
      .default([])
      .describe('method ids every other method is compared with (relative difference, paired test)'),
  })
  .superRefine((c, ctx) => {
    const ids = new Set<string>();
    c.methods.forEach((m, i) => {
      if (ids.has(m.id))
        ctx.addIssue({
          code: 'custom',
          path: ['methods', i, 'id'],
          message: `duplicate method id "${m.id}"`,
        });
      ids.add(m.id);
    });
    c.compareAgainst.forEach((id, i) => {
      if (!ids.has(id))
        ctx.addIssue({
          code: 'custom',
          path: ['compareAgainst', i],
          message: `no method "${id}"; methods: ${[...ids].join(', ')}`,
        });
    });
  })
  .describe('gopo experiment');
export type ExperimentConfig = z.infer<typeof ExperimentConfigSchema>;
export type ExperimentConfigInput = z.input<typeof ExperimentConfigSchema>;

export const methodLabel = (m: ExperimentMethod): string => m.label ?? m.id;
