import * as path from 'node:path';
import {
  defineCommand,
  OutputFormatSchema,
  RunNameSchema,
  requireDataDir,
  resolveCommandConfig,
} from '@gopo/core';
import { match } from 'ts-pattern';
import { z } from 'zod';
import { JoshConfigSchema } from '../josh/config.js';
import { JOSH_STAGES, joshReport, runJosh } from '../josh/run.js';
import { JOSH_ENVS, retailJoshTask, toolwozJoshTask } from '../josh/tasks.js';

/** `gopo josh`: JOSH self-play, SFT and KTO of the LM tool agent, and the held-out comparison. */
export const joshCommand = defineCommand({
  path: ['josh'],
  describe:
    'JOSH self-play (beam search over agent turns, sparse goal reward) on ToolWOZ or tau-bench retail, then SFT and KTO of the LM tool agent on its golden paths, optionally step-reward PPO in the environment (ppo.enabled), and the held-out comparison base / JOSH-SFT / JOSH-KTO / JOSH-PPO (resumable per stage)',
  options: z.object({
    env: z.enum(JOSH_ENVS).default('toolwoz').describe('the environment: toolwoz or taubench-retail'),
    runName: RunNameSchema.default('josh'),
    runsDir: z.string().default('runs').describe('parent folder of run folders'),
    overwrite: z.boolean().default(false).describe('start the run folder afresh'),
    allowConfigChange: z
      .boolean()
      .default(false)
      .describe('resume although the config changed (the changes are recorded in config-changes.jsonl)'),
    until: z
      .enum(JOSH_STAGES)
      .optional()
      .describe('stop after this stage: selfplay, sft, kto, ppo (when ppo.enabled) or eval'),
    format: OutputFormatSchema,
  }),
  globals: ['config', 'set', 'seed'],
  examples: [
    [
      'gopo josh --env toolwoz --config examples/toolwoz-josh/config.yaml --run-name toolwoz-josh',
      'the example (runs/toolwoz-josh: data/, sft/, models/, report.md)',
    ],
    ['gopo josh --env toolwoz --set goals.train=20 --until selfplay', 'only the JOSH datasets'],
    [
      'gopo josh --env toolwoz --config examples/toolwoz-josh/config.yaml --set ppo.enabled=true --until ppo',
      'JOSH, then step-reward PPO of the KTO model (models/josh-ppo; resumes per phase)',
    ],
  ],
  async run(args, ctx) {
    const dataDir = requireDataDir(ctx.dataDir);
    const c = await resolveCommandConfig(JoshConfigSchema, ctx);
    const options = {
      runName: args.runName,
      runsDir: args.runsDir,
      seed: ctx.seed,
      env: args.env,
      overwrite: args.overwrite,
      allowConfigChange: args.allowConfigChange,
      logger: ctx.logger,
      progress: !ctx.quiet,
      ...(args.until ? { until: args.until } : {}),
    };
    const r = await match(args.env)
      .with('toolwoz', async () => runJosh(await toolwozJoshTask(dataDir, c, ctx.seed), c, options))
      .with('taubench-retail', async () => runJosh(await retailJoshTask(dataDir, c), c, options))
      .exhaustive();
    if (args.format === 'json') ctx.out(JSON.stringify(r));
    else {
      if (r.eval) ctx.out(joshReport(args.env, c, r.selfplay, r.eval));
      else
        ctx.out(
          `selfplay: ${r.selfplay.successes}/${r.selfplay.goals} goals solved, ${r.selfplay.sftRecords} SFT steps, KTO ${r.selfplay.ktoDesirable}/${r.selfplay.ktoUndesirable}`,
        );
      ctx.out(
        `run folder: ${path.relative(process.cwd(), r.runDir) || '.'} (stages run now: ${r.stagesRun.join(', ') || 'none'})`,
      );
    }
    return 0;
  },
});
