import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  defineCommand,
  MissingFileError,
  OutputFormatSchema,
  RunNameSchema,
  resolveCommandConfig,
  UsageError,
} from '@gopo/core';
import { z } from 'zod';
import { ExperimentConfigSchema } from '../experiment/config.js';
import { runExperiment } from '../experiment/run.js';
import { experimentStatus, formatStatus } from '../experiment/status.js';

/** `gopo experiment`: GOPO against the baselines and ablations over seeds, with equal budgets. */
export const experimentCommand = defineCommand({
  path: ['experiment'],
  describe:
    'run every method of a comparison over seeds with equal episode budgets (resumable) and write the report',
  options: z.object({
    runName: RunNameSchema.default('experiment'),
    runsDir: z.string().default('runs').describe('parent folder of run folders'),
    overwrite: z.boolean().default(false).describe('start the experiment folder afresh'),
    only: z
      .string()
      .optional()
      .describe(
        'comma-separated method ids to run now (finished results of the others still enter the report)',
      ),
    status: z
      .boolean()
      .default(false)
      .describe('print where each method/seed stands (done, running, started, pending) and run nothing'),
    format: OutputFormatSchema,
  }),
  globals: ['config', 'set'],
  examples: [
    [
      'gopo experiment --config examples/compare-baselines/config.yaml',
      'the headline comparison (runs/experiment)',
    ],
    [
      'gopo experiment --config examples/compare-baselines/config.yaml --set seeds=[1] --only gopo,memento',
      'two methods, one seed',
    ],
    [
      'gopo experiment --config examples/compare-baselines/config.yaml --status',
      'what is done, running, left',
    ],
  ],
  async run(args, ctx) {
    if (!ctx.configFile)
      throw new UsageError(
        'gopo experiment needs --config: a file listing the methods (see examples/compare-baselines/config.yaml)',
      );
    const config = await resolveCommandConfig(ExperimentConfigSchema, ctx);
    if (args.status) {
      const root = path.join(path.resolve(args.runsDir), args.runName);
      if (!existsSync(root)) throw new MissingFileError(root, 'experiment folder');
      const rows = await experimentStatus(config, root);
      ctx.out(args.format === 'json' ? JSON.stringify({ runDir: root, status: rows }) : formatStatus(rows));
      return 0;
    }
    const only = args.only
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const r = await runExperiment(config, {
      runName: args.runName,
      runsDir: args.runsDir,
      overwrite: args.overwrite,
      logger: ctx.logger,
      progress: !ctx.quiet,
      ...(only ? { only } : {}),
    });
    if (args.format === 'json')
      ctx.out(
        JSON.stringify({ runDir: r.runDir, methods: r.methods, comparisons: r.comparisons, files: r.files }),
      );
    else {
      ctx.out(r.markdown);
      ctx.out(
        `experiment folder: ${path.relative(process.cwd(), r.runDir) || '.'} (report.md, report.html, results.json)`,
      );
    }
    return 0;
  },
});
