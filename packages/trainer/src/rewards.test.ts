import { applyOverrides } from '@gopo/core';
import { type ScoredSession, type StrategyPolicy, shopSopDefault } from '@gopo/dialogue';
import { generateWorld, historyStrategyPolicy, ShopEnv, templateReplyPolicy } from '@gopo/envs';
import { MetricsConfigSchema } from '@gopo/rewards';
import { describe, expect, it } from 'vitest';
import { GOPO_ABLATIONS } from './gopo/ablations.js';
import { GopoTrainConfigSchema } from './gopo/config.js';
import { sequenceRewardFn } from './rewards.js';
import { type EpisodeJob, runEpisodes } from './rollout/episodes.js';

const world = generateWorld({ items: 120, users: 30 });
const sop = shopSopDefault();
const makeEnv = () => new ShopEnv({ maxTurns: 8 }, { world, sop });
const jobs: EpisodeJob[] = Array.from({ length: 12 }, (_, i) => ({
  id: `e-${i}`,
  seed: 300 + i,
  scenario: `sc-${i}`,
  group: i,
  sample: 0,
  streamSeed: 50 + i,
  greedy: false,
}));

/** The history policy's decisions with its rankings reversed: the same dialogue, other rankings. */
const reversedRankings: StrategyPolicy = {
  ...historyStrategyPolicy,
  name: 'history-reversed',
  async decide(states, options) {
    const base = await historyStrategyPolicy.decide(states, options);
    return base.map((d) => ({ ...d, ranking: [...d.ranking].reverse() }));
  },
};

describe('the sequence reward without ESNDCG (l_es = 0)', () => {
  it('does not depend on the rankings, while ESNDCG (still reported) does', async () => {
    const play = (strategy: StrategyPolicy) =>
      runEpisodes(jobs, { strategy, reply: templateReplyPolicy }, makeEnv).then((r) =>
        r.map((x) => x.session),
      );
    const original = await play(historyStrategyPolicy);
    const reversed = await play(reversedRankings);
    // the same dialogues apart from the logged rankings
    const strip = (s: (typeof original)[number]) => ({
      ...s,
      turns: s.turns.map((t) => (t.role === 'agent' ? { ...t, ranking: [] } : t)),
    });
    expect(reversed.map(strip)).toEqual(original.map(strip));

    const config = GopoTrainConfigSchema.parse(applyOverrides({}, GOPO_ABLATIONS['no-esndcg'].overrides));
    const noEs = sequenceRewardFn(config.metrics);
    const withEs = sequenceRewardFn(MetricsConfigSchema.parse({}));
    const totals = (s: ScoredSession[]) => s.map((x) => x.total);
    const esndcg = (s: ScoredSession[]) => s.map((x) => x.parts.esndcg!);
    const [a, b] = [await noEs.score(original), await noEs.score(reversed)];
    expect(totals(b)).toEqual(totals(a));
    a.forEach((x) => {
      expect(Number.isFinite(x.parts.esndcg)).toBe(true);
      expect(x.total).toBeCloseTo(x.parts.tse! + x.parts.gre!, 12);
    });
    // ESNDCG is still computed and reported, and it does see the rankings ...
    expect(esndcg(b)).not.toEqual(esndcg(a));
    // ... and with its default weight, so does the reward (the control).
    expect(totals(await withEs.score(reversed))).not.toEqual(totals(await withEs.score(original)));
  });
});
