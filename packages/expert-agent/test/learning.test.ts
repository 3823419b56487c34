/**
 * The Expert Agent learns: SFT warm start to near-zero loss, the pairwise GOPO update moving chosen
 * trajectories above rejected ones, the guard that undoes a non-finite step, and one optimizer across
 * the updater's length buckets. Tiny decoder, a few steps each.
 */
import { Rng } from '@gopo/core';
import {
  decisionsByTrajectory,
  type RolloutBatch,
  RolloutBatchSchema,
  trajectoriesByGroup,
} from '@gopo/dialogue';
import type { HostTensor } from '@gopo/nn';
import { describe, expect, it } from 'vitest';
import {
  buildPreferencePairs,
  decisionAccuracy,
  ExpertAgent,
  ExpertUpdater,
  encodeBatch,
  GopoLossConfigSchema,
  gopoPairwiseLoss,
  gopoTokenPairwiseLoss,
  gopoUpdate,
  groupAdvantages,
  groupRelativeLoss,
  type RowInput,
  sftWarmStart,
  TRAIN_LENGTH_BUCKET,
  withReferenceLogProbs,
} from '../src/index.js';
import {
  handBatch,
  handTrajectory,
  rowOf,
  scaleWeights,
  snapshotWeights,
  TEST_TRAINER,
  tinyAgent,
} from './fixtures.js';

