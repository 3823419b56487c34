/**
 * How each kind of method of `gopo experiment` trains for one seed under the shared budget and what
 * it hands to the held-out evaluation: the episode roles that act, whether they sample, the
 * episodes it played and its learning curve (held-out TSE and the other report metrics against
 * episodes played). Every method starts from the same config (`gopo`), plays training scenarios
 * drawn the same way (trainingJobs of the seed), and is evaluated on the same held-out scenarios.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { applyOverrides, ConfigError, type Logger, Progress, parseConfig, writeJsonAtomic } from '@gopo/core';
import type { DialogueEnv } from '@gopo/dialogue';
import { shopStrategyPolicies } from '@gopo/envs';
import { ExpertAgent } from '@gopo/expert-agent';
import { match } from 'ts-pattern';
import { createReplyBackend, type ReplyBackend } from '../backends/reply-backends.js';
import { MementoPolicy } from '../baselines/memento/memento-policy.js';
import { FlatPpoConfigSchema } from '../baselines/ppo/config.js';
import { loadFlatAgentRoles } from '../baselines/ppo/flat-agent.js';
import { runFlatPpo } from '../baselines/ppo/run.js';
import { GOPO_ABLATIONS } from '../gopo/ablations.js';
import { type GopoTrainConfig, GopoTrainConfigSchema } from '../gopo/config.js';
import { evaluateHeldOut, REPORT_METRICS, scoreInMemory } from '../gopo/evaluate.js';
import { DEFAULT_WARM_START_DIR, phasePlan, runGopoTraining, shopEnvFactory } from '../gopo/run.js';
import { trainingJobs } from '../gopo/scenarios.js';
import { sequenceRewardFn } from '../rewards.js';
import type { EpisodeRoles } from '../rollout/episodes.js';
import { InProcessPool } from '../rollout/worker-pool.js';
import type { ExperimentConfig, ExperimentMethod } from './config.js';

/** One learning-curve point: held-out metrics after `episodes` training episodes. */
export interface CurvePoint {
  readonly episodes: number;
  readonly metrics: Readonly<Record<string, number>>;
}

/** What a method leaves for the final evaluation. */
export interface TrainedMethod {
  readonly roles: EpisodeRoles;
  /** Sample strategies in evaluation (stochastic baselines) instead of taking the most probable. */
  readonly sample: boolean;
  /** Training episodes played (0 for methods that do not train). */
  readonly episodes: number;
  readonly curve: readonly CurvePoint[];
  /** The models that act, for the report's budget table. */
  readonly models: string;
  close(): Promise<void>;
}

export interface MethodContext {
  readonly experiment: ExperimentConfig;
  readonly seed: number;
  /** Folder of this method's runs (one run folder per seed inside). */
  readonly runsDir: string;
  readonly logger: Logger;
  readonly progress: boolean;
}

/** The shared gopo config with the method's overrides and the seed applied. */
export function methodGopoConfig(e: ExperimentConfig, m: ExperimentMethod, seed: number): GopoTrainConfig {
  const source = `methods.${m.id}.set`;
  const ablation = m.kind === 'gopo' && m.ablation ? GOPO_ABLATIONS[m.ablation].overrides : [];
  const raw = applyOverrides(
    e.gopo as Record<string, unknown>,
    [...ablation, ...('set' in m ? m.set : []), `seed=${seed}`],
    GopoTrainConfigSchema,
  );
  return parseConfig(GopoTrainConfigSchema, raw, source);
}

/** Episodes one iteration of the hierarchical loop plays. */
export function episodesPerIteration(c: GopoTrainConfig): number {
  const expert = c.loop.expertPhases * c.rollout.scenarios * c.rollout.groupSize;
  const cs = c.reply.kind === 'lm' && c.reply.train ? c.loop.csPhases * c.reply.train.scenarios : 0;
  return expert + cs;
}

