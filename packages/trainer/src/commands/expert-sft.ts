import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import {
  applyOverrides,
  defineCommand,
  loadConfig,
  OutputFormatSchema,
  parseConfig,
  UsageError,
} from '@gopo/core';
import { ExpertModelConfigSchema } from '@gopo/expert-agent';
import { z } from 'zod';
import { createReplyBackend } from '../backends/reply-backends.js';
import { GopoTrainConfigSchema, WarmStartConfigSchema } from '../gopo/config.js';
import { shopEnvFactory } from '../gopo/run.js';
import { trainWarmStart } from '../gopo/warm-start.js';

const SftFileSchema = z
  .object({
    model: ExpertModelConfigSchema.prefault({}),
    warmStart: WarmStartConfigSchema.prefault({}),
    threads: z.number().int().min(0).default(0).describe('ORT intra-op threads (0: ORT default)'),
  })
  .strict()
  .describe('gopo expert sft');

/** `gopo expert sft`: the SFT warm start of an Expert Agent, written as an agent folder. */
export const expertSftCommand = defineCommand({
  path: ['expert', 'sft'],
  describe: 'train an Expert Agent warm start with SFT on logged strategy decisions and write its folder',
  options: z.object({
    out: z.string().describe('the agent folder to write'),
    logs: z.string().optional().describe('Mgshop-style logs (default: simulated history sessions)'),
    episodes: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('history sessions to simulate (warmStart.episodes)'),
    steps: z.number().int().min(0).optional().describe('SFT steps (warmStart.steps)'),
    overwrite: z.boolean().default(false).describe('replace an existing agent folder at --out'),
    format: OutputFormatSchema,
  }),
  globals: ['seed', 'config', 'set', 'device'],
  files: { inputs: ['logs'] },
  examples: [
    ['gopo expert sft --logs history.jsonl --out agents/warm', 'warm start on your logs'],
    ['gopo expert sft --out packages/trainer/assets/warm-start --seed 1', 'rebuild the shipped warm start'],
  ],
  async run(args, ctx) {
    const out = path.resolve(args.out);
    if (existsSync(out) && readdirSync(out).length > 0) {
      if (!args.overwrite)
        throw new UsageError(
          `${args.out} exists and is not empty (pass --overwrite to replace the agent there)`,
        );
      if (!existsSync(path.join(out, 'expert.json')))
        throw new UsageError(
          `${args.out} is not an Expert Agent folder (no expert.json); refusing to write into it`,
        );
    }
    const overrides = [
      ...(args.logs !== undefined ? [`warmStart.logs=${JSON.stringify(args.logs)}`] : []),
      ...(args.episodes !== undefined ? [`warmStart.episodes=${args.episodes}`] : []),
      ...(args.steps !== undefined ? [`warmStart.steps=${args.steps}`] : []),
      ...ctx.overrides,
    ];
    const c = ctx.configFile
      ? await loadConfig(ctx.configFile, SftFileSchema, { overrides })
      : parseConfig(SftFileSchema, applyOverrides({}, overrides, SftFileSchema), '(command line)');
    const env = GopoTrainConfigSchema.parse({}).env;
    const makeEnv = shopEnvFactory(GopoTrainConfigSchema.parse({ env }));
    const reply = await createReplyBackend({ kind: 'template' }, makeEnv().strategies);
    const r = await trainWarmStart(
      {
        model: c.model,
        warmStart: c.warmStart,
        seed: ctx.seed,
        maxTurns: env.maxTurns,
        threads: c.threads,
        runtime: { intraOpThreads: c.threads, provider: ctx.device === 'auto' ? 'auto' : ctx.device },
      },
      makeEnv,
      reply.policy,
      ctx.logger,
    );
    await r.agent.save(out);
    const summary = { out: args.out, sessions: r.sessions, loss: r.loss, accuracy: r.accuracy };
    ctx.out(
      args.format === 'json'
        ? JSON.stringify(summary)
        : `${args.out}: ${r.sessions} sessions, loss ${r.loss.toFixed(3)}, held-out decision accuracy ${(100 * r.accuracy).toFixed(1)}%`,
    );
    return 0;
  },
});
