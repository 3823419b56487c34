import { DEFAULT_MILESTONES, GOAL_TYPES, SHOP_STRATEGIES } from '@gopo/dialogue';
import { DEFAULT_STRATEGY_NAMES, loadDefaultTokenizer } from '@gopo/lm';
import { defaultMetricsConfig } from '@gopo/rewards';
import { describe, expect, it } from 'vitest';

// lm may not import dialogue (layering), so it keeps its own copy of the shop strategy names; the
// trainer sees both and pins them together.
describe('shared constants across packages', () => {
  it("lm's default strategy tokens are exactly the shop strategy set, in order", async () => {
    expect([...DEFAULT_STRATEGY_NAMES]).toEqual([...SHOP_STRATEGIES]);
    const tok = await loadDefaultTokenizer();
    for (const s of SHOP_STRATEGIES) expect(tok.strategyTokenId(s)).toBeGreaterThanOrEqual(0);
  });

  it("TSE's default milestones in rewards are dialogue's DEFAULT_MILESTONES, goal by goal", () => {
    const tse = defaultMetricsConfig().tse.milestones;
    for (const goal of GOAL_TYPES) expect(tse[goal]).toEqual(DEFAULT_MILESTONES[goal]);
    expect(Object.keys(tse).sort()).toEqual([...GOAL_TYPES].sort());
  });
});
