/**
 * Offline GOPO (`gopo train --from-logs logs.jsonl`): how a team uses GOPO on its own history. Each
 * logged session is a trajectory; its decisions are the logged strategies with SOP masks recomputed
 * by the SOP machine; its sequence reward R(tau) comes from its logged outcome and events. Sessions
 * are compared within a group key (goal type by default): every iteration deals each key's sessions
 * into groups of `rollout.groupSize` (reshuffled per iteration, seeded), and the same GOPO loss as
 * online trains on the preference pairs inside them. Behaviour log-probs are unknown in logs, so only
 * the pairwise loss applies. Held-out evaluation runs in the shop simulator, as online.
 */
import { Progress, Rng, UsageError } from '@gopo/core';
import {
  type DecisionRecord,
  loggedDecisions,
  type RolloutBatch,
  readSessions,
  type Session,
  shopSopDefault,
  type TrajectoryRecord,
} from '@gopo/dialogue';
import { gopoUpdate, withReferenceLogProbs } from '@gopo/expert-agent';
import { match } from 'ts-pattern';
import { sequenceRewardFn } from '../rewards.js';
import type { GopoTrainConfig } from './config.js';
import {
  evalMetrics,
  guardAlarms,
  openRunSession,
  type TrainRunOptions,
  type TrainRunResult,
  updateMetrics,
} from './run.js';

export interface OfflineOptions extends TrainRunOptions {
  readonly logs: string;
  readonly groupBy: 'goal' | 'goal_category';
}

/** A logged session that can train: its decisions, reward and group key. */
interface LoggedTrajectory {
  readonly line: number;
  readonly session: Session;
  readonly decisions: DecisionRecord[];
  readonly key: string;
  reward: number;
  parts: Record<string, number>;
}

const listLines = (lines: readonly number[]) =>
  `${lines.slice(0, 10).join(', ')}${lines.length > 10 ? `, ... (${lines.length} in all)` : ''}`;

/**
 * Reads and checks the logs: turns without a strategy label, strategies outside the set and SOP
 * violations are reported by line (they carry no decision); a session left with no decision is
 * skipped; keys with a single session cannot form a pair. None of it is silent.
 */
export async function readLoggedTrajectories(
  file: string,
  groupBy: OfflineOptions['groupBy'],
  warn: (message: string) => void,
): Promise<LoggedTrajectory[]> {
  const sop = shopSopDefault();
  const out: LoggedTrajectory[] = [];
  const unlabeled: number[] = [];
  const foreign = new Map<string, number[]>();
  const violations: number[] = [];
  const empty: number[] = [];
  let sessions = 0;
  for await (const { line, session } of readSessions(file)) {
    sessions++;
    const { decisions, problems } = loggedDecisions(session, sop, out.length);
    for (const p of problems)
      match(p)
        .with({ kind: 'unlabeled' }, () => unlabeled.push(line))
        .with({ kind: 'unknown_strategy' }, (q) =>
          foreign.set(q.strategy, [...(foreign.get(q.strategy) ?? []), line]),
        )
        .with({ kind: 'sop_violation' }, () => violations.push(line))
        .exhaustive();
    if (decisions.length === 0) {
      empty.push(line);
      continue;
    }
    const category = typeof session.goal.slots.category === 'string' ? session.goal.slots.category : '-';
    out.push({
      line,
      session,
      decisions,
      key: groupBy === 'goal' ? session.goal.type : `${session.goal.type}/${category}`,
      reward: Number.NaN,
      parts: {},
    });
  }
  if (sessions === 0) throw new UsageError(`${file}: no sessions`);
  const uniq = (xs: number[]) => [...new Set(xs)];
  if (unlabeled.length)
    warn(
      `${file}: agent turns without a strategy label carry no decision (lines ${listLines(uniq(unlabeled))})`,
    );
  for (const [name, lines] of foreign)
    warn(
      `${file}: strategy "${name}" is not in the strategy set; its turns carry no decision (lines ${listLines(uniq(lines))})`,
    );
  if (violations.length)
    warn(`${file}: SOP-violating turns are not training targets (lines ${listLines(uniq(violations))})`);
  if (empty.length)
    warn(
      `${file}: ${empty.length} session(s) have no usable decision and are skipped (lines ${listLines(empty)})`,
    );
  if (out.length === 0)
    throw new UsageError(
      `${file}: no session has a usable strategy decision (labels missing or outside the strategy set); nothing to train on`,
    );
  const counts = new Map<string, number>();
  for (const t of out) counts.set(t.key, (counts.get(t.key) ?? 0) + 1);
  const lonely = [...counts].filter(([, n]) => n < 2).map(([k]) => k);
  if (lonely.length)
    warn(`${file}: group(s) ${lonely.join(', ')} have a single session and form no preference pair`);
  if (lonely.length === counts.size)
    throw new UsageError(
      `${file}: every ${groupBy === 'goal' ? 'goal type' : 'goal/category'} group has a single session; GOPO needs at least two sessions of a group to form a pair`,
    );
  return out;
}

