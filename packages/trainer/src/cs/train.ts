/**
 * `gopo cs rl` and `gopo cs kto`: the CS Agent's updates on its own, in a run folder. Strategies come
 * from a frozen strategy policy (a scripted shop policy, or an Expert Agent folder); every phase plays
 * training scenarios drawn from (seed, phase), updates the reply model (per-turn RL or KTO, phases.ts)
 * and checkpoints; evaluations on the held-out scenarios use the oracle's strategies (evaluate.ts).
 * The trained reply model is written to <run>/model, a folder `gopo cs sample` and the `lm` reply
 * backend read.
 */
import { createRunDir, type Logger, Progress, Rng, writeJsonAtomic } from '@gopo/core';
import {
  CsAgent,
  CsUpdater,
  KtoConfigSchema,
  loadValueHead,
  PpoConfigSchema,
  ReplyRlConfigSchema,
} from '@gopo/cs-agent';
import type { StrategyJudge, StrategyPolicy } from '@gopo/dialogue';
import { nluJudge, shopStrategyPolicies, templateReplyPolicy } from '@gopo/envs';
import { ExpertAgent } from '@gopo/expert-agent';
import { createKlController, MetricsConfigSchema } from '@gopo/rewards';
import { z } from 'zod';
import { resumeKlPhaseCheckpoint, saveKlPhaseCheckpoint } from '../checkpoints.js';
import { GopoTrainConfigSchema } from '../gopo/config.js';
import { shopEnvFactory } from '../gopo/run.js';
import { trainingJobs } from '../gopo/scenarios.js';
import { InProcessPool } from '../rollout/worker-pool.js';
import { type CsEvaluation, evaluateReplies } from './evaluate.js';
import { type CsTrainMode, csObjective } from './objective.js';
import type { CsPhaseContext } from './phases.js';
import { runCsPhase } from './run-phase.js';

export const CsTrainConfigSchema = z
  .object({
    model: z.string().min(1).describe('the SFT reply model folder (gopo cs sft writes <run>/model)'),
    strategies: z
      .string()
      .default('history')
      .describe(
        'who picks the strategies while training: a scripted shop policy name, or an Expert Agent folder',
      ),
    phases: z.number().int().min(1).default(6).describe('update phases'),
    scenarios: z.number().int().min(1).default(16).describe('training scenarios played per phase'),
    rl: ReplyRlConfigSchema.prefault({}),
    kto: KtoConfigSchema.prefault({}),
    ppo: PpoConfigSchema.prefault({}).describe(
      'step-reward PPO (gopo cs ppo); its replies are sampled at rl.temperature',
    ),
    epochs: z.number().int().min(1).default(1).describe("passes over each phase's replies"),
    rows: z.number().int().min(1).default(16).describe('replies per optimizer step'),
    lr: z.number().positive().default(2e-5).describe('learning rate (constant)'),
    metrics: MetricsConfigSchema.prefault({}).describe(
      'reward weights (objective), KL controller (kl), step reward beta',
    ),
    eval: z
      .object({
        scenarios: z.number().int().min(1).default(100).describe('held-out scenarios (oracle strategies)'),
        every: z
          .number()
          .int()
          .min(1)
          .default(3)
          .describe('evaluate after every this many phases (and the last)'),
      })
      .strict()
      .prefault({}),
    threads: z.number().int().min(0).default(0).describe('ORT intra-op threads (0: ORT default)'),
    keepCheckpoints: z.number().int().min(1).default(2).describe('phase checkpoints kept'),
  })
  .strict()
  .describe('gopo cs rl / gopo cs kto / gopo cs ppo');
export type CsTrainConfig = z.infer<typeof CsTrainConfigSchema>;

export interface CsTrainResult {
  readonly runDir: string;
  readonly model: string;
  readonly before: CsEvaluation;
  readonly after: CsEvaluation;
}

async function strategyPolicy(name: string, threads: number): Promise<StrategyPolicy> {
  if (shopStrategyPolicies.has(name)) return shopStrategyPolicies.get(name);
  return ExpertAgent.load(name, { intraOpThreads: threads });
}

