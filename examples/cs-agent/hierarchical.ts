/**
 * The hierarchical run: GOPO for the Expert Agent alternating with per-turn RL of the CS Agent
 * (hierarchical.yaml), against GOPO with the simulator's template CS agent on the same budget of Expert
 * phases, each evaluated with its own CS Agent on the same held-out scenarios (the table of
 * examples/mgshop-gopo). Needs the SFT reply model of experiment.ts (<runs-dir>/sft/model).
 * Resumable: a finished training run is not rerun.
 *
 *   node --conditions=@gopo/source --import tsx examples/cs-agent/hierarchical.ts \
 *     [--seeds 1,2,3] [--eval-scenarios 200] [--runs-dir runs/cs-agent] [--smoke]
 *
 * Writes <runs-dir>/hierarchical/results.{json,md}.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, loadConfig, UsageError } from '@gopo/core';
import { CsAgent } from '@gopo/cs-agent';
import { shopStrategyPolicies, templateReplyPolicy } from '@gopo/envs';
import { ExpertAgent } from '@gopo/expert-agent';
import {
  compareMethods,
  comparisonTable,
  DEFAULT_WARM_START_DIR,
  GopoTrainConfigSchema,
  type MethodSpec,
  runGopoTraining,
  shopEnvFactory,
} from '@gopo/trainer';
import {
  type ExperimentOptions,
  experimentArgs,
  isMain,
  printResults,
  writeResults,
} from '../experiment-cli.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** `runsDir`: the cs-agent experiment's runs folder (holds sft/model); results go to its hierarchical/. */
export type HierarchicalOptions = ExperimentOptions;

const ARMS = { lm: 'cs-agent', template: 'template' } as const;

export async function runHierarchical(
  o: HierarchicalOptions,
): Promise<{ table: string; wallSeconds: number }> {
  const t0 = Date.now();
  const logger = createLogger({ quiet: o.quiet ?? false });
  const sftModel = path.join(o.runsDir, 'sft', 'model');
  if (!existsSync(path.join(sftModel, 'model.safetensors')))
    throw new UsageError(`no SFT reply model at ${sftModel}: run examples/cs-agent/experiment.ts first`);
  const out = path.join(o.runsDir, 'hierarchical');
  const smoke = o.smoke
    ? [
        'loop.iterations=1',
        'rollout.scenarios=2',
        'eval.scenarios=4',
        'eval.resamples=100',
        'update.groupsPerStep=1',
        'reply.train.scenarios=2',
        'reply.train.rl.samples=2',
        'reply.train.rows=4',
      ]
    : [];
  const configFor = async (arm: keyof typeof ARMS, seed: number) => {
    const c = await loadConfig(path.join(here, 'hierarchical.yaml'), GopoTrainConfigSchema, {
      overrides: [`seed=${seed}`, `reply.dir=${JSON.stringify(sftModel)}`, ...smoke],
    });
    // Same Expert budget; the template arm has no reply model to train, so no CS phases.
    return arm === 'lm'
      ? c
      : GopoTrainConfigSchema.parse({ ...c, reply: { kind: 'template' }, loop: { ...c.loop, csPhases: 0 } });
  };
  const runDir = (arm: keyof typeof ARMS, seed: number) => path.join(out, `${ARMS[arm]}-seed-${seed}`);
  for (const seed of o.seeds) {
    for (const arm of ['template', 'lm'] as const) {
      if (existsSync(path.join(runDir(arm, seed), 'agent'))) continue;
      logger.info(`training ${ARMS[arm]}, seed ${seed}`);
      await runGopoTraining(await configFor(arm, seed), {
        runName: path.basename(runDir(arm, seed)),
        runsDir: out,
        resume: true,
        overwrite: false,
        logger,
        progress: false,
      });
    }
  }
  const config = await configFor('template', o.seeds[0]!);
  const threads = { intraOpThreads: config.threads };
  const sft = await CsAgent.load(sftModel, { temperature: 0 }, threads);
  const warm = await ExpertAgent.load(DEFAULT_WARM_START_DIR, threads);
  const gopo = (arm: keyof typeof ARMS) => (seed: number) =>
    ExpertAgent.load(path.join(runDir(arm, seed), 'agent'), threads);
  const methods: MethodSpec[] = [
    { name: 'SFT warm start + template CS', policy: async () => warm },
    { name: 'SFT warm start + SFT CS Agent', policy: async () => warm, reply: async () => sft },
    { name: 'GOPO + template CS', policy: gopo('template') },
    {
      name: 'GOPO + CS Agent (alternating phases)',
      policy: gopo('lm'),
      reply: (seed) => CsAgent.load(path.join(runDir('lm', seed), 'cs-model'), { temperature: 0 }, threads),
    },
    { name: 'oracle + template CS (reference)', policy: async () => shopStrategyPolicies.get('oracle') },
  ];
  const results = await compareMethods(
    methods,
    o.seeds,
    o.evalScenarios,
    shopEnvFactory(config),
    templateReplyPolicy,
    config.metrics,
    (m, seed) => logger.info(`evaluated ${m}, seed ${seed}`),
  );
  const wallSeconds = (Date.now() - t0) / 1000;
  const table = comparisonTable(results);
  await writeResults(
    out,
    table,
    `Mean over seeds ${o.seeds.join(', ')} [95% t interval across seeds]; ${o.evalScenarios} held-out scenarios per seed`,
    wallSeconds,
    { options: o, results },
  );
  return { table, wallSeconds };
}

if (isMain(import.meta.url))
  printResults(await runHierarchical(experimentArgs({ evalScenarios: 200, runsDir: 'runs/cs-agent' })));
