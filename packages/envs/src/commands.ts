import {
  type CliContext,
  defineCommand,
  JsonlWriter,
  OutputFormatSchema,
  requireDataDir,
  resolveCommandConfig,
} from '@gopo/core';
import { SessionWriter } from '@gopo/dialogue';
import { z } from 'zod';
import { type PolicySummary, runPolicyTrials, summarizePolicy } from './eval-policy.js';
import { ShopEnv, ShopEnvConfigSchema } from './shop/env.js';
import { POLICY_NAMES, shopPolicies } from './shop/policies.js';
import { episodeSeed, runEpisode, type SimulationSummary, SummaryAccumulator } from './shop/simulate.js';
import { retailPolicies } from './taubench/agents.js';
import { loadRetailData, loadRetailTasks, RETAIL_TASK_SPLITS, retailTaskFile } from './taubench/data.js';
import { RetailEnv } from './taubench/env.js';
import { parseTaskIds, writeGoldReplays } from './taubench/replay.js';
import { type ToolEpisode, ToolEpisodeSchema } from './tool-env.js';
import { toolwozPolicies } from './toolwoz/agents.js';
import { loadToolwozDb } from './toolwoz/db.js';
import { ToolwozEnv } from './toolwoz/env.js';
import { loadMultiwozGoals, sampleGoals } from './toolwoz/goals.js';

/** Most sessions one `gopo simulate` writes. */
export const MAX_SIMULATE_SCENARIOS = 10_000_000;

const fixed = (v: number, digits: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(digits));