/** The GOPO run config that spends exactly the budget, with curve evaluations spread over it. */
export function budgetedGopoConfig(e: ExperimentConfig, m: ExperimentMethod, seed: number): GopoTrainConfig {
  const c = methodGopoConfig(e, m, seed);
  const per = episodesPerIteration(c);
  if (per === 0 || e.budget.episodes % per !== 0)
    throw new ConfigError(
      { file: `methods.${m.id}` },
      `one iteration plays ${per} episodes (expert phases x rollout.scenarios x groupSize + cs phases x scenarios), which does not divide budget.episodes ${e.budget.episodes}`,
    );
  const iterations = e.budget.episodes / per;
  const withLoop = { ...c, loop: { ...c.loop, iterations } };
  // The phases runGopoTraining's eval.every counts: Expert phases, and CS phases when they train.
  const trainsReply = c.reply.kind === 'lm' && c.reply.train !== undefined;
  const changing = phasePlan(withLoop).filter((p) => p.kind === 'expert' || trainsReply).length;
  return {
    ...withLoop,
    eval: {
      scenarios: e.eval.curveScenarios,
      every: Math.max(1, Math.floor(changing / e.eval.curvePoints)),
      resamples: e.eval.resamples,
    },
  };
}

/** Episodes played after each phase of a GOPO run (index: phases done). */
function episodesAfterPhases(c: GopoTrainConfig): number[] {
  const out = [0];
  for (const p of phasePlan(c))
    out.push(
      out[out.length - 1]! +
        (p.kind === 'expert'
          ? c.rollout.scenarios * c.rollout.groupSize
          : c.reply.kind === 'lm' && c.reply.train
            ? c.reply.train.scenarios
            : 0),
    );
  return out;
}

/** The run's held-out evaluations from metrics.jsonl as curve points. */
async function gopoCurve(runDir: string, c: GopoTrainConfig): Promise<CurvePoint[]> {
  const after = episodesAfterPhases(c);
  const text = await fs.readFile(path.join(runDir, 'metrics.jsonl'), 'utf8');
  const points = new Map<number, CurvePoint>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line) as Record<string, number>;
    if (!Number.isFinite(r['eval/tse']) || r.step === undefined || r.step < 0) continue;
    const episodes = after[r.step] ?? after[after.length - 1]!;
    points.set(episodes, {
      episodes,
      metrics: Object.fromEntries(REPORT_METRICS.map((k) => [k, r[`eval/${k}`] ?? Number.NaN])),
    });
  }
  return [...points.values()].sort((a, b) => a.episodes - b.episodes);
}

const agentDir = (c: GopoTrainConfig) =>
  c.agent.from === 'dir' ? (c.agent.dir ?? DEFAULT_WARM_START_DIR) : undefined;

function startingAgentDir(c: GopoTrainConfig, m: ExperimentMethod): string {
  const dir = agentDir(c);
  if (dir === undefined)
    throw new ConfigError(
      { file: `methods.${m.id}` },
      `a ${m.kind} method needs an Expert Agent folder to start from: set gopo.agent.from to "dir"`,
    );
  return dir;
}

async function frozenReply(c: GopoTrainConfig): Promise<ReplyBackend> {
  // Frozen for evaluation and for methods that never train the reply model.
  const reply = c.reply.kind === 'lm' ? { ...c.reply, train: undefined } : c.reply;
  return createReplyBackend(reply, shopEnvFactory(c)().strategies, { intraOpThreads: c.threads });
}

const replyName = (c: GopoTrainConfig) =>
  match(c.reply)
    .with({ kind: 'template' }, () => 'template CS agent')
    .with({ kind: 'lm' }, (r) => `LM CS Agent (${path.basename(r.dir)})`)
    .with({ kind: 'openai' }, (r) => `chat model ${r.model}`)
    .exhaustive();

const expertName = (c: GopoTrainConfig, m: ExperimentMethod) =>
  c.loop.expertPhases === 0
    ? 'Expert Agent (SFT, frozen)'
    : `Expert Agent (GOPO${m.kind === 'gopo' && m.ablation ? `, ${m.ablation}` : ''})`;

