/**
 * The cs-agent experiment: the CS Agent's reply model after SFT, after SFT + per-turn RL and after
 * SFT + KTO, each RL/KTO run trained with several seeds from one SFT model, evaluated on held-out
 * scenarios with the oracle's strategies (so only the replies vary) beside the template agent.
 * Resumable: finished runs are not rerun.
 *
 *   node --conditions=@gopo/source --import tsx examples/cs-agent/experiment.ts \
 *     [--seeds 1,2,3] [--eval-scenarios 200] [--runs-dir runs/cs-agent] [--smoke]
 *
 * Writes <runs-dir>/results.json and <runs-dir>/results.md (the tables of README.md).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, loadConfig } from '@gopo/core';
import { CsAgent } from '@gopo/cs-agent';
import type { ReplyPolicy, StrategyJudge } from '@gopo/dialogue';
import { templateReplyPolicy } from '@gopo/envs';
import {
  CsSftConfigSchema,
  CsTrainConfigSchema,
  evaluateReplies,
  GopoTrainConfigSchema,
  runCsSft,
  runCsTraining,
  shopEnvFactory,
  tInterval,
} from '@gopo/trainer';
import {
  type ExperimentOptions,
  experimentArgs,
  isMain,
  printResults,
  writeResults,
} from '../experiment-cli.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface CsExperimentOptions extends ExperimentOptions {
  readonly judges?: readonly StrategyJudge[];
}

const METRICS = ['adherence_nlu', 'fact_accuracy', 'success_rate', 'distinct_2', 'reply_words'] as const;

export async function runCsExperiment(
  o: CsExperimentOptions,
): Promise<{ table: string; wallSeconds: number }> {
  const t0 = Date.now();
  const logger = createLogger({ quiet: o.quiet ?? false });
  const smokeSft = o.smoke ? ['steps=20', 'warmupSteps=2', 'corpus.episodes=30'] : [];
  const smokeTrain = o.smoke ? ['phases=1', 'scenarios=2', 'rl.samples=2', 'eval.scenarios=3', 'rows=4'] : [];
  const sftConfig = await loadConfig(path.join(here, 'sft.yaml'), CsSftConfigSchema, { overrides: smokeSft });
  const sftModel = path.join(o.runsDir, 'sft', 'model');
  if (!existsSync(path.join(sftModel, 'model.safetensors')))
    await runCsSft(sftConfig, { runName: 'sft', runsDir: o.runsDir, seed: 1, overwrite: false, logger });
  const trainConfig = await loadConfig(path.join(here, 'train.yaml'), CsTrainConfigSchema, {
    overrides: [`model=${JSON.stringify(sftModel)}`, ...smokeTrain],
  });
  const models: Record<string, (seed: number) => Promise<ReplyPolicy>> = {
    'template agent (reference)': async () => templateReplyPolicy,
    SFT: async () => CsAgent.load(sftModel),
  };
  for (const mode of ['rl', 'kto'] as const) {
    for (const seed of o.seeds) {
      const runName = `${mode}-seed-${seed}`;
      if (!existsSync(path.join(o.runsDir, runName, 'model', 'model.safetensors')))
        await runCsTraining(trainConfig, mode, {
          runName,
          runsDir: o.runsDir,
          seed,
          resume: true,
          overwrite: false,
          logger,
        });
    }
    models[mode === 'rl' ? 'SFT + RL' : 'SFT + KTO'] = (seed) =>
      CsAgent.load(path.join(o.runsDir, `${mode}-seed-${seed}`, 'model'));
  }
  const makeEnv = shopEnvFactory(GopoTrainConfigSchema.parse({}));
  const rows: { name: string; perSeed: Record<string, number>[] }[] = [];
  for (const [name, load] of Object.entries(models)) {
    const perSeed: Record<string, number>[] = [];
    for (const seed of o.seeds) {
      const e = await evaluateReplies(await load(seed), makeEnv, {
        scenarios: o.evalScenarios,
        seed,
        ...(o.judges ? { judges: o.judges } : {}),
      });
      perSeed.push(Object.fromEntries(Object.entries(e.metrics).map(([k, v]) => [k, v.value])));
      logger.info(`evaluated ${name}, seed ${seed}`);
    }
    rows.push({ name, perSeed });
  }
  const columns = [...new Set(rows.flatMap((r) => r.perSeed.flatMap((p) => Object.keys(p))))].filter(
    (k) =>
      (METRICS as readonly string[]).includes(k) || k.startsWith('adherence_') || k.startsWith('agreement_'),
  );
  const cell = (xs: number[]) => {
    const t = tInterval(xs);
    return Number.isFinite(t.mean)
      ? `${t.mean.toFixed(1)} [${t.low.toFixed(1)}, ${t.high.toFixed(1)}]`
      : 'n/a';
  };
  const table = [
    `| reply model | ${columns.join(' | ')} |`,
    `| --- | ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map(
      (r) => `| ${r.name} | ${columns.map((c) => cell(r.perSeed.map((p) => p[c]!))).join(' | ')} |`,
    ),
  ].join('\n');
  const wallSeconds = (Date.now() - t0) / 1000;
  await writeResults(
    o.runsDir,
    table,
    `Mean over seeds ${o.seeds.join(', ')} [95% t interval]; ${o.evalScenarios} held-out scenarios per seed with the oracle's strategies`,
    wallSeconds,
    { options: { ...o, judges: undefined }, rows },
  );
  return { table, wallSeconds };
}

if (isMain(import.meta.url))
  printResults(await runCsExperiment(experimentArgs({ evalScenarios: 200, runsDir: 'runs/cs-agent' })));
