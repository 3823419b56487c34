import * as path from 'node:path';
import {
  defineCommand,
  OutputFormatSchema,
  RunNameSchema,
  resolveCommandConfig,
  UsageError,
} from '@gopo/core';
import { z } from 'zod';
import { ExperimentConfigSchema } from '../experiment/config.js';
import { runExperiment } from '../experiment/run.js';

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
  ],
  async run(args, ctx) {
    if (!ctx.configFile)
      throw new UsageError(
        'gopo experiment needs --config: a file listing the methods (see examples/compare-baselines/config.yaml)',
      );
    const config = await resolveCommandConfig(ExperimentConfigSchema, ctx);
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