async function trainGopo(m: ExperimentMethod, ctx: MethodContext): Promise<TrainedMethod> {
  const c = budgetedGopoConfig(ctx.experiment, m, ctx.seed);
  const runName = `seed-${ctx.seed}`;
  const result = await runGopoTraining(c, {
    runName,
    runsDir: ctx.runsDir,
    resume: true,
    overwrite: false,
    logger: ctx.logger,
    progress: ctx.progress,
  });
  const agent = await ExpertAgent.load(path.join(result.runDir, 'agent'), { intraOpThreads: c.threads });
  const csDir = path.join(result.runDir, 'cs-model');
  const trainedReply = c.reply.kind === 'lm' && c.reply.train && existsSync(csDir);
  const reply = await frozenReply(
    trainedReply && c.reply.kind === 'lm' ? { ...c, reply: { ...c.reply, dir: csDir } } : c,
  );
  return {
    roles: { strategy: agent, reply: reply.policy },
    sample: false,
    episodes: phasePlan(c).length > 0 ? episodesAfterPhases(c).at(-1)! : 0,
    curve: await gopoCurve(result.runDir, c),
    models: `${expertName(c, m)} + ${replyName(c)}${trainedReply ? ' (trained)' : ''}`,
    close: () => reply.close(),
  };
}

async function frozenExpert(m: ExperimentMethod, ctx: MethodContext): Promise<TrainedMethod> {
  const c = methodGopoConfig(ctx.experiment, m, ctx.seed);
  const agent = await ExpertAgent.load(startingAgentDir(c, m), { intraOpThreads: c.threads });
  const reply = await frozenReply(c);
  return {
    roles: { strategy: agent, reply: reply.policy },
    sample: false,
    episodes: 0,
    curve: [],
    models: `Expert Agent (SFT, frozen) + ${replyName(c)}`,
    close: () => reply.close(),
  };
}

/**
 * Memento: the frozen starting Expert Agent as base policy; the budget's episodes are played in
 * phases of the same scenarios GOPO's phases draw (trainingJobs), every finished episode is filed in
 * the case bank (and the scorer refitted as the bank grows), and curve points are held-out
 * evaluations with the bank as it stands (evaluation episodes are not filed).
 */
async function trainMemento(
  m: Extract<ExperimentMethod, { kind: 'memento' }>,
  ctx: MethodContext,
): Promise<TrainedMethod> {
  const c = methodGopoConfig(ctx.experiment, m, ctx.seed);
  const base = await ExpertAgent.load(startingAgentDir(c, m), { intraOpThreads: c.threads });
  const reply = await frozenReply(c);
  const memento = await MementoPolicy.create({
    base,
    reward: sequenceRewardFn(c.metrics),
    config: m.memento,
  });
  const makeEnv: () => DialogueEnv = shopEnvFactory(c);
  const pool = new InProcessPool({ strategy: memento, reply: reply.policy }, makeEnv, c.rollout.maxLive);
  const perPhase = c.rollout.scenarios * c.rollout.groupSize;
  const phases = Math.ceil(ctx.experiment.budget.episodes / perPhase);
  const every = Math.max(1, Math.floor(phases / ctx.experiment.eval.curvePoints));
  const curve: CurvePoint[] = [];
  const evaluateNow = async (episodes: number) => {
    const e = await evaluateHeldOut(pool, ctx.experiment.eval.curveScenarios, c.metrics, ctx.seed);
    curve.push({
      episodes,
      metrics: Object.fromEntries(
        REPORT_METRICS.map((k) => [k, e.evaluation.metrics.find((x) => x.name === k)?.value ?? Number.NaN]),
      ),
    });
  };
  await evaluateNow(0);
  const progress = new Progress({
    total: phases,
    label: `memento ${m.id} seed ${ctx.seed}`,
    ...(ctx.progress ? {} : { enabled: false }),
  });
  let played = 0;
  for (let p = 0; p < phases; p++) {
    const jobs = trainingJobs(c.seed, p, c.rollout.scenarios, c.rollout.groupSize).slice(
      0,
      ctx.experiment.budget.episodes - played,
    );
    await pool.run(jobs, { onEpisode: memento.recorder });
    await memento.flush();
    played += jobs.length;
    ctx.logger.info(
      `memento ${m.id} seed ${ctx.seed}: ${played} episodes, bank ${memento.bank.size} cases, ` +
        `decisions from memory ${memento.stats.memory}, fallback ${memento.stats.fallback}`,
    );
    if ((p + 1) % every === 0 || p === phases - 1) await evaluateNow(played);
    progress.tick(1);
  }
  progress.done();
  await memento.bank.save(path.join(ctx.runsDir, `seed-${ctx.seed}.bank.jsonl`));
  await writeJsonAtomic(path.join(ctx.runsDir, `seed-${ctx.seed}.memento.json`), {
    stats: memento.stats,
    fitLosses: memento.fitLosses,
    cases: memento.bank.size,
  });
  return {
    roles: { strategy: memento, reply: reply.policy },
    sample: false,
    episodes: played,
    curve,
    models: `Expert Agent (SFT, frozen) + case bank of ${memento.bank.size} cases + ${replyName(c)}`,
    close: () => reply.close(),
  };
}

