import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Rng, UsageError } from '@gopo/core';
import {
  decisionStateText,
  RolloutBatchSchema,
  type Session,
  shopSopDefault,
  type Turn,
} from '@gopo/dialogue';
import { generateWorld, historyStrategyPolicy, ShopEnv, templateReplyPolicy } from '@gopo/envs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEpisodes } from '../rollout/episodes.js';
import { dealGroups, readLoggedTrajectories } from './offline.js';

const sop = shopSopDefault();
let sessions: Session[] = [];
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gopo-offline-'));
  const world = generateWorld({ items: 120, users: 30 });
  const jobs = Array.from({ length: 40 }, (_, i) => ({
    id: `log-${i}`,
    seed: 500 + i,
    scenario: `log-${i}`,
    group: i,
    sample: 0,
    streamSeed: i,
    greedy: false,
  }));
  const results = await runEpisodes(
    jobs,
    { strategy: historyStrategyPolicy, reply: templateReplyPolicy },
    () => new ShopEnv({ maxTurns: 8 }, { world, sop }),
  );
  sessions = results.map((r) => r.session);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
async function logFile(lines: readonly Session[] | string): Promise<string> {
  const file = path.join(dir, `logs-${files++}.jsonl`);
  await writeFile(
    file,
    typeof lines === 'string' ? lines : lines.map((s) => `${JSON.stringify(s)}\n`).join(''),
  );
  return file;
}

/** `s` with agent turn number `k` (counting agent turns) changed by `edit`. */
function editAgentTurn(s: Session, k: number, edit: (t: Turn & { role: 'agent' }) => Turn): Session {
  const index = s.turns.map((t, i) => (t.role === 'agent' ? i : -1)).filter((i) => i >= 0)[k]!;
  return { ...s, turns: s.turns.map((t, i) => (i === index && t.role === 'agent' ? edit(t) : t)) };
}

const unlabel = (t: Turn & { role: 'agent' }): Turn => {
  const { strategy: _, ...rest } = t;
  return rest;
};

const read = async (file: string, groupBy: 'goal' | 'goal_category' = 'goal') => {
  const warnings: string[] = [];
  const trajectories = await readLoggedTrajectories(file, groupBy, (m) => warnings.push(m));
  return { trajectories, warnings };
};

