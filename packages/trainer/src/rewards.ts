import type { ScoredSession, Session, SessionRewardFn } from '@gopo/dialogue';
import { type MetricsConfig, scoringContext, sequenceReward } from '@gopo/rewards';

/**
 * The Expert Agent's sequence reward R(tau) = l_tse TSE + l_gre R_goal + l_es ESNDCG (DESIGN.md 4.6)
 * as a session reward, with the metric settings (milestones, business expression, ESNDCG constants,
 * weights) of `config`. Parts: tse, gre, esndcg (NaN without a reference).
 */
export function sequenceRewardFn(config: MetricsConfig, source?: string): SessionRewardFn {
  const ctx = scoringContext(config, source);
  return {
    name: 'sequence',
    async score(sessions: readonly Session[]): Promise<ScoredSession[]> {
      return sessions.map((s) => {
        const r = sequenceReward(s, ctx);
        return { total: r.total, parts: { tse: r.tse, gre: r.gre, esndcg: r.esndcg } };
      });
    },
  };
}
