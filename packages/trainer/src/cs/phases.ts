/**
 * The CS Agent's training phases (DESIGN.md 4.6), with the Expert Agent frozen:
 *
 * - per-turn RL: episodes are played with the Expert's strategies and the current reply model; at
 *   every agent turn, K replies are sampled for that very state and strategy; each is scored
 *   r = l_adh adherence + l_sop compliance + l_step step - beta_KL KL (rewards' turnReward with the
 *   adaptive KL controller), where adherence is the training judge's verdict, compliance that the
 *   detected strategy (if any) is SOP-admissible, step Du et al.'s Rg over the entities the template
 *   agent's reply for the same state states, and KL the reply's log-ratio to the SFT reference; the
 *   advantage is r minus the mean of its state's group; the clipped surrogate trains the reply tokens.
 * - KTO: one sampled reply per turn, good when the judge reads the commanded strategy and every
 *   entity it states is one the template reply states too, bad otherwise.
 */
import { type Rng, UsageError } from '@gopo/core';
import type { CsAgent, CsUpdater, ReplyItem } from '@gopo/cs-agent';
import type { AgentState, ReplyRequest, StrategyJudge } from '@gopo/dialogue';
import {
  generationReward,
  type KlController,
  type ObjectiveConfig,
  overlap,
  type StepRewardConfig,
  turnReward,
} from '@gopo/rewards';
import type { EpisodeJob, TurnRecord } from '../rollout/episodes.js';
import type { RolloutWorkerPool } from '../rollout/worker-pool.js';
import { statedValues } from './step-marks.js';

export interface CsPhaseContext {
  readonly agent: CsAgent;
  /** The frozen SFT reply model (the KL anchor). */
  readonly reference: CsAgent;
  readonly updater: CsUpdater;
  /** Episodes with the frozen Expert and `agent` as the reply policy. */
  readonly pool: RolloutWorkerPool;
  /** The judge the reward reads (the other judge only evaluates). */
  readonly judge: StrategyJudge;
  /** The template agent's replies for states (the entities a reply is asked to state). */
  readonly referenceReplies: (requests: readonly ReplyRequest[]) => Promise<string[]>;
  readonly weights: ObjectiveConfig;
  readonly kl: KlController;
  /** The step reward's rates: Rg's beta (per-turn RL, KTO), Rtod's alpha (PPO's token rewards). */
  readonly stepReward: StepRewardConfig;
}

