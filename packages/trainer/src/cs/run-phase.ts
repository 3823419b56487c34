/**
 * One CS phase of any mode: `gopo cs rl|kto|ppo` and the hierarchical loop's CS phases call this, so
 * a mode added to CsTrainMode is dispatched in one place.
 */
import type { Rng } from '@gopo/core';
import type { PpoConfig } from '@gopo/cs-agent';
import { match } from 'ts-pattern';
import type { EpisodeJob } from '../rollout/episodes.js';
import type { CsTrainMode } from './objective.js';
import { type CsPhaseContext, type CsPhaseResult, csKtoPhase, csRlPhase } from './phases.js';
import { csPpoPhase } from './ppo-phase.js';

/** The fields of a CS phase config every mode reads (gopo cs's config and the loop's reply.train). */
export interface CsPhaseSettings {
  readonly rl: { readonly samples: number; readonly temperature: number };
  readonly epochs: number;
  readonly ppo: PpoConfig;
}

export function runCsPhase(
  ctx: CsPhaseContext,
  mode: CsTrainMode,
  jobs: readonly EpisodeJob[],
  s: CsPhaseSettings,
  rng: Rng,
): Promise<CsPhaseResult> {
  const { temperature } = s.rl;
  return match(mode)
    .with('rl', () => csRlPhase(ctx, jobs, { samples: s.rl.samples, temperature, epochs: s.epochs, rng }))
    .with('kto', () => csKtoPhase(ctx, jobs, { temperature, epochs: s.epochs, rng }))
    .with('ppo', () => csPpoPhase(ctx, jobs, { ppo: s.ppo, temperature, epochs: s.epochs, rng }))
    .exhaustive();
}
