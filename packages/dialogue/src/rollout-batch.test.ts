import { describe, expect, it } from 'vitest';
import { SessionSchema } from './log-schema.js';
import {
  concatBatches,
  decisionStateText,
  decisionsByTrajectory,
  loggedDecisions,
  type RolloutBatch,
  RolloutBatchSchema,
  trajectoriesByGroup,
} from './rollout-batch.js';
import { shopSopDefault } from './sop.js';

const sop = shopSopDefault();
const logged = SessionSchema.parse({
  session_id: 's-1',
  goal: { type: 'purchase' },
  turns: [
    { role: 'user', text: 'Hi', events: [] },
    { role: 'agent', text: 'Hello!', strategy: 'greet', facts: ['customer: need not stated'] },
    { role: 'user', text: 'Headphones under $80', events: [{ type: 'need_stated' }] },
    { role: 'agent', text: 'Try these.', strategy: 'recommend' },
    { role: 'user', text: 'ok', events: [] },
    { role: 'agent', text: 'untagged' },
    { role: 'agent', text: 'bye', strategy: 'wave' },
    { role: 'agent', text: 'done', strategy: 'confirm_purchase' },
  ],
  outcome: { status: 'success' },
});

describe('logged decisions', () => {
  it('recomputes SOP states and masks and keeps logged facts', () => {
    const { decisions, problems } = loggedDecisions(logged, sop, 0);
    expect(decisions.map((d) => [d.turn, sop.strategies[d.action]])).toEqual([
      [1, 'greet'],
      [3, 'recommend'],
    ]);
    expect(decisions[0]!.state).toBe(decisionStateText('opening', ['customer: need not stated']));
    expect(decisions[1]!.state).toBe('sop: need_known');
    expect(decisions[1]!.mask).toEqual(sop.admissibleMask(sop.bits({ greeted: true, need_known: true })));
    expect(decisions.every((d) => d.behaviorLogProb === null && d.refLogProb === null)).toBe(true);
    expect(problems.map((p) => p.turn)).toEqual([5, 6, 7]);
    expect(problems[0]!.message).toMatch(/no strategy/);
    expect(problems[1]!.message).toMatch(/not in the strategy set/);
    expect(problems[2]!.message).toMatch(/violates the SOP/);
  });
});

describe('rollout batch', () => {
  const batch = (): RolloutBatch => {
    const { decisions } = loggedDecisions(logged, sop, 0);
    const traj = { scenario: 'a', group: 0, session: logged, reward: 1, rewardParts: {}, policyVersion: -1 };
    return {
      strategies: [...sop.strategies],
      trajectories: [traj, { ...traj, group: 1, scenario: 'b' }],
      decisions: [...decisions, ...decisions.map((d) => ({ ...d, trajectory: 1 }))],
    };
  };
  it('validates, groups and concatenates', () => {
    const b = batch();
    expect(RolloutBatchSchema.safeParse(JSON.parse(JSON.stringify(b))).success).toBe(true);
    expect(trajectoriesByGroup(b)).toEqual([[0], [1]]);
    expect(decisionsByTrajectory(b).map((l) => l.length)).toEqual([2, 2]);
    const c = concatBatches([b, b]);
    expect(c.trajectories.map((t) => t.group)).toEqual([0, 1, 2, 3]);
    expect(c.decisions.map((d) => d.trajectory)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
  });
  it('rejects an inadmissible action, a wrong mask length and a non-agent turn', () => {
    const b = batch();
    const d0 = b.decisions[0]!;
    const bad = (d: object) => RolloutBatchSchema.safeParse({ ...b, decisions: [{ ...d0, ...d }] });
    const pathOf = (r: ReturnType<typeof bad>) => (r.success ? null : r.error.issues[0]!.path);
    expect(pathOf(bad({ action: sop.strategies.indexOf('close') }))).toEqual(['decisions', 0, 'action']);
    expect(pathOf(bad({ mask: [true] }))).toEqual(['decisions', 0, 'mask']);
    expect(pathOf(bad({ turn: 0 }))).toEqual(['decisions', 0, 'turn']);
    expect(pathOf(bad({ trajectory: 5 }))).toEqual(['decisions', 0, 'trajectory']);
  });
});
