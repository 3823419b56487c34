/**
 * The Expert Agent in the lockstep rollout engine on the shop simulator: its episodes do not depend
 * on how they are batched, and the log-probs a rollout recorded are the ones training recomputes in
 * one causal pass over the finished trajectory (the same state blocks, facts and earlier decisions).
 */
import { RolloutBatchSchema, shopSopDefault } from '@gopo/dialogue';
import { generateWorld, ShopEnv, templateReplyPolicy } from '@gopo/envs';
import { ExpertAgent, encodeBatch } from '@gopo/expert-agent';
import { loadDefaultTokenizer } from '@gopo/lm';
import { describe, expect, it } from 'vitest';
import { assembleBatch } from '../src/rollout/batch.js';
import { type EpisodeJob, type EpisodeResult, runEpisodes } from '../src/rollout/episodes.js';

const world = generateWorld({ items: 120, users: 30 });
const sop = shopSopDefault();
const makeEnv = () => new ShopEnv({ maxTurns: 6 }, { world, sop });

async function agent(sopMasking = true): Promise<ExpertAgent> {
  const a = ExpertAgent.random(
    { hiddenSize: 16, layers: 2, heads: 2, kvHeads: 1, intermediateSize: 32, maxSeqLen: 1024 },
    await loadDefaultTokenizer(),
    sop.strategies,
    3,
    { intraOpThreads: 1, sopMasking },
  );
  // weights of std ~0.2: decisions that depend on the dialogue, still sampled from a spread
  for (const [name, t] of a.store.entries())
    if (!name.endsWith('norm.weight'))
      for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i]! *= 10;
  return a;
}

const jobs: EpisodeJob[] = Array.from({ length: 6 }, (_, i) => ({
  id: `e-${i}`,
  seed: 40 + Math.floor(i / 2),
  scenario: `sc-${Math.floor(i / 2)}`,
  group: Math.floor(i / 2),
  sample: i % 2,
  streamSeed: 1000 + i,
  greedy: false,
}));

describe('Expert Agent rollouts', () => {
  it('are the same whatever maxLive and job order (log-probs to float32 rounding)', async () => {
    const roles = { strategy: await agent(), reply: templateReplyPolicy };
    const ref = await runEpisodes(jobs, roles, makeEnv, { maxLive: 64 });
    // The batched forward pads to the batch's longest prompt, so the float32 log-probs of a state may
    // differ in the last bits with its batch; the sessions and actions may not.
    const expectSame = (got: EpisodeResult[]) => {
      expect(got.map((r) => r.session)).toEqual(ref.map((r) => r.session));
      got.forEach((r, i) => {
        expect(r.decisions.map(({ behaviorLogProb: _, ...d }) => d)).toEqual(
          ref[i]!.decisions.map(({ behaviorLogProb: _, ...d }) => d),
        );
        r.decisions.forEach((d, k) => {
          expect(Math.abs(d.behaviorLogProb! - ref[i]!.decisions[k]!.behaviorLogProb!)).toBeLessThan(1e-6);
        });
      });
    };
    expectSame(await runEpisodes(jobs, roles, makeEnv, { maxLive: 1 }));
    expectSame((await runEpisodes(jobs.slice().reverse(), roles, makeEnv, { maxLive: 4 })).reverse());
  });

  it('record the log-probs that one pass over the finished trajectory gives', async () => {
    const expert = await agent();
    const results = await runEpisodes(jobs, { strategy: expert, reply: templateReplyPolicy }, makeEnv);
    const batch = assembleBatch(results, sop.strategies);
    const rows = encodeBatch(expert, batch);
    const logps = await expert.decisionLogProbs(rows);
    let compared = 0;
    rows.forEach((row, i) => {
      // decisions read at or past maxSeqLen are dropped (their prompts were left-truncated)
      const decisions = batch.decisions.filter((d) => d.trajectory === row.trajectory);
      row.encoded.decisions.forEach((k, j) => {
        const d = decisions[k]!;
        expect(Math.abs(logps[i]![j]![d.action]! - d.behaviorLogProb!)).toBeLessThan(2e-5);
        compared++;
      });
    });
    expect(compared).toBeGreaterThan(12);
  });

  it('an unmasked agent (sopMasking false) plays inadmissible strategies and the sessions log the violations; the masked default never does', async () => {
    const violations = (results: EpisodeResult[]) =>
      results.flatMap((r) => r.session.turns).filter((t) => t.role === 'agent' && t.sop_violation).length;
    const masked = await runEpisodes(jobs, { strategy: await agent(), reply: templateReplyPolicy }, makeEnv);
    expect(violations(masked)).toBe(0);
    for (const r of masked) for (const d of r.decisions) expect(d.mask[d.action]).toBe(true);

    const expert = await agent(false);
    expect(expert.masked).toBe(false);
    const results = await runEpisodes(jobs, { strategy: expert, reply: templateReplyPolicy }, makeEnv);
    expect(violations(results)).toBeGreaterThan(0);
    expect(results.reduce((n, r) => n + (r.session.outcome.sop_violations as number), 0)).toBe(
      violations(results),
    );
    // Records keep the SOP's admissibility; the batch is valid, and training's one pass recomputes
    // the recorded log-probs over every strategy, the inadmissible actions included.
    const batch = RolloutBatchSchema.parse(assembleBatch(results, sop.strategies));
    expect(batch.decisions.some((d) => !d.mask[d.action])).toBe(true);
    const rows = encodeBatch(expert, batch);
    const logps = await expert.decisionLogProbs(rows);
    rows.forEach((row, i) => {
      const decisions = batch.decisions.filter((d) => d.trajectory === row.trajectory);
      row.encoded.decisions.forEach((k, j) => {
        const d = decisions[k]!;
        expect(Number.isFinite(d.behaviorLogProb)).toBe(true);
        expect(Math.abs(logps[i]![j]![d.action]! - d.behaviorLogProb!)).toBeLessThan(2e-5);
      });
    });
  });
});
