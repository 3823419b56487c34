/**
 * The ppo stage of `gopo josh`: step-reward PPO (DESIGN.md 4.5, Du et al. 2024) of the LM tool agent
 * in the environment, from the SFT or KTO model, which stays frozen as the KL reference. Each phase:
 *
 * 1. rollout: the policy samples (ppo.temperature) full episodes on ppo.goalsPerPhase training goals
 *    against the scripted user; every step keeps its prompt, tokens and log-probs, and what it states
 *    (toolwoz-step-items.ts) marked at the token that completes it;
 * 2. rewards: per token, w_step x the progressive Ru / Rg / Rtod over the episode's tokens plus
 *    w_goal x the env's goal reward on its last token (tool-step-rewards.ts), minus beta_KL (log pi -
 *    log pi_ref) per token; beta_KL follows the adaptive controller on the episodes' mean KL;
 * 3. update: the value head's values, GAE over each episode's tokens (the last token of a step
 *    bootstraps from the first of the next), whitened advantages, then epochs of the clipped
 *    surrogate plus the clipped value loss (CsUpdater's ppo objective; cs/ppo-steps.ts).
 *
 * Every phase ends with a checkpoint in <run>/ppo/checkpoints (weights, optimizer, value head, beta),
 * so an interrupted stage resumes at the next phase. The start model is evaluated on the held-out goals
 * before the first phase (kept in ppo/before.json) and the trained one after the last, with the first
 * eval seed; the trained model goes to models/josh-ppo (with its value head).
 */
import { existsSync, promises as fs } from 'node:fs';
import { hashString, type Logger, Rng, type RunDir, UsageError, writeJsonAtomic } from '@gopo/core';
import { CsAgent, CsUpdater, type GeneratedReply, LmToolAgent, loadValueHead } from '@gopo/cs-agent';
import { trialSeed } from '@gopo/envs';
import { createKlController } from '@gopo/rewards';
import { resumeKlPhaseCheckpoint, saveKlPhaseCheckpoint } from '../checkpoints.js';
import { type PpoTrajectory, ppoBatch, ppoEpochs } from '../cs/ppo-steps.js';
import type { JoshConfig } from './config.js';
import { type AgentEval, evaluate } from './evaluate.js';
import type { JoshTask } from './tasks.js';
import { episodeTokenScores, itemTokenMarks, type MarkedStep } from './tool-step-rewards.js';

export interface PpoStageSummary {
  readonly model: string;
  /** The folder PPO started from. */
  readonly start: string;
  readonly phases: number;
  /** The start model and the trained one on the held-out goals (first eval seed). */
  readonly before: AgentEval;
  readonly after: AgentEval;
  /** beta_KL after the last phase. */
  readonly klBeta: number;
}