async function scripted(
  m: Extract<ExperimentMethod, { kind: 'scripted' }>,
  ctx: MethodContext,
): Promise<TrainedMethod> {
  const c = methodGopoConfig(ctx.experiment, m, ctx.seed);
  const reply = await frozenReply(c);
  return {
    roles: { strategy: shopStrategyPolicies.get(m.policy), reply: reply.policy },
    // The oracle is deterministic; the imperfect scripted agents are stochastic policies.
    sample: m.policy !== 'oracle',
    episodes: 0,
    curve: [],
    models: `scripted ${m.policy} policy + ${replyName(c)}`,
    close: () => reply.close(),
  };
}

/**
 * Flat PPO: one reply model without a strategy layer, trained on the shared config's sequence reward
 * for the budget's episodes (phases = budget / episodesPerPhase), evaluated greedily.
 */
async function trainFlatPpo(
  m: Extract<ExperimentMethod, { kind: 'flat_ppo' }>,
  ctx: MethodContext,
): Promise<TrainedMethod> {
  const e = ctx.experiment;
  const { kl, ...ppo } = m.ppo;
  if (e.budget.episodes % ppo.episodesPerPhase !== 0)
    throw new ConfigError(
      { file: `methods.${m.id}` },
      `ppo.episodesPerPhase ${ppo.episodesPerPhase} does not divide budget.episodes ${e.budget.episodes}`,
    );
  const phases = e.budget.episodes / ppo.episodesPerPhase;
  const c = FlatPpoConfigSchema.parse({
    ...ppo,
    seed: ctx.seed,
    env: e.gopo.env,
    phases,
    metrics: { ...e.gopo.metrics, ...(kl ? { kl } : {}) },
    eval: { scenarios: e.eval.curveScenarios, every: Math.max(1, Math.floor(phases / e.eval.curvePoints)) },
  });
  const r = await runFlatPpo(c, {
    runName: `seed-${ctx.seed}`,
    runsDir: ctx.runsDir,
    resume: true,
    overwrite: false,
    logger: ctx.logger,
    progress: ctx.progress,
  });
  const roles = await loadFlatAgentRoles(r.modelDir, {
    fallbackStrategy: c.fallbackStrategy,
    generation: { maxNewTokens: c.maxNewTokens, temperature: 0 },
    intraOpThreads: c.threads,
  });
  return {
    roles,
    sample: false,
    episodes: e.budget.episodes,
    curve: r.curve,
    models: `flat LM agent (${path.basename(path.dirname(c.model))}, PPO)`,
    close: async () => {},
  };
}

/** Trains (or reloads a finished run of) method `m` for one seed. */
export function trainMethod(m: ExperimentMethod, ctx: MethodContext): Promise<TrainedMethod> {
  return match(m)
    .with({ kind: 'gopo' }, (x) => trainGopo(x, ctx))
    .with({ kind: 'sft' }, (x) => frozenExpert(x, ctx))
    .with({ kind: 'memento' }, (x) => trainMemento(x, ctx))
    .with({ kind: 'scripted' }, (x) => scripted(x, ctx))
    .with({ kind: 'flat_ppo' }, (x) => trainFlatPpo(x, ctx))
    .exhaustive();
}

/** Scores of `sessions` as report metrics (mean values). */
export function metricValues(
  sessions: Parameters<typeof scoreInMemory>[0],
  c: GopoTrainConfig,
  seed: number,
): Record<string, number> {
  const { evaluation } = scoreInMemory(sessions, c.metrics, seed);
  return Object.fromEntries(evaluation.metrics.map((x) => [x.name, x.value]));
}
