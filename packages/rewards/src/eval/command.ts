import * as path from 'node:path';
import { defineCommand, Progress, progressEnabled, resolveCommandConfig, writeFileAtomic } from '@gopo/core';
import { noSessionsError } from '@gopo/dialogue';
import { z } from 'zod';
import { MAX_RESAMPLES, type MetricsConfig, MetricsConfigSchema } from '../config.js';
import { compareScored, scoreFile, scoringContext, selectMetrics, summarize } from './evaluate.js';
import { type EvalReport, formatReport } from './format.js';

export const EvalOptionsSchema = z.object({
  logs: z.string().describe('Mgshop-style JSONL log to score'),
  against: z
    .string()
    .optional()
    .describe('a second log of the same sessions (paired by session_id) to compare with'),
  format: z.enum(['table', 'json', 'md']).default('table').describe('output format'),
  out: z.string().optional().describe('also write the report to this file (atomically; never on error)'),
  skipInvalid: z.boolean().default(false).describe('score the valid lines and report how many were skipped'),
  resamples: z
    .number()
    .int()
    .min(10)
    .max(MAX_RESAMPLES)
    .optional()
    .describe(`bootstrap resamples, 10 to ${MAX_RESAMPLES} (overrides the config)`),
  workers: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(1)
    .describe('worker threads that parse and score each log (same report for any count; 1: no threads)'),
  reader: z
    .enum(['wasm', 'json'])
    .default('wasm')
    .describe(
      'line reader: the WebAssembly scanner (lines it does not vouch for take JSON.parse) or JSON.parse for every line; same report',
    ),
});
export type EvalOptions = z.infer<typeof EvalOptionsSchema>;

export const evalCommand = defineCommand({
  path: ['eval'],
  describe: 'Score Mgshop-style logs: TSE, ESNDCG, GRE and the other session metrics, with bootstrap CIs',
  positionals: [{ name: 'logs' }],
  options: EvalOptionsSchema,
  globals: ['seed', 'config', 'set'],
  files: { inputs: ['logs', 'against'], outputs: ['out'] },
  examples: [
    ['gopo eval logs.jsonl', 'per-metric table with 95% bootstrap intervals and per-goal breakdowns'],
    ['gopo eval gopo.jsonl --against ppo.jsonl --format md', 'paired comparison of two systems'],
    [
      'gopo eval logs.jsonl --config metrics.yaml --format json --out report.json',
      'custom weights, JSON report',
    ],
  ],
  async run(args, ctx) {
    const loaded = await resolveCommandConfig(MetricsConfigSchema, ctx);
    const config: MetricsConfig = args.resamples
      ? { ...loaded, bootstrap: { ...loaded.bootstrap, resamples: args.resamples } }
      : loaded;
    const metrics = selectMetrics(config, ctx.configFile ?? '(default config)');
    const scoring = scoringContext(config, ctx.configFile ?? '(default config)');
    const keepIds = args.against !== undefined;
    const opts = { skipInvalid: args.skipInvalid, keepIds, workers: args.workers, reader: args.reader };
    // Progress on stderr (a TTY, not CI, not --quiet): megabytes scored, then bootstrap resamples.
    const show = !ctx.quiet && progressEnabled();
    const withBar = async <T>(
      label: string,
      unit: number,
      run: (tick?: (done: number, total: number) => void) => T | Promise<T>,
    ): Promise<T> => {
      if (!show) return run();
      let bar: Progress | null = null;
      const result = await run((done, total) => {
        bar ??= new Progress({ label, total: Math.ceil(total / unit), enabled: true });
        const units = done >= total ? Math.ceil(total / unit) : Math.floor(done / unit);
        if (units > bar.value) bar.tick(units - bar.value);
      });
      (bar as Progress | null)?.done();
      return result;
    };
    const scoreWithProgress = (file: string) =>
      withBar(`scoring ${path.basename(file)} (MB)`, 2 ** 20, (tick) =>
        scoreFile(file, metrics, scoring, { ...opts, ...(tick ? { onProgress: tick } : {}) }),
      );
    const scored = await scoreWithProgress(args.logs);
    const other = args.against !== undefined ? await scoreWithProgress(args.against) : undefined;
    for (const s of [scored, other]) {
      if (!s) continue;
      if (s.table.rows === 0) throw noSessionsError(s.file, s.skipped);
      if (s.skipped > 0) ctx.logger.warn(`${s.file}: skipped ${s.skipped} invalid line(s)`);
      if (s.duplicateIds > 0)
        ctx.logger.warn(`${s.file}: ${s.duplicateIds} duplicate session_id(s); the first of each is paired`);
    }
    const evaluation = await withBar('bootstrap', 1, (tick) =>
      summarize(scored, metrics, config, ctx.seed, tick),
    );
    const report: EvalReport = {
      evaluation,
      ...(other
        ? {
            against: await withBar('bootstrap', 1, (tick) =>
              summarize(other, metrics, config, ctx.seed, tick),
            ),
            comparison: await withBar('paired', 1, (tick) =>
              compareScored(scored, other, metrics, config, ctx.seed, { onResample: tick }),
            ),
          }
        : {}),
      confidence: config.bootstrap.confidence,
      resamples: config.bootstrap.resamples,
      seed: ctx.seed,
    };
    const text = formatReport(report, args.format);
    ctx.out(text);
    if (args.out) await writeFileAtomic(args.out, text);
    return 0;
  },
});

export const rewardsCommands = [evalCommand];
