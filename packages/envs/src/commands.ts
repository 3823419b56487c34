import { defineCommand, loadConfig } from '@gopo/core';
import type { Session } from '@gopo/dialogue';
import { SessionWriter } from '@gopo/dialogue';
import { z } from 'zod';
import { ShopEnv, ShopEnvConfigSchema } from './shop/env.js';
import { POLICY_NAMES, shopPolicies } from './shop/policies.js';
import { episodeSeed, runEpisode, summarize } from './shop/simulate.js';

export const simulateCommand = defineCommand({
  path: ['simulate'],
  describe: 'Run the shop simulator with a scripted policy and write a Mgshop-style JSONL log',
  options: z.object({
    scenarios: z.number().int().min(1).default(100).describe('number of sessions to simulate'),
    policy: z
      .enum(POLICY_NAMES)
      .default('oracle')
      .describe('the agent policy: oracle, template, greedy or random'),
    out: z.string().describe('output JSONL file (written atomically)'),
  }),
  examples: [
    [
      'gopo simulate --scenarios 1000 --policy oracle --seed 1 --out logs.jsonl',
      'oracle dialogues with references',
    ],
    ['gopo simulate --scenarios 200 --policy random --out random.jsonl', 'a random baseline'],
  ],
  async run(args, ctx) {
    const envConfig = ctx.configFile
      ? await loadConfig(ctx.configFile, ShopEnvConfigSchema, { overrides: ctx.overrides })
      : ShopEnvConfigSchema.parse({});
    const env = new ShopEnv(envConfig);
    const policy = shopPolicies.get(args.policy);
    // The scenarios are seeded by the global --seed.
    const seed = ctx.seed;
    const writer = new SessionWriter(args.out);
    const sessions: Session[] = [];
    const t0 = performance.now();
    try {
      for (let i = 0; i < args.scenarios; i++) {
        const s = runEpisode(env, policy, episodeSeed(seed, i), `shop-${seed}-${String(i).padStart(5, '0')}`);
        await writer.write(s);
        sessions.push(s);
      }
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    const seconds = (performance.now() - t0) / 1000;
    const sum = summarize(sessions);
    ctx.logger.info(`simulated ${sessions.length} sessions in ${seconds.toFixed(2)} s`);
    ctx.out(`${args.out}: ${sum.sessions} sessions, policy ${args.policy}, seed ${seed}`);
    ctx.out(
      `success ${(100 * sum.successRate).toFixed(1)}%  mean turns ${sum.meanTurns.toFixed(2)}  csat ${sum.meanCsat.toFixed(2)}  SOP violations/turn ${sum.sopViolationRate.toFixed(3)}`,
    );
    ctx.out(
      `outcomes: ${Object.entries(sum.byStatus)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    return 0;
  },
});

/** Command specs this package contributes to the `gopo` CLI. */
export const envsCommands = [simulateCommand];
