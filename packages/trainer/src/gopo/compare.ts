/**
 * Several policies on the same held-out scenarios, over several seeds: per method and seed a
 * held-out evaluation, then per metric the mean over seeds with a t interval across seeds, and the
 * value with a bootstrap interval over all (seed, scenario) sessions pooled. Scripted and warm-start policies are
 * evaluated once per seed too (their sampling streams, if any, follow the seed), so every row of the
 * table has the same shape.
 */
import type { DialogueEnv, ReplyPolicy, Session, StrategyPolicy } from '@gopo/dialogue';
import type { MetricsConfig } from '@gopo/rewards';
import type { EpisodeRoles } from '../rollout/episodes.js';
import { InProcessPool } from '../rollout/worker-pool.js';
import { REPORT_METRICS, scoreInMemory } from './evaluate.js';
import { evalJobs } from './scenarios.js';

/** A method with a strategy layer: its strategy policy, with the shared CS Agent or its own. */
export interface StrategyMethodSpec {
  readonly name: string;
  /** The strategy policy of seed `seed` (a trained agent per seed, or one shared policy). */
  policy(seed: number): Promise<StrategyPolicy>;
  /** Sample strategies instead of the most probable (for stochastic baselines). */
  readonly sample?: boolean;
  /** The reply policy of seed `seed` when the method brings its own CS Agent (default: the shared one). */
  reply?(seed: number): Promise<ReplyPolicy>;
}

/** A method that brings all of its episode roles, e.g. a flat agent (loadFlatAgentRoles). */
export interface RolesMethodSpec {
  readonly name: string;
  /** The roles of seed `seed`; the shared reply policy is not used. */
  roles(seed: number): Promise<EpisodeRoles>;
  readonly sample?: boolean;
}

export type MethodSpec = StrategyMethodSpec | RolesMethodSpec;

async function methodRoles(m: MethodSpec, seed: number, reply: ReplyPolicy): Promise<EpisodeRoles> {
  if ('roles' in m) return m.roles(seed);
  return { strategy: await m.policy(seed), reply: m.reply ? await m.reply(seed) : reply };
}

export interface MethodResult {
  readonly name: string;
  /** Per seed, the held-out value of each metric. */
  readonly perSeed: readonly { readonly seed: number; readonly values: Readonly<Record<string, number>> }[];
  /** Per metric: mean over seeds, t interval across seeds, pooled session bootstrap interval. */
  readonly metrics: Readonly<
    Record<
      string,
      {
        readonly mean: number;
        readonly seedLow: number;
        readonly seedHigh: number;
        readonly pooled: { readonly value: number; readonly low: number; readonly high: number };
      }
    >
  >;
}

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Mean and 95% t interval of `xs` (a single value gets a zero-width interval). */
export function tInterval(xs: readonly number[]): { mean: number; low: number; high: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, low: mean, high: mean };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = (T975[Math.min(n - 1, T975.length) - 1] ?? 1.96) * (sd / Math.sqrt(n));
  return { mean, low: mean - half, high: mean + half };
}

/** Evaluates every method for every seed on the held-out scenarios 0..scenarios-1. */
export async function compareMethods(
  methods: readonly MethodSpec[],
  seeds: readonly number[],
  scenarios: number,
  makeEnv: () => DialogueEnv,
  reply: ReplyPolicy,
  metricsConfig: MetricsConfig,
  onDone?: (method: string, seed: number) => void,
): Promise<MethodResult[]> {
  const out: MethodResult[] = [];
  for (const m of methods) {
    const perSeed: { seed: number; values: Record<string, number> }[] = [];
    const pooled: Session[] = [];
    for (const seed of seeds) {
      const pool = new InProcessPool(await methodRoles(m, seed, reply), makeEnv);
      const sessions = (await pool.run(evalJobs(scenarios, { greedy: !m.sample, streamSeed: seed }))).map(
        (r) => r.session,
      );
      const { evaluation } = scoreInMemory(sessions, metricsConfig, seed);
      perSeed.push({ seed, values: Object.fromEntries(evaluation.metrics.map((x) => [x.name, x.value])) });
      for (const s of sessions) pooled.push({ ...s, session_id: `seed${seed}/${s.session_id}` });
      onDone?.(m.name, seed);
    }
    const all = scoreInMemory(pooled, metricsConfig, seeds[0] ?? 0).evaluation;
    const metrics: Record<string, MethodResult['metrics'][string]> = {};
    for (const name of REPORT_METRICS) {
      const t = tInterval(perSeed.map((p) => p.values[name]!));
      const p = all.metrics.find((x) => x.name === name)!;
      metrics[name] = {
        mean: t.mean,
        seedLow: t.low,
        seedHigh: t.high,
        pooled: { value: p.value, low: p.low, high: p.high },
      };
    }
    out.push({ name: m.name, perSeed, metrics });
  }
  return out;
}

const DIGITS: Record<string, number> = { gre: 3, user_turns: 2 };

/** The comparison as a markdown table: mean over seeds [95% interval across seeds]. */
export function comparisonTable(results: readonly MethodResult[]): string {
  const header = `| method | ${REPORT_METRICS.join(' | ')} |`;
  const rule = `| --- | ${REPORT_METRICS.map(() => '---').join(' | ')} |`;
  const rows = results.map((r) => {
    const cells = REPORT_METRICS.map((name) => {
      const m = r.metrics[name]!;
      const d = DIGITS[name] ?? 1;
      return Number.isFinite(m.mean)
        ? `${m.mean.toFixed(d)} [${m.seedLow.toFixed(d)}, ${m.seedHigh.toFixed(d)}]`
        : 'n/a';
    });
    return `| ${r.name} | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}
