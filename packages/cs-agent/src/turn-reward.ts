import { z } from 'zod';

/** Weights of the CS Agent's per-turn reward (DESIGN.md 4.6). */
export const TurnRewardConfigSchema = z.object({
  adherence: z
    .number()
    .default(1)
    .describe('l_adh: weight of strategy adherence (1 if the reply realises the commanded strategy)'),
  compliance: z.number().default(0.5).describe('l_sop: weight of SOP compliance of the reply'),
  step: z
    .number()
    .default(0.5)
    .describe('l_step: weight of the step reward (progress toward the goal this turn)'),
});
export type TurnRewardConfig = z.infer<typeof TurnRewardConfigSchema>;

export interface TurnSignals {
  /** 1 when the detected strategy of the reply equals the commanded one, else 0 (or a probability). */
  readonly adherence: number;
  /** 1 when the reply breaks no SOP rule, else 0. */
  readonly compliance: number;
  /** Step reward for this turn, for example Du et al.'s progressive Rtod increment. */
  readonly step: number;
}

/** r_t = l_adh adherence + l_sop compliance + l_step step; the KL penalty is applied by the trainer. */
export function turnReward(signals: TurnSignals, config: TurnRewardConfig): number {
  for (const [k, v] of Object.entries(signals)) {
    if (!Number.isFinite(v)) throw new RangeError(`turn signal ${k} is ${v}`);
  }
  return (
    config.adherence * signals.adherence + config.compliance * signals.compliance + config.step * signals.step
  );
}
