import { Rng } from '@gopo/core';
import type { OutcomeStatus, Session } from '@gopo/dialogue';
import { ShopEnv, type ShopEnvConfigInput } from './env.js';
import type { ShopPolicy } from './policies.js';

/** Seed of episode `index` in a run seeded with `seed` (episodes are independent and reproducible). */
export function episodeSeed(seed: number, index: number): number {
  return (seed >>> 0) * 1_000_003 + index;
}

/** Plays one session to the end and returns its log record. */
export function runEpisode(env: ShopEnv, policy: ShopPolicy, seed: number, sessionId?: string): Session {
  const rng = Rng.fromSeed(seed, `policy:${policy.name}`);
  let { observation } = env.reset(seed, sessionId ? { sessionId } : {});
  while (!env.done) observation = env.step(policy.act(env, observation, rng)).info.observation;
  return env.session();
}

export interface SimulateOptions {
  readonly scenarios: number;
  readonly seed: number;
  readonly env?: ShopEnvConfigInput;
  /** Called with every finished session, in order. */
  readonly onSession?: (session: Session, index: number) => void;
}

/** Runs `scenarios` sessions with one policy; session ids are `shop-<seed>-<index>`. */
export function simulate(
  policy: ShopPolicy,
  options: SimulateOptions,
  env = new ShopEnv(options.env),
): Session[] {
  const out: Session[] = [];
  for (let i = 0; i < options.scenarios; i++) {
    const s = runEpisode(
      env,
      policy,
      episodeSeed(options.seed, i),
      `shop-${options.seed}-${String(i).padStart(5, '0')}`,
    );
    options.onSession?.(s, i);
    out.push(s);
  }
  return out;
}

export interface SimulationSummary {
  readonly sessions: number;
  readonly successRate: number;
  /** Mean agent turns per session. */
  readonly meanTurns: number;
  readonly meanCsat: number;
  readonly conversionRate: number;
  /** SOP violations per agent turn. */
  readonly sopViolationRate: number;
  readonly byStatus: Readonly<Partial<Record<OutcomeStatus, number>>>;
  readonly successByGoal: Readonly<Record<string, number>>;
}

/** Aggregate figures over simulated sessions. */
export function summarize(sessions: readonly Session[]): SimulationSummary {
  const n = sessions.length || 1;
  let success = 0;
  let turns = 0;
  let csat = 0;
  let converted = 0;
  let violations = 0;
  const byStatus: Partial<Record<OutcomeStatus, number>> = {};
  const goalTotals: Record<string, [number, number]> = {};
  for (const s of sessions) {
    const agentTurns = s.turns.filter((t) => t.role === 'agent');
    const ok = s.outcome.status === 'success';
    if (ok) success++;
    turns += agentTurns.length;
    csat += s.outcome.csat ?? 0;
    if (s.outcome.converted) converted++;
    violations += agentTurns.filter((t) => t.role === 'agent' && t.sop_violation).length;
    byStatus[s.outcome.status] = (byStatus[s.outcome.status] ?? 0) + 1;
    const g = goalTotals[s.goal.type] ?? [0, 0];
    goalTotals[s.goal.type] = [g[0] + (ok ? 1 : 0), g[1] + 1];
  }
  const totalTurns = turns || 1;
  return {
    sessions: sessions.length,
    successRate: success / n,
    meanTurns: turns / n,
    meanCsat: csat / n,
    conversionRate: converted / n,
    sopViolationRate: violations / totalTurns,
    byStatus,
    successByGoal: Object.fromEntries(Object.entries(goalTotals).map(([k, [a, b]]) => [k, a / b])),
  };
}