function summaryLines(out: string, policy: string, seed: number, sum: SimulationSummary): string[] {
  return [
    `${out}: ${sum.sessions} sessions, policy ${policy}, seed ${seed}`,
    `success ${(100 * sum.successRate).toFixed(1)}%  mean agent turns ${sum.meanAgentTurns.toFixed(2)}  mean user turns ${sum.meanUserTurns.toFixed(2)}  csat ${fixed(sum.meanCsat, 2)} (${sum.csatSessions} rated)  SOP violations/agent turn ${sum.sopViolationRate.toFixed(3)}`,
    `outcomes: ${Object.entries(sum.byStatus)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  ];
}

export const simulateCommand = defineCommand({
  path: ['simulate'],
  describe: 'Run the shop simulator with a scripted policy and write a Mgshop-style JSONL log',
  options: z.object({
    scenarios: z
      .number()
      .int()
      .min(1)
      .max(MAX_SIMULATE_SCENARIOS)
      .default(100)
      .describe(`number of sessions to simulate (at most ${MAX_SIMULATE_SCENARIOS})`),
    policy: z
      .enum(POLICY_NAMES)
      .default('oracle')
      .describe('the agent policy: oracle, template, greedy or random'),
    out: z.string().describe('output JSONL file (written atomically)'),
    format: OutputFormatSchema,
  }),
  globals: ['seed', 'config', 'set'],
  files: { outputs: ['out'] },
  examples: [
    [
      'gopo simulate --scenarios 1000 --policy oracle --seed 1 --out logs.jsonl',
      'oracle dialogues with references',
    ],
    ['gopo simulate --scenarios 200 --policy random --out random.jsonl', 'a random baseline'],
    ['gopo simulate --config shop.yaml --set maxTurns=8 --out logs.jsonl', 'a configured shop'],
  ],
  async run(args, ctx) {
    const env = new ShopEnv(await resolveCommandConfig(ShopEnvConfigSchema, ctx));
    const policy = shopPolicies.get(args.policy);
    // The scenarios are seeded by the global --seed.
    const seed = ctx.seed;
    const writer = new SessionWriter(args.out);
    const acc = new SummaryAccumulator();
    const t0 = performance.now();
    try {
      for (let i = 0; i < args.scenarios; i++) {
        const s = runEpisode(env, policy, episodeSeed(seed, i), `shop-${seed}-${String(i).padStart(5, '0')}`);
        await writer.write(s);
        acc.add(s);
      }
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    const seconds = (performance.now() - t0) / 1000;
    const sum = acc.summary();
    ctx.logger.info(`simulated ${sum.sessions} sessions in ${seconds.toFixed(2)} s`);
    if (args.format === 'json')
      ctx.out(
        JSON.stringify(
          {
            out: args.out,
            policy: args.policy,
            seed,
            ...sum,
            meanCsat: Number.isNaN(sum.meanCsat) ? null : sum.meanCsat,
          },
          null,
          2,
        ),
      );
    else for (const line of summaryLines(args.out, args.policy, seed, sum)) ctx.out(line);
    return 0;
  },
});

/** `gopo taubench replay`: each task's database after its gold actions, for comparison with upstream. */
export const taubenchReplayCommand = defineCommand({
  path: ['taubench', 'replay'],
  describe: "Replay each tau-bench task's gold actions and write the final database per task (task-NNN.json)",
  options: z.object({
    tasks: z
      .string()
      .describe('task file (a JSON list, e.g. <data-dir>/taubench_retail/tasks/tasks_dev.json)'),
    out: z.string().describe('output directory; gets task-NNN.json ({users, orders, products}) per task'),
    taskIds: z.string().optional().describe('only these task indices, e.g. "0,5,10-20" (default: all)'),
    format: OutputFormatSchema,
  }),
  globals: [],
  files: { inputs: ['tasks'] },
  examples: [
    [
      'gopo taubench replay --tasks ../shared/data/taubench_retail/tasks/tasks_dev.json --out replay-dev',
      'final databases of the 20 dev tasks',
    ],
  ],
  async run(args, ctx) {
    const dataDir = requireDataDir(ctx.dataDir);
    const { data, keyOrder } = await loadRetailData(dataDir);
    const tasks = await loadRetailTasks(args.tasks);
    const only = args.taskIds !== undefined ? parseTaskIds(args.taskIds, tasks.length) : undefined;
    const t0 = performance.now();
    const r = await writeGoldReplays(data, tasks, args.out, { keyOrder, ...(only ? { only } : {}) });
    ctx.logger.info(`replayed ${r.files.length} tasks in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    if (args.format === 'json') {
      ctx.out(JSON.stringify({ out: args.out, tasks: tasks.length, ...r }, null, 2));
      return 0;
    }
    ctx.out(
      `${args.out}: ${r.files.length} of ${tasks.length} tasks written (task-NNN.json: users, orders, products)`,
    );
    ctx.out(
      `gold actions: ${r.actions} run, ${r.failedActions} returned an error (the database is unchanged by those, as upstream)`,
    );
    return 0;
  },
});

/** The tool environments `gopo eval-policy --env` runs scripted policies on. */
export const TOOL_EVAL_ENVS = ['toolwoz', 'taubench-retail'] as const;

/** The options of `gopo eval-policy` on a tool environment (the trainer's command takes them too). */
export const ToolEvalOptionsSchema = z.object({
  env: z.enum(TOOL_EVAL_ENVS).describe('the environment: toolwoz or taubench-retail'),
  policy: z
    .array(z.string())
    .min(1)
    .default(['oracle', 'rule'])
    .describe('policies to run (toolwoz: oracle, rule, greedy; taubench-retail: oracle, rule, hasty)'),
  trials: z.number().int().min(1).default(1).describe('trials per goal or task (pass^k needs k trials)'),
  split: z.enum(RETAIL_TASK_SPLITS).default('dev').describe('tau-bench task split: train or dev'),
  goals: z
    .enum(['multiwoz', 'sampled'])
    .default('multiwoz')
    .describe('ToolWOZ goals: from the MultiWOZ val.json dialogues, or sampled from the databases (--seed)'),
  count: z.number().int().min(1).default(500).describe('ToolWOZ sampled goals to draw'),
  limit: z.number().int().min(1).optional().describe('only the first N goals or tasks'),
  sop: z
    .enum(['block', 'record'])
    .default('block')
    .describe('tau-bench policy SOP: block inadmissible actions (hard SOP) or run and count them (upstream)'),
  out: z.string().optional().describe('write every episode (messages, reward, details) to this JSONL file'),
  format: OutputFormatSchema,
});
export type ToolEvalOptions = z.infer<typeof ToolEvalOptionsSchema>;

