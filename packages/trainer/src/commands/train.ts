import * as path from 'node:path';
import {
  applyOverrides,
  type CliContext,
  defineCommand,
  loadConfig,
  OutputFormatSchema,
  parseConfig,
  RunNameSchema,
} from '@gopo/core';
import { z } from 'zod';
import { type GopoTrainConfig, GopoTrainConfigSchema } from '../gopo/config.js';
import { runOfflineGopo } from '../gopo/offline.js';
import { summaryMarkdown } from '../gopo/report.js';
import { runGopoTraining } from '../gopo/run.js';

export const TrainOptionsSchema = z.object({
  runName: RunNameSchema.default('gopo'),
  runsDir: z.string().default('runs').describe('parent folder of run folders'),
  overwrite: z.boolean().default(false).describe('replace an existing run folder of this name'),
  resume: z
    .boolean()
    .default(true)
    .describe('continue an existing run from its last checkpoint (--no-resume: refuse to reuse the folder)'),
  fromLogs: z
    .string()
    .optional()
    .describe('offline GOPO: train on the decisions and outcomes of these Mgshop-style logs'),
  groupBy: z
    .enum(['goal', 'goal_category'])
    .default('goal')
    .describe('--from-logs: sessions are compared within groups of this key'),
  iterations: z.number().int().min(1).optional().describe('overrides loop.iterations'),
  evalScenarios: z.number().int().min(1).optional().describe('overrides eval.scenarios'),
  allowConfigChange: z
    .boolean()
    .default(false)
    .describe('resume even though training settings changed (the run is then no exact continuation)'),
  format: OutputFormatSchema,
});

/** The run config: --config (YAML/JSON), then --set overrides, then the dedicated flags; seed from --seed. */
export async function resolveTrainConfig(
  args: z.infer<typeof TrainOptionsSchema>,
  ctx: Pick<CliContext, 'configFile' | 'overrides' | 'seed'>,
): Promise<GopoTrainConfig> {
  const flagOverrides = [
    `seed=${ctx.seed}`,
    ...(args.iterations !== undefined ? [`loop.iterations=${args.iterations}`] : []),
    ...(args.evalScenarios !== undefined ? [`eval.scenarios=${args.evalScenarios}`] : []),
  ];
  if (ctx.configFile)
    return loadConfig(ctx.configFile, GopoTrainConfigSchema, {
      overrides: [...flagOverrides, ...ctx.overrides],
    });
  return parseConfig(
    GopoTrainConfigSchema,
    applyOverrides({}, [...flagOverrides, ...ctx.overrides], GopoTrainConfigSchema),
    '(command line)',
  );
}

/** `gopo train`: online GOPO in the shop simulator, or offline from a team's logs. */
export const trainCommand = defineCommand({
  path: ['train'],
  describe: 'train the Expert Agent with GOPO: online in the shop simulator, or --from-logs on your logs',
  options: TrainOptionsSchema,
  globals: ['seed', 'config', 'set', 'device'],
  files: { inputs: ['fromLogs'] },
  examples: [
    ['gopo train', 'a short run from the shipped warm start (runs/gopo)'],
    [
      'gopo train --config examples/mgshop-gopo/config.yaml --run-name seed1 --seed 1',
      'the example experiment',
    ],
    ['gopo train --from-logs logs.jsonl --run-name offline', 'offline GOPO on logged sessions'],
    ['gopo train --set loss.mode=group_relative --set rollout.groupSize=8', 'the group-relative variant'],
  ],
  async run(args, ctx) {
    const config = await resolveTrainConfig(args, ctx);
    const options = {
      runName: args.runName,
      runsDir: args.runsDir,
      // --overwrite starts afresh, whatever --resume says.
      resume: args.resume && !args.overwrite,
      overwrite: args.overwrite,
      allowConfigChange: args.allowConfigChange,
      logger: ctx.logger,
      provider: ctx.device === 'auto' ? ('auto' as const) : ctx.device,
    };
    const result = args.fromLogs
      ? await runOfflineGopo(config, { ...options, logs: args.fromLogs, groupBy: args.groupBy })
      : await runGopoTraining(config, options);
    if (args.format === 'json') ctx.out(JSON.stringify(result, null, 2));
    else {
      ctx.out(summaryMarkdown(result));
      ctx.out(
        `\nrun folder: ${path.relative(process.cwd(), result.runDir) || '.'} (report.md, report.html, agent/)`,
      );
    }
    return 0;
  },
});
