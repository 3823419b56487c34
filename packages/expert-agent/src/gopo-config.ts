import { z } from 'zod';

/** The Expert Agent's objective (DESIGN.md 4.6); every knob documented, defaults only here. */
export const GopoLossConfigSchema = z
  .object({
    mode: z
      .enum(['pairwise', 'group_relative'])
      .default('pairwise')
      .describe(
        'pairwise: trajectory-level preference loss; group_relative: clipped surrogate with group-normalised advantages',
      ),
    preference: z
      .enum(['trajectory', 'token'])
      .default('trajectory')
      .describe(
        'pairwise: trajectory compares the log-ratio sums of the two trajectories in one sigmoid; token compares their aligned decisions t = 1..min(T_i, T_j), one sigmoid per position, averaged over positions then pairs (the "token-level preference" ablation)',
      ),
    beta: z.number().positive().default(0.1).describe('inverse temperature of the preference sigmoid'),
    margin: z
      .number()
      .min(0)
      .default(0.02)
      .describe('a pair (i, j) is a preference when R_i - R_j exceeds this'),
    lengthNormalize: z
      .boolean()
      .default(false)
      .describe('divide each trajectory log-ratio sum by its number of turns (preference trajectory only)'),
    nllWeight: z
      .number()
      .min(0)
      .default(0)
      .describe('weight of the NLL of the preferred trajectory added to the loss'),
    clipEps: z.number().positive().max(1).default(0.2).describe('group_relative: PPO-style ratio clip'),
    klCoef: z
      .number()
      .min(0)
      .default(0.05)
      .describe('group_relative: weight of the explicit KL(pi || pi_ref) penalty'),
    advantageEps: z
      .number()
      .positive()
      .default(1e-6)
      .describe('group_relative: added to the group std before dividing'),
  })
  .superRefine((c, ctx) => {
    if (c.preference === 'token' && c.mode !== 'pairwise')
      ctx.addIssue({
        code: 'custom',
        path: ['preference'],
        message: 'preference "token" is a form of the pairwise loss: it needs mode "pairwise"',
      });
    // Token-level terms are already means over positions: a second normalisation would be a no-op
    // that reads as if it did something.
    if (c.preference === 'token' && c.lengthNormalize)
      ctx.addIssue({
        code: 'custom',
        path: ['lengthNormalize'],
        message:
          'lengthNormalize applies to preference "trajectory"; token-level terms are averaged over positions',
      });
  })
  .describe('GOPO Expert Agent loss');

export type GopoLossConfig = z.infer<typeof GopoLossConfigSchema>;
