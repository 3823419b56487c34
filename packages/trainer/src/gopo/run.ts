/**
 * `gopo train`: the hierarchical GOPO loop (DESIGN.md 4.6) in a run folder.
 *
 *   init      Expert Agent from a folder (the shipped warm start by default) or SFT on history logs;
 *             frozen copy = pi_ref; held-out evaluation "before"
 *   iterate   K_E Expert phases (CS frozen): rollout G episodes per scenario -> score R(tau) ->
 *             reference log-probs -> GOPO update; then K_C CS phases (Expert frozen; empty for a
 *             frozen reply backend); evaluation on the held-out scenarios after every `eval.every`
 *             phases; a checkpoint after every phase
 *   finish    the trained agent folder, summary.json (before / after with CIs, paired test), report
 *
 * Every phase's scenarios, sampling streams and minibatch order derive from (seed, phase), and a
 * checkpoint holds the weights, the optimizer state and the phase count, so a run killed at any
 * moment resumes from its last checkpoint and ends bit-identical to an uninterrupted one.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createRunDir,
  type Logger,
  PhaseTimers,
  Progress,
  Rng,
  type RunDir,
  UsageError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@gopo/core';
import { type CsAgent, CsUpdater, loadValueHead } from '@gopo/cs-agent';
import type { DialogueEnv, RolloutBatch } from '@gopo/dialogue';
import { nluJudge, templateReplyPolicy } from '@gopo/envs';
import {
  ExpertAgent,
  type ExpertRuntimeOptions,
  ExpertUpdater,
  type GopoUpdateResult,
  gopoUpdate,
  withReferenceLogProbs,
} from '@gopo/expert-agent';
import {
  type Comparison,
  compareScored,
  createKlController,
  type Evaluation,
  selectMetrics,
} from '@gopo/rewards';
import { createReplyBackend, type ReplyBackend } from '../backends/reply-backends.js';
import {
  loadPhaseCheckpoint,
  resumeKlPhaseCheckpoint,
  saveKlPhaseCheckpoint,
  savePhaseCheckpoint,
} from '../checkpoints.js';
import { type CsTrainMode, csObjective } from '../cs/objective.js';
import type { CsPhaseContext } from '../cs/phases.js';
import { runCsPhase } from '../cs/run-phase.js';
import { sequenceRewardFn } from '../rewards.js';
import { assembleBatch } from '../rollout/batch.js';
import { ThreadPool } from '../rollout/thread-pool.js';
import { InProcessPool, type RolloutWorkerPool } from '../rollout/worker-pool.js';
import { shopEnvFactoryFor } from '../rollout/worker-spec.js';
import { type GopoTrainConfig, GopoTrainConfigSchema } from './config.js';
import { evaluateHeldOut, type PolicyEvaluation, REPORT_METRICS } from './evaluate.js';
import { writeRunReport } from './report.js';
import { evalJobs, trainingJobs } from './scenarios.js';
import { trainWarmStart } from './warm-start.js';

/** The Expert Agent warm start shipped with this package (assets/warm-start). */
export const DEFAULT_WARM_START_DIR = fileURLToPath(new URL('../../assets/warm-start', import.meta.url));

export interface TrainRunOptions {
  readonly runName: string;
  readonly runsDir: string;
  /** Continue an existing run folder from its last checkpoint (refused if the settings changed). */
  readonly resume: boolean;
  /** Replace an existing run folder. */
  readonly overwrite: boolean;
  /** Resume even though training settings changed (the run is then no exact continuation). */
  readonly allowConfigChange?: boolean;
  readonly logger: Logger;
  readonly progress?: boolean;
  readonly provider?: ExpertRuntimeOptions['provider'];
  /** Stop after this many phases as if interrupted (tests of resume). */
  readonly stopAfterPhases?: number;
}

export interface TrainRunResult {
  readonly runDir: string;
  readonly phases: number;
  readonly before: Evaluation;
  readonly after: Evaluation;
  /** after vs before on the same held-out sessions. */
  readonly comparison: Comparison;
  readonly interrupted: boolean;
}

/** Settings a resumed run must share with the run it continues (everything that shapes training). */
function resumeKey(c: GopoTrainConfig): string {
  const { eval: _eval, threads: _threads, keepCheckpoints: _keep, ...rest } = c;
  return JSON.stringify(rest);
}