/** Runs (or resumes) CS RL, KTO or step-reward PPO. */
export async function runCsTraining(
  c: CsTrainConfig,
  mode: CsTrainMode,
  options: {
    runName: string;
    runsDir: string;
    seed: number;
    resume: boolean;
    overwrite: boolean;
    logger: Logger;
    judges?: readonly StrategyJudge[];
  },
): Promise<CsTrainResult> {
  const log = options.logger;
  const run = await createRunDir(
    options.runName,
    { mode, seed: options.seed, config: c },
    { parent: options.runsDir, resume: options.resume, overwrite: options.overwrite, inputs: [c.model] },
  );
  try {
    const key = JSON.stringify({ mode, seed: options.seed, config: c });
    const makeEnv = shopEnvFactory(GopoTrainConfigSchema.parse({}));
    const agent = await CsAgent.load(c.model, {}, { trainable: true, intraOpThreads: c.threads });
    const reference = await CsAgent.load(c.model, {}, { intraOpThreads: c.threads });
    const objective = csObjective(mode, c);
    const updater = new CsUpdater(
      agent,
      c.rows,
      objective,
      {
        lr: c.lr,
        clipNorm: 1,
        optimizer: { kind: 'adamw', weightDecay: 0 },
        intraOpThreads: c.threads,
        seed: options.seed,
      },
      mode === 'ppo' ? await loadValueHead(c.model) : undefined,
    );
    const kl = createKlController(c.metrics.kl);
    // undefined: evaluateReplies' default second judge (the shipped strategy classifier).
    const judges = options.judges;
    const ctx: CsPhaseContext = {
      agent,
      reference,
      updater,
      pool: new InProcessPool(
        { strategy: await strategyPolicy(c.strategies, c.threads), reply: agent },
        makeEnv,
      ),
      judge: nluJudge,
      referenceReplies: (requests) => templateReplyPolicy.reply(requests),
      weights: c.metrics.objective,
      kl,
      stepReward: c.metrics.stepReward,
    };
    let done = 0;
    const resumed = await resumeKlPhaseCheckpoint(run.checkpointsDir, updater, kl);
    if (resumed) {
      done = resumed.phases;
      log.info(`resumed from ${resumed.name}: ${done} phase(s) done`);
    }
    const evaluate = (label: string) => {
      log.info(`evaluating ${label} on ${c.eval.scenarios} held-out scenarios (oracle strategies)`);
      return evaluateReplies(agent, makeEnv, {
        scenarios: c.eval.scenarios,
        seed: options.seed,
        ...(judges ? { judges } : {}),
      });
    };
    const before = await evaluateReplies(reference, makeEnv, {
      scenarios: c.eval.scenarios,
      seed: options.seed,
      ...(judges ? { judges } : {}),
    });
    let after = before;
    const progress = new Progress({ total: c.phases, label: `cs ${mode}` });
    progress.tick(done);
    for (let phase = done; phase < c.phases; phase++) {
      const jobs = trainingJobs(options.seed, 10_000 + phase, c.scenarios, 1);
      const rng = Rng.fromSeed(options.seed, `cs-${mode}:${phase}`);
      const r = await runCsPhase(ctx, mode, jobs, c, rng);
      let metrics: Record<string, number> = { phase, ...r.metrics };
      if ((phase + 1) % c.eval.every === 0 || phase === c.phases - 1) {
        after = await evaluate(`after phase ${phase}`);
        for (const [k, v] of Object.entries(after.metrics)) metrics[`eval/${k}`] = v.value;
      }
      await run.logMetrics(phase + 1, metrics);
      await saveKlPhaseCheckpoint(run.checkpointsDir, updater, kl, phase + 1, key, c.keepCheckpoints);
      log.info(
        `cs ${mode} phase ${phase}: reward ${metrics['cs/reward']?.toFixed(3)}, adherence ${(100 * (metrics['cs/adherence'] ?? 0)).toFixed(1)}%, KL ${metrics['cs/kl']?.toFixed(3)}`,
      );
      progress.tick(1);
      metrics = {};
    }
    progress.done();
    if (done === c.phases) after = await evaluate('the trained reply model (run already complete)');
    const model = run.file('model');
    await updater.saveModel(model);
    // The figures only: the evaluated sessions would make the summary megabytes long.
    const figures = ({ sessions, replies, metrics }: CsEvaluation) => ({ sessions, replies, metrics });
    await writeJsonAtomic(run.file('summary.json'), { before: figures(before), after: figures(after) });
    return { runDir: run.root, model, before, after };
  } finally {
    run.release();
  }
}
