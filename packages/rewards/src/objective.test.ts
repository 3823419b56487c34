import { describe, expect, it } from 'vitest';
import { MetricsConfigSchema } from './config.js';
import { scoringContext } from './eval/evaluate.js';
import { sequenceReward, turnReward } from './objective.js';
import { agent, session, user } from './testing/sessions.js';

describe('GOPO rewards (DESIGN 4.6)', () => {
  const s = session(
    'purchase',
    [
      user(['need_stated']),
      agent('recommend', {
        ranking: ['clarify', 'recommend'],
        reference: 'recommend',
        events: ['item_shown'],
      }),
    ],
    { status: 'success' },
  );
  it('R(tau) = l_tse TSE + l_gre R_goal + l_es ESNDCG', () => {
    const ctx = scoringContext(MetricsConfigSchema.parse({ objective: { tse: 2, gre: 0.5, esndcg: 3 } }));
    const r = sequenceReward(s, ctx);
    expect(r.tse).toBeCloseTo(2 / 8, 12); // need_stated and item_shown at t = 1
    expect(r.gre).toBeCloseTo(1 - 0.02, 12);
    expect(r.esndcg).toBeCloseTo((0.7 * 3) / Math.log2(3) / 3, 12);
    expect(r.total).toBeCloseTo(2 * r.tse + 0.5 * r.gre + 3 * r.esndcg, 12);
    // no reference: the ESNDCG term is dropped
    const noRef = sequenceReward(session('purchase', [user(['need_stated'])], { status: 'success' }), ctx);
    expect(noRef.esndcg).toBeNaN();
    expect(noRef.total).toBeCloseTo(2 * (1 / 8) + 0.5 * (1 - 0.02), 12);
  });
  it('turn reward with the KL penalty', () => {
    const w = MetricsConfigSchema.parse({
      objective: { adherence: 0.5, compliance: 0.25, step: 2 },
    }).objective;
    expect(turnReward({ adherence: 1, compliance: 1, step: 0.3, kl: 4 }, w, 0.01)).toBeCloseTo(
      0.5 + 0.25 + 0.6 - 0.04,
      12,
    );
    expect(() => turnReward({ adherence: Number.NaN, compliance: 1, step: 0, kl: 0 }, w, 0)).toThrow(
      /adherence/,
    );
  });
});
