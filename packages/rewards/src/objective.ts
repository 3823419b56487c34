import type { Session } from '@gopo/dialogue';
import { businessScope } from './business-reward.js';
import type { ObjectiveConfig } from './config.js';
import { esndcgScore } from './esndcg.js';
import type { ScoringContext } from './session-metrics.js';
import { tseScore } from './tse.js';

export interface SequenceReward {
  /** l_tse TSE + l_gre R_goal + l_es ESNDCG (the ESNDCG term only where a reference exists). */
  readonly total: number;
  readonly tse: number;
  readonly gre: number;
  /** NaN when the session has no reference. */
  readonly esndcg: number;
}

/**
 * The Expert Agent's sequence reward R(tau) of DESIGN.md 4.6. TSE and ESNDCG are per-session values
 * in [0, 1] (not x100); a goal type without milestones contributes 0 for TSE.
 */
export function sequenceReward(session: Session, ctx: ScoringContext): SequenceReward {
  const w = ctx.config.objective;
  const tseRaw = tseScore(session, ctx.config.tse);
  const tse = Number.isNaN(tseRaw) ? 0 : tseRaw;
  const gre = ctx.business.evaluate(businessScope(session));
  const esndcg = esndcgScore(session, ctx.config.esndcg);
  const total = w.tse * tse + w.gre * gre + (Number.isNaN(esndcg) ? 0 : w.esndcg * esndcg);
  return { total, tse, gre, esndcg };
}

export interface TurnRewardParts {
  /** 1 when the reply's detected strategy equals the commanded one, else 0 (or a soft score). */
  readonly adherence: number;
  /** 1 when the reply respects the SOP, else 0. */
  readonly compliance: number;
  /** Step reward of the turn (e.g. the sum of its progressive Rtod rewards). */
  readonly step: number;
  /** KL(pi || pi_ref) of the turn. */
  readonly kl: number;
}

/** CS Agent turn reward of DESIGN.md 4.6: l_adh adherence + l_sop compliance + l_step step - beta_KL KL. */
export function turnReward(parts: TurnRewardParts, weights: ObjectiveConfig, betaKl: number): number {
  for (const [k, v] of Object.entries(parts))
    if (!Number.isFinite(v)) throw new RangeError(`turn reward part ${k} is ${v}`);
  return (
    weights.adherence * parts.adherence +
    weights.compliance * parts.compliance +
    weights.step * parts.step -
    betaKl * parts.kl
  );
}
