/**
 * The mgshop-gopo experiment: GOPO from the shipped warm start, trained with several seeds, against
 * the uniform policy over admissible strategies, the warm start itself and the oracle, all on the same
 * held-out scenarios. Resumable: a finished training run is not rerun.
 *
 *   node --conditions=@gopo/source --import tsx examples/mgshop-gopo/experiment.ts \
 *     [--seeds 1,2,3] [--eval-scenarios 500] [--runs-dir runs/mgshop-gopo] [--smoke]
 *
 * Writes <runs-dir>/results.json and <runs-dir>/results.md (the table of README.md).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, loadConfig } from '@gopo/core';
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

export type { ExperimentOptions };

export async function runExperiment(o: ExperimentOptions): Promise<{ table: string; wallSeconds: number }> {
  const t0 = Date.now();
  const logger = createLogger({ quiet: o.quiet ?? false });
  const smoke = o.smoke
    ? [
        'loop.iterations=1',
        'rollout.scenarios=2',
        'eval.scenarios=8',
        'eval.resamples=100',
        'update.groupsPerStep=1',
      ]
    : [];
  const configFor = (seed: number) =>
    loadConfig(path.join(here, 'config.yaml'), GopoTrainConfigSchema, {
      overrides: [`seed=${seed}`, ...smoke],
    });
  for (const seed of o.seeds) {
    logger.info(`training seed ${seed}`);
    await runGopoTraining(await configFor(seed), {
      runName: `seed-${seed}`,
      runsDir: o.runsDir,
      resume: true,
      overwrite: false,
      logger,
      progress: false,
    });
  }
  const config = await configFor(o.seeds[0]!);
  const warm = await ExpertAgent.load(DEFAULT_WARM_START_DIR, { intraOpThreads: config.threads });
  const methods: MethodSpec[] = [
    { name: 'uniform (admissible)', policy: async () => shopStrategyPolicies.get('uniform'), sample: true },
    {
      name: 'history agents (the logs)',
      policy: async () => shopStrategyPolicies.get('history'),
      sample: true,
    },
    { name: 'SFT warm start', policy: async () => warm },
    {
      name: 'GOPO',
      policy: (seed) =>
        ExpertAgent.load(path.join(o.runsDir, `seed-${seed}`, 'agent'), { intraOpThreads: config.threads }),
    },
    { name: 'oracle (reference)', policy: async () => shopStrategyPolicies.get('oracle') },
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
    o.runsDir,
    table,
    `Mean over seeds ${o.seeds.join(', ')} [95% t interval across seeds]; ${o.evalScenarios} held-out scenarios per seed`,
    wallSeconds,
    { options: o, results },
  );
  return { table, wallSeconds };
}

if (isMain(import.meta.url))
  printResults(await runExperiment(experimentArgs({ evalScenarios: 500, runsDir: 'runs/mgshop-gopo' })));