/** One rolled-out episode: its steps as PPO replies, their task rewards, and what it earned. */
interface Rollout {
  readonly trajectory: PpoTrajectory;
  readonly goalReward: number;
  readonly stepReward: number;
  readonly steps: number;
  readonly malformed: number;
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** Plays one training goal with the policy and scores its tokens. */
async function rollout<P, G>(
  task: JoshTask<P, G>,
  c: JoshConfig,
  agent: LmToolAgent,
  item: { readonly id: string; readonly item: G },
  seed: number,
): Promise<Rollout> {
  const env = task.env;
  env.reset(item.item, seed, item.id);
  const truth = task.stepItems?.truth() ?? { slots: [], requests: [] };
  const decode = (ids: readonly number[]) => agent.tokenizer.decode(ids, { skipSpecial: true });
  const replies: GeneratedReply[] = [];
  const marked: MarkedStep[] = [];
  let malformed = 0;
  while (!env.done) {
    const s = await agent.sampleStep(env.view());
    // Read before the step runs: a reply is judged by the calls made before it.
    const items = task.stepItems?.stated(s.text, truth) ?? [];
    if (!s.parsed.ok) malformed++;
    env.step(agent.count(s.parsed));
    if (s.tokens.length === 0) continue;
    replies.push({ prompt: s.prompt, tokens: s.tokens, logprobs: s.logprobs, text: s.text });
    marked.push({ numTokens: s.tokens.length, marks: itemTokenMarks(s.tokens, decode, items) });
  }
  const goalReward = env.episode(agent.name).reward;
  const o = { reward: c.ppo.reward, stepWeight: c.ppo.stepWeight, goalWeight: c.ppo.goalWeight };
  const scores = episodeTokenScores(marked, truth, goalReward, o);
  const total = scores.reduce((a, s) => a + s.reduce((x, y) => x + y, 0), 0);
  return {
    trajectory: { replies, scores: scores.map((s) => Array.from(s)) },
    goalReward,
    stepReward: total - c.ppo.goalWeight * goalReward,
    steps: marked.length,
    malformed,
  };
}

/** Runs (or resumes) the ppo stage from the model folder `start`. */
export async function runPpoStage<P, G>(
  task: JoshTask<P, G>,
  c: JoshConfig,
  run: RunDir,
  start: string,
  seed: number,
  log: Logger,
): Promise<PpoStageSummary> {
  const p = c.ppo;
  if (p.reward.kind !== 'none' && !task.stepItems)
    throw new UsageError(
      `ppo.reward.kind ${p.reward.kind}: step rewards are defined for toolwoz only; set ppo.reward.kind: none here`,
    );
  if (task.train.length === 0) throw new UsageError('the ppo stage needs training goals');
  const policy = await LmToolAgent.load(
    start,
    { ...c.lmAgent, temperature: p.temperature, topK: p.topK },
    { trainable: true, intraOpThreads: c.threads, name: 'josh-ppo' },
  );
  const reference = await LmToolAgent.load(start, c.lmAgent, { intraOpThreads: c.threads, name: 'start' });
  // CsUpdater trains any (prompt, tokens) items of an lm decoder; CsAgent is only its holder.
  const updater = new CsUpdater(
    new CsAgent(policy.model, policy.tokenizer),
    p.rows,
    { kind: 'ppo', ppo: p.ppo },
    { lr: p.lr, clipNorm: 1, optimizer: { kind: 'adamw', weightDecay: 0 }, intraOpThreads: c.threads, seed },
    await loadValueHead(start),
  );
  const referenceHolder = new CsAgent(reference.model, reference.tokenizer);
  const kl = createKlController(p.kl);
  const checkpoints = run.file('ppo', 'checkpoints');
  const key = JSON.stringify({ seed, start, ppo: p });
  let done = 0;
  const resumed = await resumeKlPhaseCheckpoint(checkpoints, updater, kl);
  if (resumed) {
    done = resumed.phases;
    log.info(`josh ppo: resumed from ${resumed.name}, ${done} phase(s) done`);
  }
  const seeds = [c.eval.seeds[0]!];
  const evalAgent = (name: string, agent: LmToolAgent) => ({
    name,
    lm: true,
    policy: {
      name,
      create: (_p: P, s: number) =>
        agent.withConfig({ seed: s, temperature: c.eval.temperature, topK: 0 }, name),
    },
  });
  const beforeFile = run.file('ppo', 'before.json');
  let before: AgentEval;
  if (existsSync(beforeFile)) before = JSON.parse(await fs.readFile(beforeFile, 'utf8')) as AgentEval;
  else {
    [before] = (await evaluate(task, seeds, [evalAgent('start', reference)], log)) as [AgentEval];
    await writeJsonAtomic(beforeFile, before);
  }
  for (let phase = done; phase < p.phases; phase++) {
    const t0 = performance.now();
    const rollouts: Rollout[] = [];
    for (let i = 0; i < p.goalsPerPhase; i++) {
      const n = phase * p.goalsPerPhase + i;
      const item = task.train[n % task.train.length]!;
      const agent = policy.withConfig({ seed: hashString(`josh-ppo/${seed}/${phase}/${i}`) });
      rollouts.push(await rollout(task, c, agent, item, trialSeed(seed, 1 + phase, n)));
    }
    const t1 = performance.now();
    const trajectories = rollouts.map((r) => r.trajectory).filter((t) => t.replies.length > 0);
    const batch = await ppoBatch(trajectories, {
      reference: referenceHolder,
      updater,
      ppo: p.ppo,
      beta: kl.value,
    });
    const update = await ppoEpochs(updater, batch.items, p.epochs, Rng.fromSeed(seed, `josh-ppo:${phase}`));
    const klMean = mean(batch.kls);
    if (Number.isFinite(klMean)) kl.update(klMean);
    const steps = rollouts.reduce((a, r) => a + r.steps, 0);
    const metrics: Record<string, number> = {
      'ppo/phase': phase,
      'reward/goal': mean(rollouts.map((r) => r.goalReward)),
      'reward/step': mean(rollouts.map((r) => r.stepReward)),
      'reward/total': mean(batch.rewards),
      'policy/kl': klMean,
      'policy/beta': kl.value,
      'policy/malformed_rate': rollouts.reduce((a, r) => a + r.malformed, 0) / Math.max(1, steps),
      'rollout/steps_per_episode': steps / rollouts.length,
      'ppo/value_mean': batch.meanValue,
      'time/rollout': (t1 - t0) / 1000,
      'time/update': (performance.now() - t1) / 1000,
      ...update,
    };
    await run.logMetrics(phase + 1, metrics);
    await saveKlPhaseCheckpoint(checkpoints, updater, kl, phase + 1, key, p.keepCheckpoints);
    log.info(
      `josh ppo phase ${phase + 1}/${p.phases}: goal reward ${metrics['reward/goal']!.toFixed(3)}, step reward ${metrics['reward/step']!.toFixed(3)}, KL ${klMean.toFixed(3)}, beta ${kl.value.toFixed(4)}`,
    );
  }
  const [after] = (await evaluate(task, seeds, [evalAgent('josh-ppo', policy)], log)) as [AgentEval];
  const model = run.file('models', 'josh-ppo');
  await updater.saveModel(model);
  return { model, start, phases: p.phases, before, after, klBeta: kl.value };
}
