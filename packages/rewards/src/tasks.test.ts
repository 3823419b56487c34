import { describe, expect, it } from 'vitest';
import { goalApiReward, goalCallCompleted, joshSummary } from './josh.js';
import { informOf, multiwozScores, successOf } from './multiwoz.js';
import { passAtK, passHatK, trialsByTask } from './pass-k.js';

describe('JOSH / ToolWOZ goal-API reward', () => {
  const goals = [
    {
      name: 'search_restaurant',
      args: { food: 'Italian', area: 'centre', pricerange: 'dont care' },
      entityId: 'r-7',
    },
    { name: 'book_restaurant', args: { day: 'monday', people: '2', time: '18:00', name: 'pizza hut' } },
  ];
  it('subset match after normalisation, or the single search result row', () => {
    expect(
      goalCallCompleted(goals[0]!, [
        { name: 'search_restaurant', args: { food: 'italian', area: 'Centre', name: 'x' } },
      ]),
    ).toBe(true);
    expect(goalCallCompleted(goals[0]!, [{ name: 'search_restaurant', args: { food: 'italian' } }])).toBe(
      false,
    );
    expect(
      goalCallCompleted(goals[0]!, [
        { name: 'search_restaurant', args: { food: 'italian' }, resultIds: ['r-7'] },
      ]),
    ).toBe(true);
    expect(
      goalCallCompleted(goals[0]!, [{ name: 'search_restaurant', args: {}, resultIds: ['r-7', 'r-8'] }]),
    ).toBe(false);
    expect(
      goalCallCompleted(goals[1]!, [
        { name: 'book_restaurant', args: { day: 'Monday', people: 2, time: '18:00', name: "Pizza Hut's" } },
      ]),
    ).toBe(false);
    expect(
      goalCallCompleted(goals[1]!, [
        { name: 'book_restaurant', args: { day: 'Monday', people: 2, time: '18:00', name: 'Pizza Hut' } },
      ]),
    ).toBe(true);
  });
  it('reward is the completed share; the summary gives average and 100% success rate', () => {
    const calls = [{ name: 'search_restaurant', args: { food: 'italian', area: 'centre' } }];
    expect(goalApiReward(goals, calls)).toBe(0.5);
    expect(joshSummary([1, 0.5, 1, 0])).toEqual({ dialogues: 4, averageReward: 0.625, fullSuccessRate: 0.5 });
  });
});

describe('tau-bench pass^k', () => {
  it('mean of C(c,k)/C(n,k) by hand', () => {
    // task 1: 3 of 4 -> pass^1 3/4, pass^2 C(3,2)/C(4,2) = 3/6; task 2: 4 of 4 -> 1, 1; task 3: 0 of 4 -> 0
    const t = [
      { trials: 4, successes: 3 },
      { trials: 4, successes: 4 },
      { trials: 4, successes: 0 },
    ];
    expect(passHatK(t, 1)).toBeCloseTo((0.75 + 1) / 3, 15);
    expect(passHatK(t, 2)).toBeCloseTo((0.5 + 1) / 3, 15);
    expect(passHatK(t, 4)).toBeCloseTo(1 / 3, 15);
    // pass@2 task 1: 1 - C(1,2)/C(4,2) = 1
    expect(passAtK(t, 2)).toBeCloseTo(2 / 3, 15);
    expect(() => passHatK(t, 5)).toThrow(/at least 5 trials/);
    const grouped = trialsByTask([
      { task: 'a', reward: 1 },
      { task: 'a', reward: 0 },
      { task: 'b', reward: 1 },
      { task: 'b', reward: 1 },
    ]);
    expect(passHatK(grouped, 2)).toBeCloseTo(0.5, 15);
  });
});

describe('MultiWOZ-style Inform / Success / Combined', () => {
  const goal = {
    hotel: { info: { area: 'east', stars: '4', parking: 'dont care' }, reqt: ['phone'] },
    taxi: { info: {}, reqt: ['car type'] },
  };
  it('inform needs a matching offered entity; success also every requested slot', () => {
    const good = {
      goal,
      outcome: {
        hotel: { offered: { area: 'East', stars: '4', name: 'a' }, provided: ['phone'] },
        taxi: { provided: ['car type'] },
      },
    };
    expect(informOf(good)).toBe(true);
    expect(successOf(good)).toBe(true);
    const wrongStars = {
      goal,
      outcome: {
        hotel: { offered: { area: 'east', stars: '3' }, provided: ['phone'] },
        taxi: { provided: ['car type'] },
      },
    };
    expect(informOf(wrongStars)).toBe(false);
    expect(successOf(wrongStars)).toBe(false);
    const missing = { goal, outcome: { hotel: { offered: { area: 'east', stars: '4' }, provided: [] } } };
    expect(informOf(missing)).toBe(true);
    expect(successOf(missing)).toBe(false);
    const none = { goal, outcome: {} };
    expect(informOf(none)).toBe(false);
    const s = multiwozScores([good, wrongStars, missing, none], ['the phone is 123'], ['the phone is 123']);
    // inform 2/4, success 1/4, BLEU 100 -> combined (50 + 25)/2 + 100
    expect(s).toMatchObject({ dialogues: 4, inform: 50, success: 25 });
    expect(s.bleu).toBeCloseTo(100, 10);
    expect(s.combined).toBeCloseTo(137.5, 10);
  });
});