/** A scored reply. */
export interface Scored {
  readonly item: ReplyItem;
  /** The `kind:value` keys the template reply for the same state and strategy states (the step reward's truth). */
  readonly truth: readonly string[];
  readonly reward: number;
  readonly adherent: boolean;
  readonly compliant: boolean;
  readonly step: number;
  readonly kl: number;
  readonly group: number;
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** Plays `jobs` and returns the (state, strategy) of every agent turn. */
export async function collectTurns(
  pool: RolloutWorkerPool,
  jobs: readonly EpisodeJob[],
): Promise<TurnRecord[]> {
  const turns: TurnRecord[] = [];
  await pool.run(jobs, { onTurn: (t) => turns.push(t) });
  if (turns.length === 0) throw new UsageError('the episodes produced no agent turn to learn from');
  return turns;
}

/** Samples `k` replies per turn and scores each (reward parts, KL to the reference). */
export async function sampleAndScore(
  ctx: CsPhaseContext,
  turns: readonly TurnRecord[],
  k: number,
  temperature: number,
  rng: Rng,
): Promise<Scored[]> {
  const requests: (ReplyRequest & { group: number })[] = turns.flatMap((t, group) =>
    Array.from({ length: k }, () => ({
      state: t.state,
      strategy: t.strategy,
      seed: rng.int(2 ** 31),
      group,
    })),
  );
  const generated = await ctx.agent.generate(requests, { temperature });
  const detected = await ctx.judge.judge(generated.map((g) => g.text));
  const refs = await ctx.referenceReplies(
    turns.map((t, i) => ({ state: t.state, strategy: t.strategy, seed: i })),
  );
  const refLogp = (
    await ctx.reference.model.scoreContinuations(
      generated.map((g) => [...g.prompt]),
      generated.map((g) => [...g.tokens]),
    )
  ).sums;
  const beta = ctx.kl.value;
  return generated.map((g, i) => {
    const req = requests[i]!;
    const state: AgentState = req.state;
    const found = detected[i] ?? null;
    const adherent = found === req.strategy;
    const idx = found === null ? -1 : ctx.agent.tokenizer.strategies.indexOf(found);
    // A reply that performs no recognisable move breaks no SOP rule; one that performs a move the
    // SOP does not admit here does.
    const compliant = found === null || (idx >= 0 && state.admissible[idx] === true);
    const step = generationReward(
      overlap(statedValues(refs[req.group]!), statedValues(g.text)),
      ctx.stepReward.beta,
    );
    const behaviour = g.logprobs.reduce((a, b) => a + b, 0);
    const kl = behaviour - refLogp[i]!;
    const reward = turnReward(
      { adherence: adherent ? 1 : 0, compliance: compliant ? 1 : 0, step, kl },
      ctx.weights,
      beta,
    );
    return {
      item: { prompt: g.prompt, tokens: g.tokens, logprobs: g.logprobs, refLogp: refLogp[i]! },
      truth: statedValues(refs[req.group]!),
      reward,
      adherent,
      compliant,
      step,
      kl,
      group: req.group,
    };
  });
}

export interface CsPhaseResult {
  readonly metrics: Record<string, number>;
}

function scoredMetrics(scored: readonly Scored[]): Record<string, number> {
  return {
    'cs/reward': mean(scored.map((s) => s.reward)),
    'cs/adherence': mean(scored.map((s) => (s.adherent ? 1 : 0))),
    'cs/compliance': mean(scored.map((s) => (s.compliant ? 1 : 0))),
    'cs/step': mean(scored.map((s) => s.step)),
    'cs/kl': mean(scored.map((s) => s.kl)),
    'cs/replies': scored.length,
  };
}

/** One per-turn RL phase on the turns of `jobs`. */
export async function csRlPhase(
  ctx: CsPhaseContext,
  jobs: readonly EpisodeJob[],
  options: { samples: number; temperature: number; epochs: number; rng: Rng },
): Promise<CsPhaseResult> {
  const turns = await collectTurns(ctx.pool, jobs);
  const scored = await sampleAndScore(ctx, turns, options.samples, options.temperature, options.rng);
  const groups = new Map<number, Scored[]>();
  for (const s of scored) groups.set(s.group, [...(groups.get(s.group) ?? []), s]);
  const items: ReplyItem[][] = [...groups.values()].map((g) => {
    const m = mean(g.map((s) => s.reward));
    return g.map((s) => ({ ...s.item, advantage: s.reward - m }));
  });
  const losses: number[] = [];
  const rows = ctx.updater.rows;
  const perStep = Math.max(1, Math.floor(rows / options.samples));
  for (let e = 0; e < options.epochs; e++) {
    const order = options.rng.shuffle(items.filter((g) => g.some((i) => Math.abs(i.advantage ?? 0) > 1e-9)));
    for (let at = 0; at < order.length; at += perStep) {
      const r = await ctx.updater.step(order.slice(at, at + perStep).flat());
      losses.push(r.loss);
    }
  }
  const klMean = mean(scored.map((s) => s.kl));
  ctx.kl.update(klMean);
  return {
    metrics: {
      ...scoredMetrics(scored),
      'loss/cs_rl': mean(losses),
      'cs/steps': losses.length,
      'cs/beta': ctx.kl.value,
    },
  };
}

/** One KTO phase on the turns of `jobs`: one sampled reply per turn, labelled good or bad. */
export async function csKtoPhase(
  ctx: CsPhaseContext,
  jobs: readonly EpisodeJob[],
  options: { temperature: number; epochs: number; rng: Rng },
): Promise<CsPhaseResult> {
  const turns = await collectTurns(ctx.pool, jobs);
  const scored = await sampleAndScore(ctx, turns, 1, options.temperature, options.rng);
  const items: ReplyItem[] = scored.map((s) => ({
    ...s.item,
    desirable: s.adherent && s.compliant && s.step >= 1 - 1e-9,
  }));
  // KTO's reference point: the batch's KL estimate, clamped at zero and held constant.
  const zRef = Math.max(0, mean(scored.map((s) => s.kl)));
  const losses: number[] = [];
  for (let e = 0; e < options.epochs; e++) {
    const order = options.rng.shuffle(items.slice());
    for (let at = 0; at < order.length; at += ctx.updater.rows) {
      const r = await ctx.updater.step(order.slice(at, at + ctx.updater.rows), zRef);
      losses.push(r.loss);
    }
  }
  return {
    metrics: {
      ...scoredMetrics(scored),
      'kto/desirable': mean(items.map((i) => (i.desirable ? 1 : 0))),
      'kto/z_ref': zRef,
      'loss/kto': mean(losses),
      'cs/steps': losses.length,
    },
  };
}