/**
 * Scripted policies on ToolWOZ or tau-bench retail: mean reward with a bootstrap interval, 100%
 * success rate, pass^1..k, steps and SOP violations per episode; every episode to `out` if given.
 * `gopo eval-policy --env toolwoz|taubench-retail` (packages/trainer) runs this.
 */
export async function evalToolPolicies(args: ToolEvalOptions, ctx: CliContext): Promise<number> {
  const dataDir = requireDataDir(ctx.dataDir);
  const writer = args.out ? new JsonlWriter<ToolEpisode>(args.out, ToolEpisodeSchema) : undefined;
  const opts = {
    trials: args.trials,
    seed: ctx.seed,
    ...(writer ? { onEpisode: (e: ToolEpisode) => writer.write(e) } : {}),
  };
  const summaries: PolicySummary[] = [];
  let items = 0;
  try {
    if (args.env === 'toolwoz') {
      const db = await loadToolwozDb(dataDir);
      const all =
        args.goals === 'multiwoz'
          ? (await loadMultiwozGoals(dataDir, db)).goals
          : sampleGoals(db, { count: args.count, seed: ctx.seed });
      const goals = all.slice(0, args.limit ?? all.length).map((g) => ({ id: g.id, item: g }));
      items = goals.length;
      const registry = toolwozPolicies(db);
      const policies = args.policy.map((p) => registry.get(p));
      const env = new ToolwozEnv(db);
      for (const p of policies)
        summaries.push(
          summarizePolicy(p.name, await runPolicyTrials(env, goals, p, opts), args.trials, ctx.seed),
        );
    } else {
      const { data, keyOrder } = await loadRetailData(dataDir);
      const all = await loadRetailTasks(retailTaskFile(dataDir, args.split));
      const tasks = all
        .slice(0, args.limit ?? all.length)
        .map((t, i) => ({ id: `${args.split}-${i}`, item: t }));
      items = tasks.length;
      const registry = retailPolicies();
      const policies = args.policy.map((p) => registry.get(p));
      const env = new RetailEnv(data, keyOrder, { sopEnforcement: args.sop });
      for (const p of policies)
        summaries.push(
          summarizePolicy(p.name, await runPolicyTrials(env, tasks, p, opts), args.trials, ctx.seed),
        );
    }
    await writer?.close();
  } catch (e) {
    await writer?.abort();
    throw e;
  }
  if (args.format === 'json') {
    ctx.out(
      JSON.stringify(
        { env: args.env, items, trials: args.trials, seed: ctx.seed, policies: summaries },
        null,
        2,
      ),
    );
    return 0;
  }
  const what = args.env === 'toolwoz' ? `${items} ${args.goals} goals` : `${items} ${args.split} tasks`;
  ctx.out(`${args.env}: ${what}, ${args.trials} trial(s), seed ${ctx.seed}`);
  for (const s of summaries) ctx.out(formatSummary(s));
  if (writer) ctx.out(`episodes: ${args.out}`);
  return 0;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function formatSummary(s: PolicySummary): string {
  const pass = s.passHatK.map((v, k) => `pass^${k + 1} ${v.toFixed(3)}`).join('  ');
  const ends = Object.entries(s.endReasons)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `${s.policy.padEnd(8)} reward ${s.reward.value.toFixed(3)} [${s.reward.low.toFixed(3)}, ${s.reward.high.toFixed(3)}]  100% success ${pct(s.fullSuccessRate)}  ${pass}  steps/ep ${s.meanSteps.toFixed(1)}  SOP violations/ep ${s.sopViolationsPerEpisode.toFixed(2)}  ${ends}`;
}

/** Command specs this package contributes to the `gopo` CLI. */
export const envsCommands = [simulateCommand, taubenchReplayCommand];