describe('readLoggedTrajectories', () => {
  it('reads simulator logs with the decision states the rollout saw', async () => {
    const { trajectories, warnings } = await read(await logFile(sessions));
    expect(warnings.filter((w) => !w.includes('single session'))).toEqual([]);
    expect(trajectories).toHaveLength(sessions.length);
    for (const t of trajectories) {
      expect(t.line).toBe(sessions.findIndex((x) => x.session_id === t.session.session_id) + 1);
      expect(t.key).toBe(t.session.goal.type);
      for (const d of t.decisions) {
        const turn = t.session.turns[d.turn]!;
        if (turn.role !== 'agent') throw new Error('decision on a user turn');
        // the SOP state and facts replayed from the log are those the agent acted on
        expect(d.state).toBe(decisionStateText(turn.sop_state!, turn.facts!));
        expect(sop.strategies[d.action]).toBe(turn.strategy);
        expect(d.mask[d.action]).toBe(true);
      }
    }
  });

  it('warns, with line numbers, about unlabeled turns, foreign strategies, SOP violations, empty sessions and lonely groups', async () => {
    const s: Session[] = sessions.slice(0, 8).map((x) => ({ ...x, goal: { ...x.goal, type: 'purchase' } }));
    s[1] = editAgentTurn(s[1]!, 0, unlabel);
    s[2] = editAgentTurn(s[2]!, 1, (t) => ({ ...t, strategy: 'haggle' }));
    // the first strategy the SOP does not admit at the second agent turn
    const check = sop.replay(s[3]!)[1]!;
    const forbidden = sop.strategies.find((x) => !check.admissible.includes(x))!;
    s[3] = editAgentTurn(s[3]!, 1, (t) => ({ ...t, strategy: forbidden }));
    s[4] = { ...s[4]!, turns: s[4]!.turns.map((t) => (t.role === 'agent' ? unlabel(t) : t)) };
    s[5] = { ...s[5]!, goal: { ...s[5]!.goal, type: 'complaint' } };
    const { trajectories, warnings } = await read(await logFile(s));
    const find = (needle: string) =>
      warnings.find((w) => w.includes(needle)) ?? `(no warning with "${needle}")`;
    expect(find('without a strategy label')).toContain('lines 2, 5)');
    expect(find('"haggle"')).toContain('(lines 3)');
    expect(find('SOP-violating')).toContain('(lines 4)');
    expect(find('no usable decision')).toContain('1 session(s)');
    expect(find('no usable decision')).toContain('(lines 5)');
    expect(find('single session')).toContain('complaint');
    expect(trajectories.map((t) => t.line)).toEqual([1, 2, 3, 4, 6, 7, 8]);
    const three = trajectories.find((t) => t.line === 3)!;
    expect(three.decisions).toHaveLength(s[2]!.turns.filter((t) => t.role === 'agent').length - 1);
  });

  it('errors for an empty file, for logs with no usable decision, and when no group has two sessions', async () => {
    await expect(read(await logFile(''))).rejects.toThrow(UsageError);
    await expect(read(await logFile(''))).rejects.toThrow(/no sessions/);
    const unlabeled = sessions.slice(0, 3).map((x) => ({
      ...x,
      turns: x.turns.map((t) => (t.role === 'agent' ? unlabel(t) : t)),
    }));
    await expect(read(await logFile(unlabeled))).rejects.toThrow(/no session has a usable strategy decision/);
    const lonely: Session[] = [
      { ...sessions[0]!, goal: { ...sessions[0]!.goal, type: 'purchase' } },
      { ...sessions[1]!, goal: { ...sessions[1]!.goal, type: 'complaint' } },
    ];
    await expect(read(await logFile(lonely))).rejects.toThrow(/every goal type group has a single session/);
  });
});

describe('dealGroups', () => {
  it("deals each key's sessions into groups of at most the group size, deterministically for a seed", async () => {
    const { trajectories } = await read(await logFile(sessions));
    trajectories.forEach((t, i) => {
      t.reward = i / 100; // as runOfflineGopo scores them before dealing
    });
    const size = 3;
    const deal = (seed: number) => dealGroups(trajectories, size, Rng.fromSeed(seed, 'deal'), sop.strategies);
    const batch = RolloutBatchSchema.parse(deal(1));
    expect(deal(1)).toEqual(batch);
    expect(deal(2)).not.toEqual(batch);
    const byGroup = new Map<number, Session[]>();
    for (const t of batch.trajectories) byGroup.set(t.group, [...(byGroup.get(t.group) ?? []), t.session]);
    for (const members of byGroup.values()) {
      expect(members.length).toBeGreaterThanOrEqual(2);
      expect(members.length).toBeLessThanOrEqual(size);
      expect(new Set(members.map((m) => m.goal.type)).size).toBe(1);
    }
    // every session at most once; only a key's last single leftover sits out
    const ids = batch.trajectories.map((t) => t.session.session_id);
    expect(new Set(ids).size).toBe(ids.length);
    const perKey = new Map<string, number>();
    for (const t of trajectories) perKey.set(t.key, (perKey.get(t.key) ?? 0) + 1);
    const expected = [...perKey.values()].reduce((n, k) => n + (k % size === 1 ? k - 1 : k), 0);
    expect(ids).toHaveLength(expected);
    // decisions follow their sessions, rewards and policy versions are the logged ones
    for (const d of batch.decisions) {
      const turn = batch.trajectories[d.trajectory]!.session.turns[d.turn]!;
      expect(turn.role === 'agent' && turn.strategy).toBe(sop.strategies[d.action]);
    }
    expect(batch.trajectories.every((t) => t.policyVersion === -1)).toBe(true);
  });
});
