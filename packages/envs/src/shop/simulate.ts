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
  readonly meanAgentTurns: number;
  /** Mean user turns per session (what `gopo eval` calls user_turns). */
  readonly meanUserTurns: number;
  /** Mean csat over the sessions that logged one (NaN when none did). */
  readonly meanCsat: number;
  /** Sessions that logged a csat. */
  readonly csatSessions: number;
  readonly conversionRate: number;
  /** SOP violations per agent turn. */
  readonly sopViolationRate: number;
  readonly byStatus: Readonly<Partial<Record<OutcomeStatus, number>>>;
  readonly successByGoal: Readonly<Record<string, number>>;
}

/** Aggregates sessions one at a time, so a long simulation keeps no session in memory. */
export class SummaryAccumulator {
  private n = 0;
  private success = 0;
  private agentTurns = 0;
  private userTurns = 0;
  private csat = 0;
  private csatCount = 0;
  private converted = 0;
  private violations = 0;
  private readonly byStatus: Partial<Record<OutcomeStatus, number>> = {};
  private readonly goalTotals: Record<string, [number, number]> = {};

  add(s: Session): void {
    this.n++;
    const ok = s.outcome.status === 'success';
    if (ok) this.success++;
    for (const t of s.turns) {
      if (t.role === 'user') this.userTurns++;
      else {
        this.agentTurns++;
        if (t.sop_violation) this.violations++;
      }
    }
    if (s.outcome.csat !== undefined) {
      this.csat += s.outcome.csat;
      this.csatCount++;
    }
    if (s.outcome.converted) this.converted++;
    this.byStatus[s.outcome.status] = (this.byStatus[s.outcome.status] ?? 0) + 1;
    const g = this.goalTotals[s.goal.type] ?? [0, 0];
    this.goalTotals[s.goal.type] = [g[0] + (ok ? 1 : 0), g[1] + 1];
  }

  summary(): SimulationSummary {
    const n = this.n || 1;
    return {
      sessions: this.n,
      successRate: this.success / n,
      meanAgentTurns: this.agentTurns / n,
      meanUserTurns: this.userTurns / n,
      meanCsat: this.csatCount > 0 ? this.csat / this.csatCount : Number.NaN,
      csatSessions: this.csatCount,
      conversionRate: this.converted / n,
      sopViolationRate: this.violations / (this.agentTurns || 1),
      byStatus: { ...this.byStatus },
      successByGoal: Object.fromEntries(Object.entries(this.goalTotals).map(([k, [a, b]]) => [k, a / b])),
    };
  }
}

/** Aggregate figures over simulated sessions. */
export function summarize(sessions: readonly Session[]): SimulationSummary {
  const acc = new SummaryAccumulator();
  for (const s of sessions) acc.add(s);
  return acc.summary();
}
