import { defineCommand, OutputFormatSchema, resolveCommandConfig } from '@gopo/core';
import { SessionWriter } from '@gopo/dialogue';
import { z } from 'zod';
import { ShopEnv, ShopEnvConfigSchema } from './shop/env.js';
import { POLICY_NAMES, shopPolicies } from './shop/policies.js';
import { episodeSeed, runEpisode, type SimulationSummary, SummaryAccumulator } from './shop/simulate.js';

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

/** Command specs this package contributes to the `gopo` CLI. */
export const envsCommands = [simulateCommand];