/** sum_t log pi(a_t | s_t) of every trajectory of the batch under `agent` (its kept decisions). */
async function trajectoryLogProbs(
  agent: ExpertAgent,
  batch: RolloutBatch,
  slots = Infinity,
): Promise<number[]> {
  const rows = encodeBatch(agent, batch);
  const logps = await agent.decisionLogProbs(rows);
  return rows.map((r, i) => r.actions.slice(0, slots).reduce((sum, a, k) => sum + logps[i]![k]![a]!, 0));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Two groups of three hand-built trajectories, scored, with reference log-probs from `reference`. */
const scoredBatch = (reference: ExpertAgent, agentTurns = 3): Promise<RolloutBatch> =>
  withReferenceLogProbs(
    handBatch(
      [
        [1, 0.2, 0.6],
        [0.1, 0.9, 0.5],
      ],
      { agentTurns },
    ),
    reference,
  );

/** A reference that differs from `agent` (its weights shrunk), so the reference terms matter. */
function shrunkClone(agent: ExpertAgent): ExpertAgent {
  const reference = agent.clone();
  scaleWeights(reference.store, 0.9);
  return reference;
}

/** gopoUpdate over both groups at once, `epochs` steps. */
const update = (updater: ExpertUpdater, batch: RolloutBatch, epochs: number, seed: number) =>
  gopoUpdate(updater, batch, {
    groupsPerStep: 2,
    epochs,
    rng: Rng.fromSeed(seed, 'update'),
    maxRollbacks: 0,
  });

describe('SFT warm start', () => {
  it('a tiny agent fits a handful of logged trajectories: loss near zero, every parameter moves', async () => {
    const agent = await tinyAgent(3);
    const items = [1, 2, 3, 4].map((s) =>
      rowOf(agent.encoder, handTrajectory(s, { agentTurns: 3, undecided: s === 2 ? [1] : [] })),
    );
    const before = snapshotWeights(agent);
    const updater = await ExpertUpdater.create(
      agent,
      { rows: 4, seqLen: 256, slots: 3 },
      { kind: 'sft' },
      TEST_TRAINER,
    );
    const losses = await sftWarmStart(updater, items, { steps: 60, rng: Rng.fromSeed(1, 'sft') });
    expect(losses[0]).toBeGreaterThan(1);
    expect(losses.at(-1)).toBeLessThan(0.05);
    expect(agent.version).toBe(60);
    for (const [name, w] of before)
      expect(maxAbsDiff(w, agent.store.get(name).data as Float32Array), name).toBeGreaterThan(0);
    expect(decisionAccuracy(await agent.decisionLogProbs(items), items)).toBe(1);
  });
});

describe('pairwise GOPO update', () => {
  const pairwise = (agent: ExpertAgent, rows: number, slots: number, loss: object) =>
    ExpertUpdater.create(
      agent,
      { rows, seqLen: 256, slots },
      { kind: 'pairwise', loss: GopoLossConfigSchema.parse(loss), pairs: rows },
      TEST_TRAINER,
    );

  it('raises the log-prob of every chosen trajectory relative to its rejected one', async () => {
    const agent = await tinyAgent(4);
    const batch = await scoredBatch(agent.clone());
    const updater = await pairwise(agent, 6, 3, { beta: 1 });
    const before = await trajectoryLogProbs(agent, batch);
    const r = await update(updater, batch, 8, 2);
    const after = await trajectoryLogProbs(agent, batch);
    expect(r.pairs).toBe(6);
    expect(r.steps).toBe(8);
    for (const members of trajectoriesByGroup(batch))
      for (const p of buildPreferencePairs(
        members.map((m) => batch.trajectories[m]!.reward!),
        0.02,
      )) {
        const c = members[p.chosen]!;
        const j = members[p.rejected]!;
        expect(after[c]! - after[j]! - (before[c]! - before[j]!), `pair ${c} > ${j}`).toBeGreaterThan(0.1);
      }
    expect(r.history.at(-1)!.loss).toBeLessThan(r.history[0]!.loss!);
    expect(r.history.at(-1)!['rewards/accuracies']).toBe(1);
  });

  it.each([
    { slots: 4, what: 'every decision in a slot' },
    { slots: 3, what: 'more decisions than slots (the later ones carry no loss)' },
  ])("a step's loss is gopoPairwiseLoss of the log-probs before it: $what", async ({ slots }) => {
    const agent = await tinyAgent(6, { scale: 10 });
    const batch = await scoredBatch(shrunkClone(agent), 4);
    const cfg = GopoLossConfigSchema.parse({ beta: 0.7, lengthNormalize: true, nllWeight: 0.3 });
    const updater = await pairwise(agent, 6, slots, cfg);
    const policy = await trajectoryLogProbs(agent, batch, slots);
    const byTrajectory = decisionsByTrajectory(batch);
    const refSum = byTrajectory.map((ds) => ds.slice(0, slots).reduce((s, d) => s + d.refLogProb!, 0));
    const turns = byTrajectory.map((ds) => Math.min(ds.length, slots));
    const pairs = trajectoriesByGroup(batch).flatMap((members) =>
      buildPreferencePairs(
        members.map((m) => batch.trajectories[m]!.reward!),
        cfg.margin,
      ).map((p) => ({ chosen: members[p.chosen]!, rejected: members[p.rejected]! })),
    );
    const host = gopoPairwiseLoss({ policy, reference: refSum, turns }, pairs, cfg);
    const r = await update(updater, batch, 1, 3);
    expect(r.steps).toBe(1);
    expect(Math.abs(r.history[0]!.loss! - host.loss)).toBeLessThan(1e-4 * Math.max(1, host.loss));
    expect(Math.abs(r.history[0]!['rewards/margins']! - host.metrics['rewards/margins']!)).toBeLessThan(1e-3);
  });
});

describe('token-level pairwise GOPO update (loss.preference "token")', () => {
  it("a step's loss and metrics are gopoTokenPairwiseLoss of the per-decision log-probs before it", async () => {
    const agent = await tinyAgent(6, { scale: 10 });
    // trajectories of 4 decisions kept in 3 slots, against a reference that differs from the agent
    const batch = await scoredBatch(shrunkClone(agent), 4);
    const cfg = GopoLossConfigSchema.parse({ beta: 0.7, nllWeight: 0.3, preference: 'token' });
    const slots = 3;
    const updater = await ExpertUpdater.create(
      agent,
      { rows: 6, seqLen: 256, slots },
      { kind: 'pairwise', loss: cfg, pairs: 6 },
      TEST_TRAINER,
    );
    const rows = encodeBatch(agent, batch);
    const logps = await agent.decisionLogProbs(rows);
    const byTrajectory = decisionsByTrajectory(batch);
    const policy: number[][] = [];
    const reference: number[][] = [];
    rows.forEach((r, i) => {
      policy[r.trajectory] = r.actions.slice(0, slots).map((a, k) => logps[i]![k]![a]!);
      reference[r.trajectory] = byTrajectory[r.trajectory]!.slice(0, slots).map((d) => d.refLogProb!);
    });
    const pairs = trajectoriesByGroup(batch).flatMap((members) =>
      buildPreferencePairs(
        members.map((m) => batch.trajectories[m]!.reward!),
        cfg.margin,
      ).map((p) => ({ chosen: members[p.chosen]!, rejected: members[p.rejected]! })),
    );
    const host = gopoTokenPairwiseLoss({ policy, reference }, pairs, cfg);
    const r = await update(updater, batch, 1, 3);
    expect(r.steps).toBe(1);
    expect(Math.abs(r.history[0]!.loss! - host.loss)).toBeLessThan(1e-4 * Math.max(1, host.loss));
    expect(Math.abs(r.history[0]!['rewards/margins']! - host.metrics['rewards/margins']!)).toBeLessThan(1e-3);
    // it learns: more steps raise the chosen decisions over the rejected ones
    const more = await update(updater, batch, 8, 4);
    expect(more.history.at(-1)!.loss).toBeLessThan(r.history[0]!.loss!);
  });
});

/**
 * The batch with every other decision of each trajectory marked inadmissible in its record and its
 * turn logging the SOP violation: the rollouts of an unmasked policy.
 */
function withViolations(batch: RolloutBatch): RolloutBatch {
  const trajectories = batch.trajectories.map((t) => ({
    ...t,
    session: { ...t.session, turns: t.session.turns.map((turn) => ({ ...turn })) },
  }));
  const seen = new Map<number, number>();
  const decisions = batch.decisions.map((d) => {
    const k = seen.get(d.trajectory) ?? 0;
    seen.set(d.trajectory, k + 1);
    if (k % 2 === 1) return d;
    const turn = trajectories[d.trajectory]!.session.turns[d.turn]!;
    if (turn.role === 'agent') turn.sop_violation = true;
    return { ...d, mask: d.mask.map((ok, s) => ok && s !== d.action) };
  });
  return RolloutBatchSchema.parse({ ...batch, trajectories, decisions });
}

describe('GOPO update without SOP masking', () => {
  it('a masked agent refuses a batch with inadmissible actions; an unmasked one trains on it over every strategy', async () => {
    const base = await tinyAgent(6, { scale: 10 });
    const agent = new ExpertAgent(base.config, base.tokenizer, base.strategies, base.store, 0, {
      intraOpThreads: 1,
      sopMasking: false,
    });
    const batch = withViolations(
      handBatch(
        [
          [1, 0.2, 0.6],
          [0.1, 0.9, 0.5],
        ],
        { agentTurns: 3 },
      ),
    );
    await expect(withReferenceLogProbs(batch, base.clone())).rejects.toThrow(/does not admit/);
    const reference = agent.clone();
    scaleWeights(reference.store, 0.9);
    const scored = await withReferenceLogProbs(batch, reference);
    expect(scored.decisions.every((d) => Number.isFinite(d.refLogProb))).toBe(true);
    const cfg = GopoLossConfigSchema.parse({ beta: 0.7 });
    const updater = await ExpertUpdater.create(
      agent,
      { rows: 6, seqLen: 256, slots: 3 },
      { kind: 'pairwise', loss: cfg, pairs: 6 },
      TEST_TRAINER,
    );
    // The host loss over the unmasked log-probs (every strategy, the inadmissible actions included).
    const policy = await trajectoryLogProbs(agent, scored);
    const refSum = decisionsByTrajectory(scored).map((ds) => ds.reduce((s, d) => s + d.refLogProb!, 0));
    const pairs = trajectoriesByGroup(scored).flatMap((members) =>
      buildPreferencePairs(
        members.map((m) => scored.trajectories[m]!.reward!),
        cfg.margin,
      ).map((p) => ({ chosen: members[p.chosen]!, rejected: members[p.rejected]! })),
    );
    const host = gopoPairwiseLoss({ policy, reference: refSum, turns: [3, 3, 3, 3, 3, 3] }, pairs, cfg);
    expect(policy.every((p) => Number.isFinite(p) && p > -100)).toBe(true);
    const r = await update(updater, scored, 1, 3);
    expect(r.history[0]!.rolled_back).toBe(0);
    expect(Math.abs(r.history[0]!.loss! - host.loss)).toBeLessThan(1e-4 * Math.max(1, host.loss));
  });
});

describe('group-relative GOPO update', () => {
  it("a step's loss is groupRelativeLoss of the log-probs before it, with each group's advantages", async () => {
    const agent = await tinyAgent(7, { scale: 10 });
    let batch = await scoredBatch(shrunkClone(agent));
    const rows = encodeBatch(agent, batch);
    const logps = await agent.decisionLogProbs(rows);
    // behaviour log-probs off the current ones by +-0.3, so some ratios are clipped
    const shift = (k: number) => (k % 2 === 0 ? 0.3 : -0.3);
    const behaviour = new Map<object, number>();
    const byTrajectory = decisionsByTrajectory(batch);
    rows.forEach((r, i) => {
      r.encoded.decisions.forEach((k, j) => {
        const d = byTrajectory[r.trajectory]![k]!;
        behaviour.set(d, logps[i]![j]![d.action]! + shift(j));
      });
    });
    batch = {
      ...batch,
      decisions: batch.decisions.map((d) => ({ ...d, behaviorLogProb: behaviour.get(d)! })),
    };
    const cfg = GopoLossConfigSchema.parse({ mode: 'group_relative', clipEps: 0.2, klCoef: 0.1 });
    const host = {
      logp: [] as number[],
      oldLogp: [] as number[],
      refLogp: [] as number[],
      advantage: [] as number[],
    };
    for (const members of trajectoriesByGroup(batch)) {
      const adv = groupAdvantages(
        members.map((m) => batch.trajectories[m]!.reward!),
        cfg.advantageEps,
      );
      members.forEach((m, j) => {
        const row = rows.findIndex((r) => r.trajectory === m);
        decisionsByTrajectory(batch)[m]!.forEach((d, k) => {
          host.logp.push(logps[row]![k]![d.action]!);
          host.oldLogp.push(d.behaviorLogProb!);
          host.refLogp.push(d.refLogProb!);
          host.advantage.push(adv[j]!);
        });
      });
    }
    const expected = groupRelativeLoss(host, cfg);
    expect(expected.metrics['policy/clip_frac']).toBeGreaterThan(0);
    const updater = await ExpertUpdater.create(
      agent,
      { rows: 6, seqLen: 256, slots: 3 },
      { kind: 'group_relative', loss: cfg },
      TEST_TRAINER,
    );
    const r = await update(updater, batch, 1, 4);
    expect(r.steps).toBe(1);
    expect(Math.abs(r.history[0]!.loss! - expected.loss)).toBeLessThan(1e-4);
    expect(Math.abs(r.history[0]!['policy/kl']! - expected.metrics['policy/kl']!)).toBeLessThan(1e-4);
    expect(r.history[0]!['policy/clip_frac']).toBeCloseTo(expected.metrics['policy/clip_frac']!, 5);
  });
});

describe('ExpertUpdater', () => {
  /** Two items of about `words`-word messages, as rows for `agent`. */
  const items = (agent: ExpertAgent, seed: number, agentTurns: number, words: number): RowInput[] =>
    [seed, seed + 1].map((s) => rowOf(agent.encoder, handTrajectory(s, { agentTurns, words })));
  const NAN_WEIGHTS: HostTensor = {
    dtype: 'float32',
    dims: [3, 5],
    data: new Float32Array(15).fill(Number.NaN),
  };

  it('keeps one optimizer across length buckets, and undoes a non-finite step bit for bit', async () => {
    const a = await tinyAgent(5);
    const b = a.clone();
    const short = items(a, 10, 2, 3);
    const long = items(a, 20, 5, 6);
    for (const it of short) expect(it.encoded.ids.length).toBeLessThanOrEqual(TRAIN_LENGTH_BUCKET);
    for (const it of long) expect(it.encoded.ids.length).toBeGreaterThan(TRAIN_LENGTH_BUCKET);
    // A long row without decisions: it carries no loss but pads b's short steps to the long bucket.
    const filler = handTrajectory(30, { agentTurns: 5, words: 6 });
    const fill: RowInput = { encoded: a.encoder.encode(filler.turns, []), masks: [], actions: [] };
    const shape = { rows: 3, seqLen: 256, slots: 5 };
    const ua = await ExpertUpdater.create(a, shape, { kind: 'sft' }, TEST_TRAINER);
    const ub = await ExpertUpdater.create(b, shape, { kind: 'sft' }, TEST_TRAINER);
    const step = async (batch: RowInput[]) => {
      const ra = await ua.step(batch);
      const rb = await ub.step(batch === short ? [...short, fill] : batch);
      expect(ra.rolledBack || rb.rolledBack).toBe(false);
      expect(Math.abs(ra.loss - rb.loss)).toBeLessThan(1e-5);
    };
    const expectSameWeights = (tol: number) => {
      for (const [name, t] of a.store.entries())
        expect(maxAbsDiff(t.data as Float32Array, b.store.get(name).data as Float32Array), name).toBeLessThan(
          tol,
        );
    };
    for (const batch of [short, long, short, long, short]) await step(batch);
    expect(ua.steps).toBe(5);
    expectSameWeights(1e-5);

    // A NaN step on either bucket, right after a switch or not, is undone: weights, optimizer state
    // and step count as before it.
    for (const batch of [long, long, short]) {
      const weights = snapshotWeights(a);
      const version = a.version;
      const r = await ua.step(batch, { weights: NAN_WEIGHTS });
      expect(r.rolledBack).toBe(true);
      expect(Number.isFinite(r.loss)).toBe(false);
      expect(a.version).toBe(version);
      expect(ua.steps).toBe(5);
      for (const [name, w] of weights) expect(a.store.get(name).data, name).toEqual(w);
    }
    // ... so the run goes on exactly as if it had never been tried.
    for (const batch of [long, short]) await step(batch);
    expect(ua.steps).toBe(7);
    expectSameWeights(1e-5);
  });
});
