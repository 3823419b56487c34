import type { ToolAgentView } from '@gopo/dialogue';
import { TOOLWOZ_TOOLS, ToolwozDb, type ToolwozGoal } from '@gopo/envs';
import { describe, expect, it } from 'vitest';
import { episodeTokenScores, itemTokenMarks, type ToolStepReward } from './tool-step-rewards.js';
import { toolwozStatedItems, toolwozStepTruth } from './toolwoz-step-items.js';

// A one-row database and a goal that searches, books and asks for the phone (and a booking
// reference, which the database does not hold).
const db = new ToolwozDb({
  restaurant: [
    { name: 'Bangkok City', area: 'east', food: 'thai', pricerange: 'cheap', phone: '01223354382' },
    { name: 'Pizza Hut', area: 'east', food: 'italian', pricerange: 'cheap', phone: '01223323737' },
  ],
  hotel: [],
  attraction: [],
  train: [],
});
const goal: ToolwozGoal = {
  id: 'g1',
  source: 'sampled',
  domains: [
    {
      domain: 'restaurant',
      search: { area: 'east', food: 'thai' },
      book: { time: '19:00', day: 'monday', people: '2' },
      entity: 'Bangkok City',
      reqt: ['phone', 'reference'],
    },
  ],
};
const view: ToolAgentView = { system: '', tools: TOOLWOZ_TOOLS, messages: [{ role: 'user', content: 'hi' }] };

// Step 1: a search with one right and one wrong value, in six tokens.
const CALL = [
  '<|plan|>search',
  '<|call|>{"name":"search_restaurant","arguments":{"area":',
  '"ea',
  'st"',
  ',"food":"italian"',
  '}}',
];
// Step 2: a reply giving the entity's phone (completed by token 2), in four tokens.
const REPLY = ['<|plan|><|reply|>Bangkok City,', ' phone 0122', '3354382', '.'];
const decoder = (pieces: readonly string[]) => (ids: readonly number[]) =>
  ids.map((i) => pieces[i]!).join('');
const ids = (pieces: readonly string[]) => pieces.map((_, i) => i);
const searched = [{ name: 'search_restaurant', args: { area: 'east' }, resultIds: ['Bangkok City'] }];

describe('ToolWOZ step truth and stated items (hand-built)', () => {
  const truth = toolwozStepTruth(goal, db);

  it('SV: search constraints, booking details and the booked entity; S: requested slots the db holds', () => {
    expect([...truth.slots].sort()).toEqual(
      [
        'restaurant-area=east',
        'restaurant-day=monday',
        'restaurant-food=thai',
        'restaurant-name=bangkok city',
        'restaurant-people=2',
        'restaurant-time=19:00',
      ].sort(),
    );
    expect(truth.requests).toEqual(['restaurant-phone']);
  });

  it('a call states its arguments, each ending at its value; marks land on the completing token', () => {
    const text = CALL.join('');
    const items = toolwozStatedItems(text, { view, goal, db, truth, calls: [] });
    expect(items.map((i) => i.key)).toEqual(['restaurant-area=east', 'restaurant-food=italian']);
    expect(text.slice(0, items[0]!.end).endsWith('"east"')).toBe(true);
    expect(itemTokenMarks(ids(CALL), decoder(CALL), items)).toEqual([
      { token: 3, kind: 'slot', key: 'restaurant-area=east' },
      { token: 4, kind: 'slot', key: 'restaurant-food=italian' },
    ]);
  });

  it('a reply states a requested slot only with the value of an entity the searches found', () => {
    const text = REPLY.join('');
    const items = toolwozStatedItems(text, { view, goal, db, truth, calls: searched });
    expect(items.map((i) => i.key)).toEqual(['restaurant-phone']);
    expect(itemTokenMarks(ids(REPLY), decoder(REPLY), items)).toEqual([
      { token: 2, kind: 'request', key: 'restaurant-phone' },
    ]);
    // Before any search found the entity, the same words state nothing.
    expect(toolwozStatedItems(text, { view, goal, db, truth, calls: [] })).toEqual([]);
    // A malformed step states nothing.
    expect(toolwozStatedItems('<|call|>{"name":', { view, goal, db, truth, calls: searched })).toEqual([]);
  });

  it('progressive Ru / Rg / Rtod over the episode, the goal reward on its last token', () => {
    const call = toolwozStatedItems(CALL.join(''), { view, goal, db, truth, calls: [] });
    const reply = toolwozStatedItems(REPLY.join(''), { view, goal, db, truth, calls: searched });
    const steps = [
      { numTokens: 6, marks: itemTokenMarks(ids(CALL), decoder(CALL), call) },
      { numTokens: 4, marks: itemTokenMarks(ids(REPLY), decoder(REPLY), reply) },
    ];
    const scores = (reward: ToolStepReward) =>
      episodeTokenScores(steps, truth, 0.5, { reward, stepWeight: 1, goalWeight: 2 }).flatMap((s) =>
        Array.from(s),
      );
    // |SV| = 6 with one hit from token 3; |S| = 1 with its hit at token 6 + 2 = 8; goal 2 * 0.5 at token 9.
    // Ru = e^{-5/6}/6 = 0.0724330 at token 3. Rg = 1 at token 8.
    // Rtod = e^{-5/6}/7 = 0.0620855 at token 3, then (e^{-5/6} + 1)/7, an increase of 1/7, at token 8.
    const expectAll = (got: number[], want: number[]) => {
      expect(got.length).toBe(10);
      want.forEach((x, t) => {
        expect(got[t], `token ${t}`).toBeCloseTo(x, 6);
      });
    };
    expectAll(scores({ kind: 'u', alpha: 1 }), [0, 0, 0, 0.072433, 0, 0, 0, 0, 0, 1]);
    expectAll(scores({ kind: 'g', beta: 1 }), [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    expectAll(scores({ kind: 'tod', alpha: 1, beta: 1 }), [0, 0, 0, 0.0620855, 0, 0, 0, 0, 1 / 7, 1]);
    expectAll(scores({ kind: 'none' }), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // Stating the same value again in a later step earns nothing.
    const again = episodeTokenScores([...steps, steps[0]!], truth, 0, {
      reward: { kind: 'u', alpha: 1 },
      stepWeight: 1,
      goalWeight: 1,
    });
    expect(Array.from(again[2]!)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