interface PhasePlan {
  readonly index: number;
  readonly iteration: number;
  readonly kind: 'expert' | 'cs';
}

/** Phases in order: per iteration K_E Expert phases then K_C CS phases. */
export function phasePlan(c: GopoTrainConfig): PhasePlan[] {
  const out: PhasePlan[] = [];
  for (let it = 0; it < c.loop.iterations; it++) {
    for (let k = 0; k < c.loop.expertPhases; k++)
      out.push({ index: out.length, iteration: it, kind: 'expert' });
    for (let k = 0; k < c.loop.csPhases; k++) out.push({ index: out.length, iteration: it, kind: 'cs' });
  }
  return out;
}

/** The shop environment factory of a run: one generated world and SOP shared by every episode. */
export function shopEnvFactory(c: GopoTrainConfig): () => DialogueEnv {
  return shopEnvFactoryFor(c.env);
}

async function warmStartAgent(
  c: GopoTrainConfig,
  run: RunDir,
  makeEnv: () => DialogueEnv,
  reply: ReplyBackend,
  log: Logger,
  runtime: ExpertRuntimeOptions,
): Promise<ExpertAgent> {
  if (c.agent.from === 'dir') {
    const dir = c.agent.dir ?? DEFAULT_WARM_START_DIR;
    log.info(`agent: ${dir}`);
    return ExpertAgent.load(dir, runtime);
  }
  const initDir = run.file('init');
  if (existsSync(path.join(initDir, 'expert.json'))) {
    log.info(`agent: warm start of this run (${initDir})`);
    return ExpertAgent.load(initDir, runtime);
  }
  const r = await trainWarmStart(
    {
      model: c.agent.model,
      warmStart: c.agent.warmStart,
      seed: c.seed,
      maxTurns: c.env.maxTurns,
      threads: c.threads,
      runtime,
    },
    makeEnv,
    reply.policy,
    log,
  );
  await r.agent.save(initDir);
  await run.logMetrics(-1, { 'loss/sft': r.loss, 'sft/accuracy': r.accuracy });
  return r.agent;
}

/** KL(pi || pi_ref) per decision (k3 estimator on the behaviour samples) and its sample count. */
function klEstimate(batch: RolloutBatch): number {
  let sum = 0;
  let n = 0;
  for (const d of batch.decisions) {
    if (d.behaviorLogProb === null || d.refLogProb === null) continue;
    const q = d.refLogProb - d.behaviorLogProb;
    sum += Math.exp(q) - q - 1;
    n++;
  }
  return n === 0 ? Number.NaN : sum / n;
}

const meanOf = (xs: readonly number[]) => {
  const finite = xs.filter((x) => Number.isFinite(x));
  return finite.length === 0 ? Number.NaN : finite.reduce((a, b) => a + b, 0) / finite.length;
};

/** An evaluation as `eval/<metric>` (with `_low` / `_high` interval bounds) metrics. */
export function evalMetrics(e: Evaluation, prefix = 'eval'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of e.metrics) {
    out[`${prefix}/${m.name}`] = m.value;
    out[`${prefix}/${m.name}_low`] = m.low;
    out[`${prefix}/${m.name}_high`] = m.high;
  }
  return out;
}

/** Rewrites metrics.jsonl without the records of phases after the first `phases` (a resumed run redoes them). */
export async function trimMetrics(file: string, phases: number): Promise<void> {
  if (!existsSync(file)) return;
  const lines = (await fs.readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as { step: number }).step <= phases;
    } catch {
      return false;
    }
  });
  if (kept.length !== lines.length) await writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
}

