import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { defineCommand, FileFormatError, MissingFileError, OutputFormatSchema, UsageError } from '@gopo/core';
import { type StrategyPolicy, writeSessions } from '@gopo/dialogue';
import { evalToolPolicies, shopStrategyPolicies, TOOL_EVAL_ENVS, ToolEvalOptionsSchema } from '@gopo/envs';
import { ExpertAgent } from '@gopo/expert-agent';
import { formatReport } from '@gopo/rewards';
import { z } from 'zod';
import { createReplyBackend } from '../backends/reply-backends.js';
import { type GopoTrainConfig, GopoTrainConfigSchema } from '../gopo/config.js';
import { evaluateHeldOut } from '../gopo/evaluate.js';
import { DEFAULT_WARM_START_DIR, shopEnvFactory } from '../gopo/run.js';
import { evalJobs } from '../gopo/scenarios.js';
import { InProcessPool } from '../rollout/worker-pool.js';

/** The resolved config a run folder was trained with. */
export async function readRunConfig(runDir: string): Promise<GopoTrainConfig> {
  const file = path.join(runDir, 'config.json');
  if (!existsSync(file)) throw new MissingFileError(file, 'run config (is this a gopo train run folder?)');
  let raw: { config?: unknown };
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8')) as { config?: unknown };
  } catch (e) {
    throw new FileFormatError({ file }, `not JSON: ${(e as Error).message}`);
  }
  const parsed = GopoTrainConfigSchema.safeParse(raw.config);
  if (!parsed.success)
    throw new FileFormatError(
      {
        file,
        path: ['config', ...parsed.error.issues[0]!.path.filter((p) => typeof p !== 'symbol')] as string[],
      },
      parsed.error.issues[0]!.message,
    );
  return parsed.data;
}

/** `gopo eval-policy`: play the held-out scenarios with a trained or scripted policy, write the logs. */
export const evalPolicyCommand = defineCommand({
  path: ['eval-policy'],
  describe:
    'play held-out shop scenarios with a trained run, an agent folder or a scripted policy; write Mgshop-style logs; or (--env) run scripted policies on ToolWOZ or tau-bench retail',
  options: z.object({
    env: z
      .enum(['shop', ...TOOL_EVAL_ENVS])
      .default('shop')
      .describe('shop (held-out scenarios), or a tool environment: toolwoz, taubench-retail'),
    run: z
      .string()
      .optional()
      .describe('a gopo train run folder (its agent/ and its env and reply settings)'),
    agent: z.string().optional().describe('an Expert Agent folder (default env and template replies)'),
    policy: z
      .string()
      .optional()
      .describe(
        `a scripted policy: shop: ${shopStrategyPolicies.names().join(', ')}; toolwoz, taubench-retail: comma-separated names (default oracle,rule)`,
      ),
    scenarios: z.number().int().min(1).max(100_000).default(200).describe('held-out scenarios to play'),
    sample: z.boolean().default(false).describe('sample strategies instead of taking the most probable'),
    out: z.string().optional().describe('write the sessions here (JSONL, atomically)'),
    format: z.enum(['table', 'json', 'md']).default('table').describe('how the metrics are printed'),
    // The tool environments' own options (packages/envs).
    ...ToolEvalOptionsSchema.omit({ env: true, policy: true, out: true, format: true }).shape,
  }),
  globals: ['seed', 'device'],
  files: { inputDirs: ['run', 'agent'], outputs: ['out'] },
  examples: [
    ['gopo eval-policy --run runs/gopo --scenarios 500 --out gopo.jsonl', 'the trained agent of a run'],
    ['gopo eval-policy --policy oracle --out oracle.jsonl', 'the oracle on the same scenarios'],
    ['gopo eval gopo.jsonl --against oracle.jsonl', 'then a paired comparison'],
    ['gopo eval-policy --env toolwoz --policy oracle,rule,greedy', 'ToolWOZ baselines on the MultiWOZ goals'],
    ['gopo eval-policy --env taubench-retail --policy rule,hasty --trials 4', 'tau-bench pass^1..4 (dev)'],
  ],
  async run(args, ctx) {
    if (args.env !== 'shop' && (args.run || args.agent))
      throw new UsageError(
        '--run and --agent play the shop; with --env toolwoz or taubench-retail name --policy',
      );
    if (args.env !== 'shop')
      return evalToolPolicies(
        ToolEvalOptionsSchema.parse({
          ...args,
          policy: args.policy?.split(',').map((p) => p.trim()),
          format: args.format === 'json' ? 'json' : 'text',
        }),
        ctx,
      );
    const sources = [args.run, args.agent, args.policy].filter((x) => x !== undefined);
    if (sources.length !== 1) throw new UsageError('name exactly one of --run, --agent or --policy');
    const config = args.run ? await readRunConfig(args.run) : GopoTrainConfigSchema.parse({});
    const makeEnv = shopEnvFactory(config);
    const reply = await createReplyBackend(config.reply, makeEnv().strategies);
    try {
      let strategy: StrategyPolicy;
      if (args.policy) strategy = shopStrategyPolicies.get(args.policy);
      else {
        const dir = args.agent ?? path.join(args.run!, 'agent');
        if (!existsSync(dir))
          throw new MissingFileError(
            dir,
            args.agent ? 'Expert Agent folder' : 'trained agent (is the run finished?)',
          );
        strategy = await ExpertAgent.load(dir, {
          intraOpThreads: config.threads,
          provider: ctx.device === 'auto' ? 'auto' : ctx.device,
        });
      }
      const pool = new InProcessPool({ strategy, reply: reply.policy }, makeEnv, config.rollout.maxLive);
      const r = await evaluateHeldOut(pool, args.scenarios, config.metrics, ctx.seed, {
        jobs: evalJobs(args.scenarios, { greedy: !args.sample, streamSeed: ctx.seed }),
      });
      if (args.out) await writeSessions(args.out, r.sessions);
      const label = args.policy ?? args.agent ?? args.run ?? DEFAULT_WARM_START_DIR;
      ctx.out(
        formatReport(
          {
            evaluation: { ...r.evaluation, file: label },
            confidence: config.metrics.bootstrap.confidence,
            resamples: config.metrics.bootstrap.resamples,
            seed: ctx.seed,
          },
          args.format,
        ),
      );
      if (args.out) ctx.logger.info(`${r.sessions.length} sessions -> ${args.out}`);
      return 0;
    } finally {
      await reply.close();
    }
  },
});

/** `gopo report`: rebuild report.md and report.html of a finished run. */
export const reportCommand = defineCommand({
  path: ['report'],
  describe: "write a run's report: report.md and a self-contained report.html with plots per phase",
  options: z.object({ run: z.string().describe('the gopo train run folder'), format: OutputFormatSchema }),
  globals: [],
  files: { inputDirs: ['run'] },
  examples: [['gopo report --run runs/gopo', 'rebuild runs/gopo/report.{md,html}']],
  async run(args, ctx) {
    const { writeRunReport } = await import('../gopo/report.js');
    const { markdown, html } = await writeRunReport(args.run);
    ctx.out(args.format === 'json' ? JSON.stringify({ markdown, html }) : `${markdown}\n${html}`);
    return 0;
  },
});
