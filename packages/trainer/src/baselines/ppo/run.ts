/**
 * The flat PPO baseline (DESIGN.md 4.6): one reply model, no strategy layer, trained with token-level
 * PPO over its reply tokens across the whole dialogue. Per phase:
 *
 *   rollout   `episodesPerPhase` training scenarios (drawn from (seed, phase)), replies sampled at
 *             `temperature`; the strategy each reply performs is what the simulator executes
 *   reward    the sequence reward R(tau) = l_tse TSE + l_gre R_goal + l_es ESNDCG at the dialogue's
 *             last reply token, minus beta_KL (log pi - log pi_ref) at every token (adaptive beta)
 *   targets   the value head's values, GAE over the dialogue's tokens, whitened advantages
 *   update    `epochs` passes of clipped surrogate + clipped value loss in minibatches of replies
 *
 * Held-out evaluations (greedy, the same scenarios as every other method) before the first phase and
 * every `eval.every` phases give the learning curve. A checkpoint after every phase holds the weights
 * with the value head, the optimizer state and beta; a killed run resumes at its last finished phase.
 */
import { existsSync, promises as fs } from 'node:fs';
import { createRunDir, type Logger, PhaseTimers, Progress, Rng, writeJsonAtomic } from '@gopo/core';
import { CsAgent, CsUpdater, loadValueHead } from '@gopo/cs-agent';
import { createKlController } from '@gopo/rewards';
import { resumeKlPhaseCheckpoint, saveKlPhaseCheckpoint } from '../../checkpoints.js';
import { ppoBatch, ppoEpochs } from '../../cs/ppo-steps.js';
import { evaluateHeldOut } from '../../gopo/evaluate.js';
import { evalMetrics, trimMetrics } from '../../gopo/run.js';
import { trainingJobs } from '../../gopo/scenarios.js';
import { sequenceRewardFn } from '../../rewards.js';
import { InProcessPool } from '../../rollout/worker-pool.js';
import { shopEnvFactoryFor } from '../../rollout/worker-spec.js';
import { type FlatPpoConfig, type FlatPpoConfigInput, FlatPpoConfigSchema } from './config.js';
import { flatRoles, RecordingReplyPolicy } from './flat-agent.js';

export interface FlatPpoRunOptions {
  readonly runName: string;
  readonly runsDir: string;
  /** Continue an existing run folder from its last checkpoint (refused if the config changed). */
  readonly resume: boolean;
  /** Replace an existing run folder. */
  readonly overwrite: boolean;
  readonly logger: Logger;
  readonly progress?: boolean;
  /** Stop after this many phases as if killed (tests of resume). */
  readonly stopAfterPhases?: number;
}

/** One held-out evaluation of the learning curve. */
export interface FlatPpoCurvePoint {
  /** Training dialogues played before it. */
  readonly episodes: number;
  /** The evaluation's metrics under evaluateHeldOut's names (tse, gre, esndcg, success_rate, ...). */
  readonly metrics: Record<string, number>;
}

export interface FlatPpoResult {
  readonly runDir: string;
  /** The trained flat reply model (with tokenizer.json and value-head.safetensors); loadFlatAgentRoles reads it. */
  readonly modelDir: string;
  readonly curve: FlatPpoCurvePoint[];
  /** Whether the run stopped early (stopAfterPhases): no model folder is written then. */
  readonly interrupted: boolean;
}

/** Settings a resumed run must share with the one it continues (everything but evaluation and threads). */
function resumeKey(c: FlatPpoConfig): string {
  const { eval: _eval, threads: _threads, keepCheckpoints: _keep, ...rest } = c;
  return JSON.stringify(rest);
}