/** Everything a training loop needs from its run folder, opened (or resumed). */
export interface RunSession {
  readonly c: GopoTrainConfig;
  readonly log: Logger;
  readonly run: RunDir;
  readonly makeEnv: () => DialogueEnv;
  readonly strategies: readonly string[];
  readonly reply: ReplyBackend;
  readonly agent: ExpertAgent;
  /** pi_ref: the initial weights, frozen. */
  readonly reference: ExpertAgent;
  /** Rollouts with the agent being trained. */
  readonly pool: RolloutWorkerPool;
  readonly updater: ExpertUpdater;
  /** The CS phases' state when the reply backend is trained (reply.kind lm with `train`). */
  readonly cs?: CsSession;
  /** Phases completed before this process started (from the last checkpoint). */
  readonly done: number;
  /** Held-out evaluation of the initial agent. */
  readonly before: PolicyEvaluation;
  /** Held-out evaluation of the agent being trained. */
  evaluate(label: string): Promise<PolicyEvaluation>;
  /** Checkpoints the state after `phases` phases. */
  checkpoint(phases: number): Promise<void>;
  /** Writes the agent folder, summary and report (unless interrupted) and returns the result. */
  finish(after: PolicyEvaluation, phases: number, interrupted: boolean): Promise<TrainRunResult>;
  close(): Promise<void>;
}

/**
 * Opens the run folder of `c` (refusing to resume one started with other settings), builds the
 * agent (warm start), its reference, the rollout pool and the updater, restores the last checkpoint,
 * and evaluates the initial agent. `mode` and `extraKey` join the resume key.
 */
export async function openRunSession(
  raw: GopoTrainConfig,
  options: TrainRunOptions,
  mode: 'online' | 'offline',
  extraKey: unknown = null,
): Promise<RunSession> {
  const c = GopoTrainConfigSchema.parse(raw);
  const log = options.logger;
  const runtime: ExpertRuntimeOptions = {
    intraOpThreads: c.threads,
    provider: options.provider ?? 'cpu',
    sopMasking: c.policy.sopMasking,
  };
  const key = JSON.stringify({ mode, extraKey, config: resumeKey(c) });
  const configFile = path.join(options.runsDir, options.runName, 'config.json');
  if (options.resume && !options.overwrite && existsSync(configFile)) {
    const saved = JSON.parse(await fs.readFile(configFile, 'utf8')) as { resumeKey?: string };
    if (saved.resumeKey !== undefined && saved.resumeKey !== key && !options.allowConfigChange)
      throw new UsageError(
        `run ${options.runName} was started with other training settings; resuming would not continue the same run (--allow-config-change to accept, --overwrite to start afresh, or another --run-name)`,
      );
  }
  const run = await createRunDir(
    options.runName,
    { resumeKey: key, mode, config: c },
    {
      parent: options.runsDir,
      resume: options.resume,
      overwrite: options.overwrite,
      // Settings that do not shape training (evaluation, threads, retention) may change on resume;
      // the check above refused the others unless asked. createRunDir records what changed.
      allowConfigChange: true,
    },
  );
  const makeEnv = shopEnvFactory(c);
  const strategies = makeEnv().strategies;
  const reply = await createReplyBackend(c.reply, strategies, { intraOpThreads: c.threads });
  let pool: RolloutWorkerPool | undefined;
  try {
    const agent = await warmStartAgent(c, run, makeEnv, reply, log, runtime);
    const reference = agent.clone();
    // workers > 1: threads that load the agent's folder and get the learner's weights on sync().
    pool =
      c.rollout.workers > 1
        ? await ThreadPool.create({
            workers: c.rollout.workers,
            spec: {
              policy: {
                kind: 'expert',
                dir: c.agent.from === 'dir' ? (c.agent.dir ?? DEFAULT_WARM_START_DIR) : run.file('init'),
                sopMasking: c.policy.sopMasking,
              },
              env: c.env,
              reply: c.reply,
              maxLive: c.rollout.maxLive,
              // The thread budget (threads, else every core) shared out among the workers.
              intraOpThreads: Math.max(
                1,
                Math.floor((c.threads || os.availableParallelism()) / c.rollout.workers),
              ),
            },
            learner: agent,
          })
        : new InProcessPool({ strategy: agent, reply: reply.policy }, makeEnv, c.rollout.maxLive);
    const rollouts = pool;
    const G = c.rollout.groupSize;
    const updater = await ExpertUpdater.create(
      agent,
      { rows: c.update.groupsPerStep * G, seqLen: agent.maxSeqLen, slots: c.env.maxTurns },
      c.loss.mode === 'pairwise'
        ? { kind: 'pairwise', loss: c.loss, pairs: (c.update.groupsPerStep * G * (G - 1)) / 2 }
        : { kind: 'group_relative', loss: c.loss },
      {
        lr: c.update.lr,
        clipNorm: c.update.clipNorm,
        optimizer: { kind: 'adamw', weightDecay: c.update.weightDecay },
        intraOpThreads: c.threads,
        seed: c.seed,
      },
    );
    const cs = reply.trainable ? await openCsSession(c, run, pool, reply.trainable, key, log) : undefined;
    let done = 0;
    const latest = await loadPhaseCheckpoint(run.checkpointsDir);
    if (latest) {
      await updater.importState(latest.snapshot);
      done = latest.phases;
      agent.version = latest.scalars.version ?? 0;
      await pool.sync();
      log.info(`resumed from ${path.basename(latest.path)}: ${done} phase(s) done`);
    }
    await trimMetrics(run.metricsFile, done);
    const evalConfig = { ...c.metrics, bootstrap: { ...c.metrics.bootstrap, resamples: c.eval.resamples } };
    const evaluateWith = (p: RolloutWorkerPool, label: string): Promise<PolicyEvaluation> => {
      log.info(`evaluating ${label} on ${c.eval.scenarios} held-out scenarios`);
      return evaluateHeldOut(p, c.eval.scenarios, evalConfig, c.seed, { jobs: evalJobs(c.eval.scenarios) });
    };
    // "Before" is the reference policy (the initial weights), so a resumed run recomputes it exactly.
    const before = await evaluateWith(
      new InProcessPool({ strategy: reference, reply: reply.policy }, makeEnv, c.rollout.maxLive),
      'the initial agent',
    );
    if (done === 0) {
      await writeJsonAtomic(run.file('evals', 'before.json'), before.evaluation);
      await run.logMetrics(0, { ...evalMetrics(before.evaluation), phase: -1 });
    }
    return {
      c,
      log,
      run,
      makeEnv,
      strategies,
      reply,
      agent,
      reference,
      pool,
      updater,
      ...(cs ? { cs } : {}),
      done,
      before,
      // Synced first: offline training updates the agent without a rollout in between.
      async evaluate(label) {
        await rollouts.sync();
        return evaluateWith(rollouts, label);
      },
      async checkpoint(phases) {
        const snap = await updater.exportState();
        await savePhaseCheckpoint(
          run.checkpointsDir,
          snap,
          phases,
          { version: agent.version },
          key,
          c.keepCheckpoints,
        );
      },
      async finish(after, phases, interrupted) {
        const metricsList = selectMetrics({ ...c.metrics, metrics: [...REPORT_METRICS] });
        const comparison = compareScored(after.scored, before.scored, metricsList, evalConfig, c.seed);
        if (!interrupted) {
          await agent.save(run.file('agent'));
          if (cs) await cs.save(run.file('cs-model'));
          await writeJsonAtomic(run.file('evals', 'after.json'), after.evaluation);
          await writeJsonAtomic(run.file('summary.json'), {
            phases,
            before: before.evaluation,
            after: after.evaluation,
            comparison,
          });
          await writeRunReport(run.root);
        }
        return {
          runDir: run.root,
          phases,
          before: before.evaluation,
          after: after.evaluation,
          comparison,
          interrupted,
        };
      },
      async close() {
        await rollouts.close();
        await reply.close();
        run.release();
      },
    };
  } catch (e) {
    await pool?.close();
    await reply.close();
    run.release();
    throw e;
  }
}