/** One iteration's batch: each key's sessions dealt into groups of `size` in a seeded order. */
export function dealGroups(
  trajectories: readonly LoggedTrajectory[],
  size: number,
  rng: Rng,
  strategies: readonly string[],
): RolloutBatch {
  const byKey = new Map<string, LoggedTrajectory[]>();
  for (const t of trajectories) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t]);
  const records: TrajectoryRecord[] = [];
  const decisions: DecisionRecord[] = [];
  let group = 0;
  for (const key of [...byKey.keys()].sort()) {
    const members = rng.shuffle(byKey.get(key)!.slice());
    for (let at = 0; at + 1 < members.length; at += size) {
      const chunk = members.slice(at, at + size);
      if (chunk.length < 2) break;
      for (const t of chunk) {
        const index = records.length;
        records.push({
          scenario: `${key}#${group}`,
          group,
          session: t.session,
          reward: t.reward,
          rewardParts: t.parts,
          policyVersion: -1,
        });
        for (const d of t.decisions) decisions.push({ ...d, trajectory: index });
      }
      group++;
    }
  }
  return { strategies: [...strategies], trajectories: records, decisions };
}

/** Runs (or resumes) offline GOPO on logged sessions. */
export async function runOfflineGopo(
  config: GopoTrainConfig,
  options: OfflineOptions,
): Promise<TrainRunResult> {
  if (config.loss.mode !== 'pairwise')
    throw new UsageError(
      '--from-logs trains the pairwise loss: the group-relative variant needs behaviour log-probs, which logs do not have',
    );
  const warn = (m: string) => options.logger.warn(m);
  const trajectories = await readLoggedTrajectories(options.logs, options.groupBy, warn);
  const session = await openRunSession(config, options, 'offline', {
    logs: options.logs,
    groupBy: options.groupBy,
  });
  const { c, log, run, reference, updater, strategies } = session;
  try {
    const scores = await sequenceRewardFn(c.metrics).score(trajectories.map((t) => t.session));
    trajectories.forEach((t, i) => {
      t.reward = scores[i]!.total;
      t.parts = { ...scores[i]!.parts };
    });
    log.info(
      `offline GOPO: ${trajectories.length} sessions, ${trajectories.reduce((n, t) => n + t.decisions.length, 0)} decisions from ${options.logs}`,
    );
    let latest = session.before;
    const total = c.loop.iterations;
    const progress = new Progress({
      total,
      label: 'gopo offline',
      ...(options.progress === false ? { enabled: false } : {}),
    });
    progress.tick(session.done);
    let interrupted = false;
    let phases = session.done;
    for (let it = session.done; it < total; it++) {
      if (options.stopAfterPhases !== undefined && it >= options.stopAfterPhases) {
        interrupted = true;
        break;
      }
      const batch = await withReferenceLogProbs(
        dealGroups(
          trajectories,
          c.rollout.groupSize,
          Rng.fromSeed(c.seed, `offline-groups:${it}`),
          strategies,
        ),
        reference,
      );
      const u = await gopoUpdate(updater, batch, {
        groupsPerStep: c.update.groupsPerStep,
        epochs: 1,
        rng: Rng.fromSeed(c.seed, `update:${it}`),
        maxRollbacks: c.guards.maxRollbacks,
      });
      let metrics: Record<string, number> = { phase: it, iteration: it, ...updateMetrics(u, c.loss.mode) };
      guardAlarms(metrics, c, it, log);
      if ((it + 1) % c.eval.every === 0 || it === total - 1) {
        latest = await session.evaluate(`after iteration ${it}`);
        metrics = { ...metrics, ...evalMetrics(latest.evaluation) };
      }
      await run.logMetrics(it + 1, metrics);
      await session.checkpoint(it + 1);
      phases = it + 1;
      progress.tick(1);
    }
    progress.done();
    return await session.finish(latest, phases, interrupted);
  } finally {
    await session.close();
  }
}