/** The learning curve as logged in metrics.jsonl (records with `episodes` and `eval/*` keys). */
async function readCurve(metricsFile: string): Promise<FlatPpoCurvePoint[]> {
  if (!existsSync(metricsFile)) return [];
  const out: FlatPpoCurvePoint[] = [];
  for (const line of (await fs.readFile(metricsFile, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    if (typeof r.episodes !== 'number' || typeof r['eval/tse'] !== 'number') continue;
    const metrics: Record<string, number> = {};
    for (const [k, v] of Object.entries(r))
      if (k.startsWith('eval/') && !k.endsWith('_low') && !k.endsWith('_high') && typeof v === 'number')
        metrics[k.slice('eval/'.length)] = v;
    out.push({ episodes: r.episodes, metrics });
  }
  return out;
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** Runs (or resumes) the flat PPO baseline in runs/<runName>. */
export async function runFlatPpo(
  raw: FlatPpoConfigInput,
  options: FlatPpoRunOptions,
): Promise<FlatPpoResult> {
  const c = FlatPpoConfigSchema.parse(raw);
  const log = options.logger;
  const key = resumeKey(c);
  const run = await createRunDir(
    options.runName,
    { resumeKey: key, config: c },
    {
      parent: options.runsDir,
      resume: options.resume,
      overwrite: options.overwrite,
      inputs: [c.model],
    },
  );
  try {
    const makeEnv = shopEnvFactoryFor(c.env);
    const strategies = makeEnv().strategies;
    const generation = { maxNewTokens: c.maxNewTokens, temperature: 0, strategyToken: false };
    const agent = await CsAgent.load(c.model, generation, { trainable: true, intraOpThreads: c.threads });
    const reference = await CsAgent.load(c.model, generation, { intraOpThreads: c.threads });
    const updater = new CsUpdater(
      agent,
      c.minibatch,
      { kind: 'ppo', ppo: c.ppo },
      {
        lr: c.lr,
        clipNorm: c.clipNorm,
        optimizer: { kind: 'adamw', weightDecay: 0 },
        intraOpThreads: c.threads,
        seed: c.seed,
      },
      await loadValueHead(c.model),
    );
    const kl = createKlController(c.metrics.kl);
    const reward = sequenceRewardFn(c.metrics);
    const roleOptions = { strategies, fallbackStrategy: c.fallbackStrategy };
    let done = 0;
    const resumed = await resumeKlPhaseCheckpoint(run.checkpointsDir, updater, kl);
    if (resumed) {
      done = resumed.phases;
      log.info(`resumed from ${resumed.name}: ${done} phase(s) done`);
    }
    await trimMetrics(run.metricsFile, done);
    const evaluate = async (label: string) => {
      log.info(`evaluating ${label} on ${c.eval.scenarios} held-out scenarios`);
      const pool = new InProcessPool(flatRoles(agent, roleOptions, updater.version), makeEnv, c.maxLive);
      return (await evaluateHeldOut(pool, c.eval.scenarios, c.metrics, c.seed)).evaluation;
    };
    // The curve's first point: the SFT agent (kept when a run killed before its first checkpoint resumes).
    if (done === 0 && (await readCurve(run.metricsFile)).length === 0)
      await run.logMetrics(0, { episodes: 0, ...evalMetrics(await evaluate('the SFT agent')) });
    // Each phase's rollout, reward, targets and update under a named timer (time/<phase> metrics).
    const timers = new PhaseTimers();
    const progress = new Progress({
      total: c.phases,
      label: 'flat ppo',
      ...(options.progress === false ? { enabled: false } : {}),
    });
    progress.tick(done);
    const stopAt = Math.min(c.phases, options.stopAfterPhases ?? c.phases);
    for (let phase = done; phase < stopAt; phase++) {
      const jobs = trainingJobs(c.seed, phase, c.episodesPerPhase, 1);
      const recorder = new RecordingReplyPolicy(agent, { temperature: c.temperature });
      const results = await timers.time('rollout', () =>
        new InProcessPool(flatRoles(recorder, roleOptions, updater.version), makeEnv, c.maxLive).run(jobs),
      );
      const scores = await timers.time('reward', () => reward.score(results.map((r) => r.session)));
      // The sequence reward lands on the last token of the dialogue's last reply; every other token scores 0.
      const trajectories = results.map((r, i) => {
        const replies = recorder.repliesOf(r.session.session_id);
        return {
          replies,
          scores: replies.map((g, k) =>
            g.tokens.map((_, t) =>
              k === replies.length - 1 && t === g.tokens.length - 1 ? scores[i]!.total : 0,
            ),
          ),
        };
      });
      const batch = await timers.time('targets', () =>
        ppoBatch(trajectories, { reference, updater, ppo: c.ppo, beta: kl.value }),
      );
      const rng = Rng.fromSeed(c.seed, `flat-ppo:${phase}`);
      const update = await timers.time('update', () => ppoEpochs(updater, batch.items, c.epochs, rng));
      const klMean = mean(batch.kls);
      const beta = kl.value;
      kl.update(klMean);
      const metrics: Record<string, number> = {
        phase,
        episodes: (phase + 1) * c.episodesPerPhase,
        'reward/sequence': mean(scores.map((s) => s.total)),
        'reward/tse': mean(scores.map((s) => s.parts.tse ?? Number.NaN)),
        'reward/gre': mean(scores.map((s) => s.parts.gre ?? Number.NaN)),
        'reward/shaped': mean(batch.rewards),
        'policy/kl': klMean,
        'policy/beta': beta,
        'ppo/value_mean': batch.meanValue,
        'ppo/replies': batch.items.length,
        ...update,
      };
      if ((phase + 1) % c.eval.every === 0 || phase === c.phases - 1)
        Object.assign(metrics, evalMetrics(await evaluate(`after phase ${phase}`)));
      Object.assign(metrics, timers.metrics());
      timers.reset();
      await run.logMetrics(phase + 1, metrics);
      await saveKlPhaseCheckpoint(run.checkpointsDir, updater, kl, phase + 1, key, c.keepCheckpoints);
      log.info(
        `flat ppo phase ${phase}: R ${metrics['reward/sequence']?.toFixed(3)}, KL ${klMean.toFixed(3)}, loss ${metrics['loss/ppo']?.toFixed(4)}${metrics['eval/tse'] !== undefined ? `, held-out TSE ${metrics['eval/tse'].toFixed(1)}` : ''}`,
      );
      progress.tick(1, `phase ${phase}`);
    }
    progress.done();
    const modelDir = run.file('model');
    const interrupted = stopAt < c.phases;
    if (!interrupted) {
      await updater.saveModel(modelDir);
      await writeJsonAtomic(run.file('summary.json'), {
        phases: c.phases,
        curve: await readCurve(run.metricsFile),
      });
    }
    return { runDir: run.root, modelDir, curve: await readCurve(run.metricsFile), interrupted };
  } finally {
    run.release();
  }
}