/** Runs (or resumes) online `gopo train` with a resolved config. */
export async function runGopoTraining(
  raw: GopoTrainConfig,
  options: TrainRunOptions,
): Promise<TrainRunResult> {
  const session = await openRunSession(raw, options, 'online');
  const { c, log, run, pool, agent, reference, updater, strategies } = session;
  try {
    const rewardFn = sequenceRewardFn(c.metrics);
    const G = c.rollout.groupSize;
    let latestEval = session.before;
    const plan = phasePlan(c);
    // Phases that change a policy (Expert phases; CS phases of a trainable backend, none yet): the
    // evaluation cadence counts these, since a skipped CS phase leaves the last evaluation current.
    const changing = plan.filter((p) => p.kind === 'expert' || session.cs !== undefined);
    const evalAfter = new Set(
      changing
        .filter((_p, k) => (k + 1) % c.eval.every === 0 || k === changing.length - 1)
        .map((p) => p.index),
    );
    const progress = new Progress({
      total: plan.length,
      label: 'gopo',
      ...(options.progress === false ? { enabled: false } : {}),
    });
    progress.tick(session.done);
    let interrupted = false;
    let phases = session.done;
    for (const phase of plan.slice(session.done)) {
      if (options.stopAfterPhases !== undefined && phase.index >= options.stopAfterPhases) {
        interrupted = true;
        break;
      }
      const timers = new PhaseTimers();
      let metrics: Record<string, number> = { phase: phase.index, iteration: phase.iteration };
      if (phase.kind === 'expert') {
        const jobs = trainingJobs(c.seed, phase.index, c.rollout.scenarios, G);
        const results = await timers.time('rollout', () => pool.run(jobs));
        const scores = await timers.time('score', () => rewardFn.score(results.map((r) => r.session)));
        let batch = assembleBatch(results, strategies, scores);
        batch = await timers.time('reference', () => withReferenceLogProbs(batch, reference));
        const u = await timers.time('update', () =>
          gopoUpdate(updater, batch, {
            groupsPerStep: c.update.groupsPerStep,
            epochs: c.update.epochs,
            rng: Rng.fromSeed(c.seed, `update:${phase.index}`),
            maxRollbacks: c.guards.maxRollbacks,
          }),
        );
        await timers.time('sync', () => pool.sync());
        metrics = {
          ...metrics,
          ...rolloutMetrics(batch),
          ...updateMetrics(u, c.loss.mode),
          'policy/version': agent.version,
        };
        guardAlarms(metrics, c, phase.index, log);
        log.info(
          `phase ${phase.index} (expert): R ${metrics['reward/total']!.toFixed(3)}, TSE ${(100 * metrics['reward/tse']!).toFixed(1)}, ` +
            `${u.pairs} pairs, ${u.steps} steps, KL ${metrics['policy/kl']!.toFixed(4)}, entropy ${metrics['policy/entropy']!.toFixed(3)}`,
        );
      } else if (session.cs) {
        const r = await timers.time('cs', () => session.cs!.phase(phase.index));
        metrics = { ...metrics, ...r };
        log.info(
          `phase ${phase.index} (cs ${session.cs.mode}): reward ${r['cs/reward']?.toFixed(3)}, adherence ${(100 * (r['cs/adherence'] ?? 0)).toFixed(1)}%, KL ${r['cs/kl']?.toFixed(3)}`,
        );
      } else {
        log.info(`phase ${phase.index} (cs): skipped, the ${c.reply.kind} reply backend is frozen`);
        metrics['cs/skipped'] = 1;
      }
      if (evalAfter.has(phase.index)) {
        latestEval = await timers.time('eval', () => session.evaluate(`after phase ${phase.index}`));
        metrics = { ...metrics, ...evalMetrics(latestEval.evaluation) };
      }
      metrics = { ...metrics, ...timers.metrics() };
      await run.logMetrics(phase.index + 1, metrics);
      await session.checkpoint(phase.index + 1);
      if (session.cs) await session.cs.checkpoint(phase.index + 1);
      phases = phase.index + 1;
      progress.tick(1, `phase ${phase.index}`);
    }
    progress.done();
    if (!interrupted && session.done === plan.length)
      latestEval = await session.evaluate('the trained agent (run already complete)');
    return await session.finish(latestEval, phases, interrupted);
  } finally {
    await session.close();
  }
}

