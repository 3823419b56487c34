import { resolveDataDir } from '@gopo/core';
import {
  loadToolwozDb,
  sampleGoals,
  type ToolwozDb,
  ToolwozEnv,
  type ToolwozGoal,
  toolwozPolicies,
} from '@gopo/envs';
import { beforeAll, describe, expect, it } from 'vitest';
import { JoshKtoRecordSchema, JoshSftRecordSchema, joshRecords } from './datasets.js';
import { noisyScriptedPolicy } from './noisy-policy.js';
import { type JoshSearchResult, joshSearch, replaySteps } from './search.js';

const dataDir = resolveDataDir();

describe.skipIf(!dataDir)('JOSH beam search on ToolWOZ goals (noisy scripted oracle)', () => {
  let db: ToolwozDb;
  let goals: ToolwozGoal[];
  const results = new Map<string, JoshSearchResult>();
  const search = async (goal: ToolwozGoal, noise: number, seed = 3) => {
    const env = new ToolwozEnv(db);
    const policy = noisyScriptedPolicy(toolwozPolicies(db).get('oracle'), noise);
    return joshSearch(env, { id: goal.id, item: goal }, policy, seed, { branching: 2, maxBeams: 8 });
  };
  beforeAll(async () => {
    db = await loadToolwozDb(dataDir!);
    goals = sampleGoals(db, { count: 6, seed: 11 });
    for (const g of goals) results.set(g.id, await search(g, 0.4));
  });

  it('branches 2 ways, never keeps more than 8 beams and stops at the first success', () => {
    for (const r of results.values()) {
      expect(Math.max(...r.beamsPerDepth)).toBeLessThanOrEqual(8);
      for (const n of r.nodes.slice(1))
        expect(r.nodes.filter((m) => m.parent === n.parent).length).toBeLessThanOrEqual(2);
      // Every expanded beam got exactly 2 children, except the last beam expanded (cut at the success).
      const kids = new Map<number, number>();
      for (const n of r.nodes.slice(1)) kids.set(n.parent!, (kids.get(n.parent!) ?? 0) + 1);
      const counts = [...kids.values()];
      expect(counts.slice(0, -1).every((k) => k === 2)).toBe(true);
      const successes = r.nodes.filter((n) => n.success);
      if (r.outcome.kind === 'success') {
        expect(successes).toHaveLength(1);
        expect(r.nodes.at(-1)!.success).toBe(true);
      } else expect(successes).toHaveLength(0);
    }
    expect([...results.values()].some((r) => Math.max(...r.beamsPerDepth) === 8)).toBe(true);
    expect([...results.values()].filter((r) => r.outcome.kind === 'success').length).toBeGreaterThan(2);
  });

  it('the golden path replays from reset to reward 1', () => {
    for (const g of goals) {
      const r = results.get(g.id)!;
      if (r.outcome.kind !== 'success') continue;
      const leaf = r.outcome.golden.at(-1)!;
      const env = replaySteps(new ToolwozEnv(db), g, 3, g.id, leaf.steps);
      expect(env.done).toBe(true);
      expect(env.episode('replay').reward).toBe(1);
    }
  });

  it('labels golden turns desirable and diverging sibling turns undesirable', () => {
    let bad = 0;
    for (const g of goals) {
      const r = results.get(g.id)!;
      const { sft, kto } = joshRecords(g.id, r);
      if (r.outcome.kind !== 'success') {
        expect(sft).toEqual([]);
        continue;
      }
      const goldenSteps = r.outcome.golden.flatMap((n) => n.turn.map((t) => t.step));
      expect(sft.map((s) => s.step)).toEqual(goldenSteps);
      expect(kto.filter((k) => k.desirable).map((k) => k.step)).toEqual(goldenSteps);
      for (const rec of sft) JoshSftRecordSchema.parse(rec);
      for (const rec of kto) JoshKtoRecordSchema.parse(rec);
      const goldenIds = new Set(r.outcome.golden.map((n) => n.id));
      for (const k of kto.filter((x) => !x.desirable)) {
        bad++;
        // An undesirable step comes from a sibling of a golden turn, not from the golden path itself.
        const from = r.nodes.find(
          (n) =>
            !goldenIds.has(n.id) &&
            n.turn.some(
              (t) =>
                JSON.stringify(t.step) === JSON.stringify(k.step) &&
                t.view.messages.length === k.view.messages.length,
            ),
        );
        expect(from).toBeDefined();
        expect(goldenIds.has(from!.parent!)).toBe(true);
      }
    }
    expect(bad).toBeGreaterThan(0);
  });

  it('is reproducible for a seed, and a noiseless oracle succeeds at the first leaf', async () => {
    const g = goals[0]!;
    const again = await search(g, 0.4);
    expect(again.nodes.map((n) => n.steps)).toEqual(results.get(g.id)!.nodes.map((n) => n.steps));
    const clean = await search(g, 0);
    expect(clean.outcome.kind).toBe('success');
    // Without noise every branch is the same dialogue: the first child at the final depth succeeds.
    if (clean.outcome.kind === 'success') {
      const leaf = clean.outcome.golden.at(-1)!;
      expect(leaf.id).toBe(Math.min(...clean.nodes.filter((n) => n.depth === leaf.depth).map((n) => n.id)));
    }
  });
});
