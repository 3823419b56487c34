import { defineCommand, OutputFormatSchema, RunNameSchema, resolveCommandConfig } from '@gopo/core';
import { z } from 'zod';
import { FlatPpoConfigSchema } from '../baselines/ppo/config.js';
import { runFlatPpo } from '../baselines/ppo/run.js';

/** `gopo ppo`: the flat PPO baseline (one reply model, no strategy layer, token-level PPO). */
export const ppoCommand = defineCommand({
  path: ['ppo'],
  describe:
    'train the flat PPO baseline: one reply model without a strategy layer, token-level PPO with a value head on the sequence reward',
  options: z.object({
    model: z.string().optional().describe("the flat SFT model folder (overrides the config's model)"),
    runName: RunNameSchema.default('flat-ppo'),
    runsDir: z.string().default('runs').describe('parent folder of run folders'),
    overwrite: z.boolean().default(false).describe('replace an existing run folder of this name'),
    resume: z.boolean().default(true).describe('continue an existing run from its last checkpoint'),
    format: OutputFormatSchema,
  }),
  globals: ['config', 'set'],
  files: { inputDirs: ['model'] },
  examples: [
    [
      'gopo cs sft --config examples/compare-baselines/flat-sft.yaml --run-name flat-sft',
      'the flat SFT model in runs/flat-sft/model (no strategy tokens; history-policy sessions)',
    ],
    [
      'gopo ppo --model runs/flat-sft/model --run-name flat-ppo',
      'the PPO run; the model lands in runs/flat-ppo/model',
    ],
  ],
  async run(args, ctx) {
    const c = await resolveCommandConfig(FlatPpoConfigSchema, {
      configFile: ctx.configFile,
      overrides: [...(args.model ? [`model=${JSON.stringify(args.model)}`] : []), ...ctx.overrides],
    });
    const r = await runFlatPpo(c, {
      runName: args.runName,
      runsDir: args.runsDir,
      resume: args.resume && !args.overwrite,
      overwrite: args.overwrite,
      logger: ctx.logger,
    });
    if (args.format === 'json') ctx.out(JSON.stringify(r));
    else {
      ctx.out(`flat PPO model: ${r.modelDir}`);
      for (const p of r.curve)
        ctx.out(
          `${String(p.episodes).padStart(7)} episodes  TSE ${p.metrics.tse?.toFixed(1)}  GRE ${p.metrics.gre?.toFixed(3)}  success ${p.metrics.success_rate?.toFixed(1)}`,
        );
    }
    return 0;
  },
});