/** Training-rollout metrics of a scored batch with reference log-probs. */
export function rolloutMetrics(batch: RolloutBatch): Record<string, number> {
  const part = (k: string) => meanOf(batch.trajectories.map((t) => t.rewardParts[k] ?? Number.NaN));
  return {
    'reward/total': meanOf(batch.trajectories.map((t) => t.reward ?? Number.NaN)),
    'reward/tse': part('tse'),
    'reward/gre': part('gre'),
    'reward/esndcg': part('esndcg'),
    'rollout/sop_violations': meanOf(
      batch.trajectories.map(
        (t) => t.session.turns.filter((turn) => turn.role === 'agent' && turn.sop_violation === true).length,
      ),
    ),
    'rollout/success': meanOf(
      batch.trajectories.map((t) => (t.session.outcome.status === 'success' ? 1 : 0)),
    ),
    'rollout/episodes': batch.trajectories.length,
    'rollout/decisions': batch.decisions.length,
    'policy/kl': klEstimate(batch),
  };
}

/** Update metrics: means over the phase's steps of the step graph's outputs. */
export function updateMetrics(
  u: GopoUpdateResult,
  mode: GopoTrainConfig['loss']['mode'],
): Record<string, number> {
  const steps = u.history;
  const avg = (k: string) => meanOf(steps.map((s) => s[k] ?? Number.NaN));
  const out: Record<string, number> = {
    'pairs/count': u.pairs,
    'pairs/useful_groups': u.usefulGroups,
    'update/steps': u.steps,
    'update/rollbacks': steps.filter((s) => s.rolled_back === 1).length,
    [mode === 'pairwise' ? 'loss/gopo' : 'loss/group_relative']: avg('loss'),
    'grad/norm': avg('grad_norm'),
    'policy/entropy': avg('policy/entropy'),
  };
  for (const k of [
    'rewards/chosen',
    'rewards/rejected',
    'rewards/margins',
    'rewards/accuracies',
    'policy/clip_frac',
  ])
    if (steps.some((s) => k in s)) out[k] = avg(k);
  return out;
}

