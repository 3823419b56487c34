import * as path from 'node:path';
import { createRunDir, defineCommand, OutputFormatSchema, RunNameSchema, writeJsonAtomic } from '@gopo/core';
import { writeSessions } from '@gopo/dialogue';
import { POLICY_NAMES, type PolicyName, ShopEnv, shopPolicies, simulate } from '@gopo/envs';
import {
  MAX_RESAMPLES,
  type MetricSummary,
  MetricsConfigSchema,
  scoreFile,
  scoringContext,
  selectMetrics,
  summarize,
} from '@gopo/rewards';
import { z } from 'zod';

const DEMO_METRICS = ['tse', 'esndcg', 'gre', 'success_rate', 'sop_compliance', 'user_turns'] as const;

export const DemoOptionsSchema = z.object({
  scenarios: z.number().int().min(1).max(100_000).default(300).describe('scenarios to simulate per policy'),
  policies: z
    .array(z.enum(POLICY_NAMES as unknown as [PolicyName, ...PolicyName[]]))
    .optional()
    .describe(`policies to compare (default: all of ${POLICY_NAMES.join(', ')})`),
  runDir: z.string().default('runs').describe('parent folder of the run folder'),
  name: RunNameSchema.default('demo').describe(
    'run name: one plain folder name (the run folder is replaced on each demo run; a folder that is not a run is never touched)',
  ),
  resamples: z
    .number()
    .int()
    .min(100)
    .max(MAX_RESAMPLES)
    .default(1000)
    .describe(`bootstrap resamples for the 95% intervals (100 to ${MAX_RESAMPLES})`),
  format: OutputFormatSchema,
});
export type DemoOptions = z.infer<typeof DemoOptionsSchema>;

export interface DemoRow {
  readonly policy: PolicyName;
  readonly sessions: number;
  readonly metrics: readonly MetricSummary[];
}

const fmt = (m: MetricSummary) =>
  Number.isNaN(m.value)
    ? 'n/a'
    : `${m.value.toFixed(m.name === 'gre' ? 3 : 1)} [${m.low.toFixed(m.name === 'gre' ? 3 : 1)}, ${m.high.toFixed(m.name === 'gre' ? 3 : 1)}]`;

/** Renders the policy x metric table with 95% bootstrap intervals. */
export function formatDemoTable(rows: readonly DemoRow[]): string {
  const header = ['policy', 'sessions', ...DEMO_METRICS];
  const body = rows.map((r) => [
    r.policy,
    String(r.sessions),
    ...DEMO_METRICS.map((name) => fmt(r.metrics.find((m) => m.name === name)!)),
  ]);
  const widths = header.map((h, j) => Math.max(h.length, ...body.map((b) => b[j]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, j) => c.padEnd(widths[j]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/**
 * The end-to-end path that exists today: simulate the shop with each scripted policy, write the logs,
 * score them with the metric suite through the same streaming path as `gopo eval`, and compare.
 * Later issues extend it with a short GOPO training run between simulation and scoring.
 */
export async function runDemo(
  options: DemoOptions,
  seed: number,
  log: (msg: string) => void,
): Promise<DemoRow[]> {
  const metricsConfig = MetricsConfigSchema.parse({
    metrics: [...DEMO_METRICS],
    bootstrap: { resamples: options.resamples },
  });
  const metrics = selectMetrics(metricsConfig);
  const ctx = scoringContext(metricsConfig);
  const run = await createRunDir(
    options.name,
    { ...options, seed, metrics: metricsConfig },
    { parent: options.runDir, overwrite: true },
  );
  try {
    const env = new ShopEnv();
    const rows: DemoRow[] = [];
    for (const policy of options.policies ?? POLICY_NAMES) {
      const sessions = simulate(shopPolicies.get(policy), { scenarios: options.scenarios, seed }, env);
      const file = path.join(run.root, `${policy}.jsonl`);
      await writeSessions(file, sessions);
      const evaluation = summarize(await scoreFile(file, metrics, ctx), metrics, metricsConfig, seed);
      rows.push({ policy, sessions: evaluation.sessions, metrics: evaluation.metrics });
      log(`${policy}: ${evaluation.sessions} sessions -> ${file}`);
    }
    await writeJsonAtomic(run.file('results.json'), rows);
    return rows;
  } finally {
    run.release();
  }
}

/** `gopo demo`: the main job on a small embedded default. */
export const demoCommand = defineCommand({
  path: ['demo'],
  describe: 'simulate the shop with each policy, score TSE/ESNDCG/GRE with 95% CIs and compare',
  options: DemoOptionsSchema,
  globals: ['seed'],
  examples: [['gopo demo --scenarios 1000 --seed 7', 'a larger comparison']],
  async run(args, ctx) {
    const rows = await runDemo(args, ctx.seed, (m) => ctx.logger.info(m));
    const runDir = path.resolve(args.runDir, args.name);
    if (args.format === 'json') ctx.out(JSON.stringify({ runDir, seed: ctx.seed, rows }, null, 2));
    else {
      ctx.out(formatDemoTable(rows));
      ctx.out(`\nlogs and results.json in ${runDir}`);
    }
    return 0;
  },
});
