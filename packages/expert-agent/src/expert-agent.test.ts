import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Rng } from '@gopo/core';
import type { AgentState } from '@gopo/dialogue';
import { afterAll, describe, expect, it } from 'vitest';
import {
  handTrajectory,
  rowOf,
  STRATEGIES,
  snapshotWeights,
  stateBefore,
  TEST_TRAINER,
  tinyAgent,
} from '../test/fixtures.js';
import { ExpertAgent, earlierDecisions } from './expert-agent.js';
import { ExpertUpdater } from './expert-updater.js';
import { sftWarmStart } from './warm-start.js';

const states: AgentState[] = [1, 2].flatMap((seed) => {
  const t = handTrajectory(seed, { agentTurns: 3 });
  return t.decisions.map((_, k) => stateBefore(t, k));
});
const greedy = { greedy: true, uniforms: states.map(() => 0) };

/** A few SFT steps, so the weights (the strategy head included) are no longer their initial values. */
async function train(agent: ExpertAgent, steps: number): Promise<void> {
  const items = [3, 4].map((s) => rowOf(agent.encoder, handTrajectory(s, { agentTurns: 2 })));
  const updater = await ExpertUpdater.create(
    agent,
    { rows: 2, seqLen: 256, slots: 2 },
    { kind: 'sft' },
    TEST_TRAINER,
  );
  await sftWarmStart(updater, items, { steps, rng: Rng.fromSeed(1, 'train') });
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('ExpertAgent', () => {
  it('save / load round trip: same weights, strategies, version and decisions', async () => {
    const agent = await tinyAgent(7, { scale: 10 });
    await train(agent, 3);
    const dir = await mkdtemp(path.join(tmpdir(), 'expert-agent-'));
    dirs.push(dir);
    await agent.save(dir);
    const loaded = await ExpertAgent.load(dir, { intraOpThreads: 1 });
    expect(loaded.version).toBe(3);
    expect(loaded.strategies).toEqual(STRATEGIES);
    expect(loaded.config).toMatchObject(agent.config);
    expect([...loaded.store.entries()].map(([k]) => k).sort()).toEqual(
      [...agent.store.entries()].map(([k]) => k).sort(),
    );
    for (const [name, w] of snapshotWeights(agent)) expect(loaded.store.get(name).data, name).toEqual(w);
    expect(await loaded.decide(states, greedy)).toEqual(await agent.decide(states, greedy));
  });

  it('a clone is independent: training the original leaves the clone as it was, and the other way round', async () => {
    const agent = await tinyAgent(8, { scale: 10 });
    const clone = agent.clone();
    const weights = snapshotWeights(agent);
    const decisions = await clone.decide(states, greedy);
    await train(agent, 2);
    expect(agent.version).toBe(2);
    expect(clone.version).toBe(0);
    for (const [name, w] of weights) expect(clone.store.get(name).data, name).toEqual(w);
    expect(await clone.decide(states, greedy)).toEqual(decisions);
    expect((await agent.decide(states, greedy)).map((d) => d.logProbs)).not.toEqual(
      decisions.map((d) => d.logProbs),
    );
    const trained = snapshotWeights(agent);
    await train(clone, 1);
    for (const [name, w] of trained) expect(agent.store.get(name).data, name).toEqual(w);
  });

  it('greedy decisions are deterministic, SOP-masked, and take the top of the ranking', async () => {
    const agent = await tinyAgent(9, { scale: 20 });
    const a = await agent.decide(states, greedy);
    expect(await agent.decide(states, greedy)).toEqual(a);
    a.forEach((d, i) => {
      const mask = states[i]!.admissible;
      const admissible = mask.flatMap((ok, s) => (ok ? [s] : []));
      d.logProbs.forEach((lp, s) => {
        if (!mask[s]) expect(lp).toBe(Number.NEGATIVE_INFINITY);
      });
      expect(admissible.reduce((sum, s) => sum + Math.exp(d.logProbs[s]!), 0)).toBeCloseTo(1, 5);
      expect([...d.ranking].sort((x, y) => x - y)).toEqual(admissible);
      for (let r = 1; r < d.ranking.length; r++)
        expect(d.logProbs[d.ranking[r - 1]!]!).toBeGreaterThanOrEqual(d.logProbs[d.ranking[r]!]!);
      expect(d.action).toBe(d.ranking[0]);
    });
    // the scores depend on the state: not every state ranks the same way
    expect(new Set(a.map((d) => d.ranking.join(','))).size).toBeGreaterThan(1);
  });

  it('unmasked (sopMasking false): decides, ranks and scores over every strategy, and may pick an inadmissible one', async () => {
    const masked = await tinyAgent(9, { scale: 20 });
    const unmasked = new ExpertAgent(masked.config, masked.tokenizer, STRATEGIES, masked.store, 0, {
      intraOpThreads: 1,
      sopMasking: false,
    });
    expect(masked.masked).toBe(true);
    expect(unmasked.masked).toBe(false);
    const m = await masked.decide(states, greedy);
    const u = await unmasked.decide(states, greedy);
    u.forEach((d, i) => {
      expect(d.logProbs.every((lp) => Number.isFinite(lp))).toBe(true);
      expect(d.logProbs.reduce((sum, lp) => sum + Math.exp(lp), 0)).toBeCloseTo(1, 5);
      expect([...d.ranking].sort((x, y) => x - y)).toEqual(STRATEGIES.map((_, s) => s));
      expect(d.action).toBe(d.ranking[0]);
      // The same scores: renormalised over the admissible set, the unmasked log-probs are the masked ones.
      const mask = states[i]!.admissible;
      const logZ = Math.log(d.logProbs.reduce((sum, lp, s) => sum + (mask[s] ? Math.exp(lp) : 0), 0));
      d.logProbs.forEach((lp, s) => {
        if (mask[s]) expect(Math.abs(lp - logZ - m[i]!.logProbs[s]!)).toBeLessThan(1e-5);
      });
    });
    expect(u.some((d, i) => !states[i]!.admissible[d.action])).toBe(true);
    // The clone (pi_ref) and a saved and loaded copy stay unmasked; a load may override it.
    expect(unmasked.clone().masked).toBe(false);
    const dir = await mkdtemp(path.join(tmpdir(), 'expert-agent-'));
    dirs.push(dir);
    await unmasked.save(dir);
    expect((await ExpertAgent.load(dir)).masked).toBe(false);
    expect((await ExpertAgent.load(dir, { sopMasking: true })).masked).toBe(true);
    expect(await (await ExpertAgent.load(dir, { intraOpThreads: 1 })).decide(states, greedy)).toEqual(u);
  });

  it('samples with the given uniforms: u in a strategy cumulative interval picks it, whatever the batch', async () => {
    const agent = await tinyAgent(10, { scale: 20 });
    const base = await agent.decide(states, greedy);
    const batch: AgentState[] = [];
    const uniforms: number[] = [];
    const expected: number[] = [];
    base.forEach((d, i) => {
      let acc = 0;
      d.logProbs.forEach((lp, s) => {
        const p = Math.exp(lp);
        if (p > 1e-4) {
          batch.push(states[i]!);
          uniforms.push(acc + p / 2);
          expected.push(s);
        }
        acc += p;
      });
    });
    expect(new Set(expected).size).toBeGreaterThan(3);
    const sampled = await agent.decide(batch, { greedy: false, uniforms });
    expect(sampled.map((d) => d.action)).toEqual(expected);
  });

  it('refuses a uniform count or a mask length that does not match', async () => {
    const agent = await tinyAgent(11);
    await expect(agent.decide(states, { greedy: true, uniforms: [0] })).rejects.toThrow(/uniforms/);
    const bad = { ...states[0]!, admissible: [true, true] };
    await expect(agent.decide([bad], { greedy: true, uniforms: [0] })).rejects.toThrow(/2 strategies/);
  });

  it("reads a live dialogue's earlier decisions back from its agent turns", () => {
    const t = handTrajectory(12, { agentTurns: 3, undecided: [1] });
    const earlier = earlierDecisions(t.turns, STRATEGIES);
    expect(earlier).toEqual(t.decisions.map(({ turn, state, action }) => ({ turn, state, action })));
  });
});
