/**
 * JOSH / ToolWOZ goal-API rewards (Lattimer et al. 2025; data/toolwoz/README.md). A dialogue's goal is
 * a set of API calls; a goal call g(x) is completed when the agent called the same API f(y) with x a
 * subset of y after normalisation, or, for a search, got back exactly the goal's entity as the single
 * result row. Reward = completed / total goal calls; "100% success" = reward 1.
 */

export interface ApiCall {
  readonly name: string;
  readonly args: Readonly<Record<string, string | number | boolean | null | undefined>>;
  /** Ids of the rows a search returned (agent calls only). */
  readonly resultIds?: readonly string[];
}

export interface GoalCall extends ApiCall {
  /** For a search: the id of the entity the goal is about. */
  readonly entityId?: string;
}

const UNCONSTRAINED = new Set(['', 'dont care', "don't care", 'dontcare', 'not mentioned', 'none']);

/** Lower-case, apostrophes stripped, surrounding space trimmed. */
export function normalizeValue(v: unknown): string {
  return String(v).toLowerCase().replaceAll("'", '').trim();
}

/** A normalised value that puts no constraint on a search ("dont care", "not mentioned", ""). */
export function isUnconstrained(normalized: string): boolean {
  return UNCONSTRAINED.has(normalized);
}

function constraints(args: ApiCall['args']): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(args)) {
    if (v === null || v === undefined) continue;
    const n = normalizeValue(v);
    if (!isUnconstrained(n)) out.set(k, n);
  }
  return out;
}

export function goalCallCompleted(goal: GoalCall, calls: readonly ApiCall[]): boolean {
  const want = constraints(goal.args);
  for (const call of calls) {
    if (call.name !== goal.name) continue;
    const got = constraints(call.args);
    let subset = true;
    for (const [k, v] of want) {
      if (got.get(k) !== v) {
        subset = false;
        break;
      }
    }
    if (subset) return true;
    if (goal.entityId !== undefined && call.resultIds?.length === 1 && call.resultIds[0] === goal.entityId)
      return true;
  }
  return false;
}

/** Share of goal calls completed (1 when the goal has no calls). */
export function goalApiReward(goals: readonly GoalCall[], calls: readonly ApiCall[]): number {
  if (goals.length === 0) return 1;
  let done = 0;
  for (const g of goals) if (goalCallCompleted(g, calls)) done++;
  return done / goals.length;
}

export interface JoshSummary {
  readonly dialogues: number;
  /** Mean goal-API reward, 0..1. */
  readonly averageReward: number;
  /** Share of dialogues with reward 1, 0..1. */
  readonly fullSuccessRate: number;
}

export function joshSummary(rewards: readonly number[]): JoshSummary {
  const n = rewards.length;
  if (n === 0) return { dialogues: 0, averageReward: Number.NaN, fullSuccessRate: Number.NaN };
  let sum = 0;
  let full = 0;
  for (const r of rewards) {
    sum += r;
    if (r >= 1 - 1e-12) full++;
  }
  return { dialogues: n, averageReward: sum / n, fullSuccessRate: full / n };
}