/** Logs the KL and entropy alarms of a phase's metrics. */
export function guardAlarms(
  metrics: Record<string, number>,
  c: GopoTrainConfig,
  phase: number,
  log: Logger,
): void {
  const kl = metrics['policy/kl'] ?? Number.NaN;
  const entropy = metrics['policy/entropy'] ?? Number.NaN;
  if (kl > c.guards.klAlarm)
    log.warn(
      `phase ${phase}: KL(pi || pi_ref) ${kl.toFixed(3)} per decision exceeds the alarm ${c.guards.klAlarm}`,
    );
  if (entropy < c.guards.entropyAlarm)
    log.warn(
      `phase ${phase}: policy entropy ${entropy.toFixed(4)} fell below the alarm ${c.guards.entropyAlarm}`,
    );
}

/** The CS phases of a run whose reply model trains (reply.kind lm with `train`). */
export interface CsSession {
  readonly mode: CsTrainMode;
  /** One CS phase; returns its metrics. */
  phase(index: number): Promise<Record<string, number>>;
  checkpoint(phases: number): Promise<void>;
  /** Writes the reply model folder (with its tokenizer). */
  save(dir: string): Promise<void>;
}

async function openCsSession(
  c: GopoTrainConfig,
  run: RunDir,
  pool: RolloutWorkerPool,
  models: { agent: CsAgent; reference: CsAgent },
  key: string,
  log: Logger,
): Promise<CsSession> {
  const t = (c.reply as Extract<GopoTrainConfig['reply'], { kind: 'lm' }>).train!;
  const objective = csObjective(t.mode, t);
  const updater = new CsUpdater(
    models.agent,
    t.rows,
    objective,
    {
      lr: t.lr,
      clipNorm: 1,
      optimizer: { kind: 'adamw', weightDecay: 0 },
      intraOpThreads: c.threads,
      seed: c.seed,
    },
    objective.kind === 'ppo'
      ? await loadValueHead((c.reply as Extract<GopoTrainConfig['reply'], { kind: 'lm' }>).dir)
      : undefined,
  );
  const kl = createKlController(c.metrics.kl);
  const ctx: CsPhaseContext = {
    agent: models.agent,
    reference: models.reference,
    updater,
    pool,
    judge: nluJudge,
    referenceReplies: (requests) => templateReplyPolicy.reply(requests),
    weights: c.metrics.objective,
    kl,
    stepReward: c.metrics.stepReward,
  };
  const dir = run.file('checkpoints-cs');
  const resumed = await resumeKlPhaseCheckpoint(dir, updater, kl);
  if (resumed) log.info(`resumed the reply model from ${resumed.name}`);
  return {
    mode: t.mode,
    async phase(index) {
      const jobs = trainingJobs(c.seed, index, t.scenarios, 1);
      const rng = Rng.fromSeed(c.seed, `cs:${index}`);
      const r = await runCsPhase(ctx, t.mode, jobs, t, rng);
      return r.metrics;
    },
    checkpoint: (phases) => saveKlPhaseCheckpoint(dir, updater, kl, phases, key, c.keepCheckpoints),
    save: (out) => updater.saveModel(out),
  };
}
