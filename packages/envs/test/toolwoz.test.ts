import { resolveDataDir } from '@gopo/core';
import type { ToolCall } from '@gopo/dialogue';
import { joshSummary } from '@gopo/rewards';
import { beforeAll, describe, expect, it } from 'vitest';
import { runToolEpisode } from '../src/tool-env.js';
import { toolwozPolicies } from '../src/toolwoz/agents.js';
import { loadToolwozDb, type ToolwozDb } from '../src/toolwoz/db.js';
import { ToolwozEnv } from '../src/toolwoz/env.js';
import {
  loadMultiwozGoals,
  type MultiwozGoalStats,
  sampleGoals,
  type ToolwozGoal,
} from '../src/toolwoz/goals.js';
import { toolwozScore } from '../src/toolwoz/reward.js';
import { executeToolwozCall, TOOLWOZ_TOOL_NAMES } from '../src/toolwoz/tools.js';

const dataDir = resolveDataDir();

describe.skipIf(!dataDir)('ToolWOZ over the MultiWOZ databases (data/toolwoz, data/multiwoz)', () => {
  let db: ToolwozDb;
  let goals: ToolwozGoal[];
  let stats: MultiwozGoalStats;
  beforeAll(async () => {
    db = await loadToolwozDb(dataDir!);
    ({ goals, stats } = await loadMultiwozGoals(dataDir!, db));
  });
  const run = (name: string, args: Record<string, unknown>) => {
    const r = executeToolwozCall(db, { id: 'c1', name, arguments: args }, { maxResults: 5 });
    return { ...r, json: r.output.startsWith('{') ? JSON.parse(r.output) : undefined };
  };
  const names = (r: ReturnType<typeof run>, field = 'name') =>
    (r.json.results as Record<string, unknown>[]).map((x) => x[field]);

  // Expected rows checked against the database files with an independent Python filter.
  it('search_restaurant and search_hotel keep the rows equal to every constraint', () => {
    const r = run('search_restaurant', { food: 'Italian', area: 'centre', pricerange: 'cheap' });
    expect(r.json.count).toBe(3);
    expect(names(r)).toEqual(['pizza hut city centre', 'ask restaurant', 'zizzi cambridge']);
    expect(r.apiCall).toEqual({
      name: 'search_restaurant',
      args: { food: 'Italian', area: 'centre', pricerange: 'cheap' },
      resultIds: ['pizza hut city centre', 'ask restaurant', 'zizzi cambridge'],
    });
    const h = run('search_hotel', { area: 'east', parking: 'yes', stars: '4', internet: 'yes' });
    expect(names(h)).toEqual([
      'allenbell',
      'autumn house',
      'carolina bed and breakfast',
      'leverton house',
      'warkworth house',
    ]);
    expect(h.json.results[0]).not.toHaveProperty('location');
  });

  it('search_attraction normalises case and apostrophes, ignores "dont care" and shows at most maxResults rows', () => {
    const k = run('search_attraction', { name: "King's College" });
    expect(k.json.count).toBe(1);
    expect(names(k)).toEqual(["king's college"]);
    const m = run('search_attraction', { type: 'museum', area: 'dont care' });
    expect(m.json.count).toBe(23);
    expect(m.json.results).toHaveLength(5);
    expect(m.json.note).toBe('showing 5 of 23; add constraints to narrow down');
    expect(m.apiCall?.resultIds).toHaveLength(23);
  });

  it('search_train: leaveAt keeps trains leaving strictly after it, arriveBy those arriving strictly before', () => {
    const base = { departure: 'cambridge', destination: 'london kings cross', day: 'monday' };
    const at = run('search_train', { ...base, leaveAt: '05:00' });
    expect(at.json.count).toBe(9);
    expect(at.apiCall?.resultIds).not.toContain('TR7075');
    const before = run('search_train', { ...base, leaveAt: '4:59' });
    expect(before.json.count).toBe(10);
    expect(names(before, 'trainID')[0]).toBe('TR7075');
    const arrive = run('search_train', { ...base, arriveBy: '07:51' });
    expect(arrive.apiCall?.resultIds).toEqual(['TR7075']);
  });

  it('book_restaurant and book_hotel book a named venue with complete details, with a stable reference', () => {
    const args = { name: 'Pizza Hut City Centre', time: '9:30', day: 'Monday', people: 2 };
    const r = run('book_restaurant', args);
    expect(r.json).toMatchObject({
      success: true,
      name: 'pizza hut city centre',
      time: '09:30',
      people: '2',
    });
    expect(r.json.reference).toMatch(/^[A-Z0-9]{8}$/);
    expect(run('book_restaurant', args).json.reference).toBe(r.json.reference);
    expect(r.apiCall).toEqual({
      name: 'book_restaurant',
      args: { name: 'Pizza Hut City Centre', time: '09:30', day: 'Monday', people: '2' },
    });
    expect(
      run('book_restaurant', { name: 'pizza hut city centre', day: 'monday', time: '18:00' }).json,
    ).toEqual({
      success: false,
      error: 'missing people',
    });
    expect(
      run('book_restaurant', { name: 'nowhere', day: 'monday', time: '18:00', people: '2' }).json.error,
    ).toBe('no restaurant named "nowhere"');
    expect(
      run('book_hotel', { name: 'warkworth house', stay: '4', day: 'monday', people: '3' }).json.success,
    ).toBe(true);
    expect(
      run('book_hotel', { name: 'warkworth house', stay: 'two', day: 'monday', people: '3' }).json.error,
    ).toBe('stay must be a positive whole number');
    expect(
      run('book_hotel', { name: 'warkworth house', stay: '2', day: 'someday', people: '3' }).json.error,
    ).toBe('day must be a day of the week, got "someday"');
  });

  it('book_train books an existing train; book_attraction books nothing', () => {
    expect(run('book_train', { trainID: 'tr1567', people: '1' }).json).toMatchObject({
      success: true,
      trainID: 'TR1567',
    });
    expect(run('book_train', { trainID: 'TR0000', people: '1' }).json.error).toBe(
      'no train with id "TR0000"',
    );
    expect(run('book_attraction', {}).json).toEqual({ success: false, error: 'attractions need no booking' });
  });

  it('malformed calls give an error text and no API call', () => {
    expect(run('book_taxi', {}).apiCall).toBeUndefined();
    expect(run('book_taxi', {}).output).toMatch(/^Error: unknown tool "book_taxi"; tools: search_restaurant/);
    expect(run('search_hotel', { stars: ['4'], wifi: 'yes' }).output).toBe(
      'Error: argument "stars" must be a string; unexpected argument "wifi"',
    );
    expect(run('search_hotel', { stars: ['4'] }).apiCall).toBeUndefined();
    expect(TOOLWOZ_TOOL_NAMES).toHaveLength(8);
  });

  it('builds goal APIs from the val.json dialogues without taxi, police or hospital goals', () => {
    expect(stats).toEqual({
      dialogues: 999,
      excluded: 206,
      unsatisfiable: 1,
      repairedEntities: 21,
      goals: 792,
    });
    // PMUL1635, checked by hand: the hotel goal with its booking and the booked guesthouse; the train
    // goal has no booking, its entity is the train booked in the dialogue.
    expect(goals.find((g) => g.id === 'PMUL1635')).toEqual({
      id: 'PMUL1635',
      source: 'multiwoz',
      domains: [
        {
          domain: 'hotel',
          search: { area: 'east', parking: 'yes', stars: '4', internet: 'yes' },
          book: { stay: '4', day: 'monday', people: '3' },
          entity: 'warkworth house',
          reqt: [],
        },
        {
          domain: 'train',
          search: {
            destination: 'bishops stortford',
            day: 'friday',
            arriveBy: '19:45',
            departure: 'cambridge',
          },
          entity: 'TR1567',
          reqt: ['duration', 'leaveAt', 'price'],
        },
      ],
    });
    for (const g of goals)
      for (const d of g.domains) {
        const ids = db.search(d.domain, d.search).map((r) => db.idOf(d.domain, r));
        expect(ids.length).toBeGreaterThan(0);
        if (d.entity) expect(ids).toContain(d.entity);
        if (d.book) expect(d.entity).toBeDefined();
      }
  });

  it('samples training goals (seeded) around real rows that satisfy their own constraints', () => {
    const a = sampleGoals(db, { count: 200, seed: 7 });
    expect(sampleGoals(db, { count: 200, seed: 7 })).toEqual(a);
    expect(sampleGoals(db, { count: 200, seed: 8 })).not.toEqual(a);
    for (const g of a) {
      expect(g.domains.length).toBeGreaterThanOrEqual(1);
      expect(g.domains.length).toBeLessThanOrEqual(2);
      for (const d of g.domains)
        expect(db.search(d.domain, d.search).map((r) => db.idOf(d.domain, r))).toContain(d.entity);
    }
    const booked = a.flatMap((g) => g.domains).filter((d) => d.book).length;
    expect(booked).toBeGreaterThan(100);
  });

  it('goal-API completion: subset of the arguments, or a search whose single result is the entity', () => {
    const goal = goals.find((g) => g.id === 'PMUL1635')!;
    const call = (name: string, args: Record<string, unknown>) =>
      executeToolwozCall(db, { id: 'x', name, arguments: args } as ToolCall, { maxResults: 5 }).apiCall!;
    const score = (calls: ReturnType<typeof call>[]) => toolwozScore(goal, calls);
    expect(score([]).reward).toBe(0);
    expect(score([]).goalApis.map((g) => g.goal.name)).toEqual([
      'search_hotel',
      'book_hotel',
      'search_train',
    ]);
    // Missing a constraint: 5 rows, not the goal's search.
    expect(score([call('search_hotel', { area: 'east', stars: '4', internet: 'yes' })]).reward).toBe(0);
    // All constraints plus an extra one, in other spellings: completed.
    expect(
      score([
        call('search_hotel', { area: 'East', parking: 'yes', stars: 4, internet: 'yes', type: 'guesthouse' }),
      ]).reward,
    ).toBeCloseTo(1 / 3);
    // By name only: the single result is the goal's entity.
    expect(score([call('search_hotel', { name: 'warkworth house' })]).goalApis[0]!.completed).toBe(true);
    expect(score([call('search_hotel', { name: 'allenbell' })]).goalApis[0]!.completed).toBe(false);
    const book = call('book_hotel', { name: 'Warkworth House', stay: '4', day: 'monday', people: '3' });
    expect(score([book]).goalApis[1]!.completed).toBe(true);
    expect(
      score([call('book_hotel', { name: 'warkworth house', stay: '4', day: 'tuesday', people: '3' })])
        .goalApis[1]!.completed,
    ).toBe(false);
    const train = call('search_train', {
      departure: 'cambridge',
      destination: 'bishops stortford',
      day: 'friday',
      arriveBy: '19:45',
    });
    expect(score([train, book, call('search_hotel', { name: 'warkworth house' })]).reward).toBe(1);
  });

  it('oracle and rule agents complete every MultiWOZ goal; the greedy agent does not', async () => {
    const env = new ToolwozEnv(db);
    const policies = toolwozPolicies(db);
    expect(policies.names()).toEqual(['greedy', 'oracle', 'rule']);
    const score = async (name: string, set: readonly ToolwozGoal[]) => {
      const rewards: number[] = [];
      for (const [i, g] of set.entries()) {
        env.reset(g, i);
        rewards.push((await runToolEpisode(env, policies.get(name).create(env.privileged()))).reward);
      }
      return joshSummary(rewards);
    };
    expect(await score('oracle', goals)).toEqual({ dialogues: 792, averageReward: 1, fullSuccessRate: 1 });
    expect(await score('rule', goals)).toEqual({ dialogues: 792, averageReward: 1, fullSuccessRate: 1 });
    const sampled = sampleGoals(db, { count: 100, seed: 3 });
    expect((await score('rule', sampled)).fullSuccessRate).toBe(1);
    const greedy = await score('greedy', goals.slice(0, 200));
    expect(greedy.averageReward).toBeGreaterThan(0.2);
    expect(greedy.averageReward).toBeLessThan(0.6);
    expect(() => policies.get('smart')).toThrow(
      /unknown toolwoz policy "smart"; valid: greedy, oracle, rule/,
    );
  });

  it('episodes are deterministic for a seed and end when the user says goodbye', async () => {
    const env = new ToolwozEnv(db);
    const goal = goals.find((g) => g.id === 'PMUL1635')!;
    const once = async (seed: number) => {
      env.reset(goal, seed);
      return runToolEpisode(env, toolwozPolicies(db).get('rule').create(env.privileged()));
    };
    const a = await once(5);
    expect(await once(5)).toEqual(a);
    expect((await once(6)).messages).not.toEqual(a.messages);
    expect(a.endReason).toBe('goal_done');
    expect(a.messages.at(-1)?.role).toBe('user');
    expect(a.details).toMatchObject({ domainsDone: 2, domains: 2 });
    expect(() => env.step({ action: { kind: 'reply', text: 'hi' } })).toThrow(/after the episode ended/);
  });

  it('the scripted user reveals constraints one at a time and leaves when nothing moves', () => {
    const env = new ToolwozEnv(db, { patience: 2 });
    const goal = goals.find((g) => g.id === 'PMUL1635')!;
    const open = env.reset(goal, 1).content;
    const said = (text: string) =>
      Object.keys(env.nlu.slotsIn('hotel', text)).filter((k) => k in goal.domains[0]!.search);
    expect(said(open).length).toBeGreaterThanOrEqual(1);
    expect(said(open).length).toBeLessThanOrEqual(2);
    const known = new Set(said(open));
    for (;;) {
      const r = env.step({ action: { kind: 'reply', text: 'Tell me more.' } });
      const got = said((r.observation as { content: string }).content);
      if (got.length === 0) break;
      expect(got).toHaveLength(1);
      for (const k of got) known.add(k);
    }
    expect([...known].sort()).toEqual(['area', 'internet', 'parking', 'stars']);
    const last = env.step({ action: { kind: 'reply', text: 'Tell me more.' } });
    expect(last.done).toBe(true);
    expect(last.info.endReason).toBe('user_left');
    expect(last.reward).toBe(0);
  });
});
