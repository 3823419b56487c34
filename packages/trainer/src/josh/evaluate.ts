/**
 * Held-out evaluation of `gopo josh`: every agent plays the held-out goals once per eval seed;
 * average reward and 100% success rate per seed, their mean and 95% t-interval over seeds. The eval
 * stage compares base / JOSH-SFT / JOSH-KTO (/ JOSH-PPO) with it, and the ppo stage measures its
 * start and trained models before and after.
 */
import { hashString, type Logger } from '@gopo/core';
import { LmToolAgent } from '@gopo/cs-agent';
import type { ToolAgent } from '@gopo/dialogue';
import { runToolEpisode, trialSeed } from '@gopo/envs';
import { joshSummary, passHatK, trialsByTask } from '@gopo/rewards';
import type { JoshConfig } from './config.js';
import type { JoshPolicy } from './search.js';
import type { JoshTask } from './tasks.js';

/** Mean and 95% t-interval over seeds. */
export interface SeedStat {
  readonly mean: number;
  readonly low: number;
  readonly high: number;
  readonly perSeed: readonly number[];
}

export interface AgentEval {
  readonly agent: string;
  readonly averageReward: SeedStat;
  readonly fullSuccessRate: SeedStat;
  /**
   * tau-bench's pass^k for k = 1..seeds, each seed one trial of every held-out goal: the chance that
   * k trials of a goal all reach reward 1, averaged over goals. pass^1 is the mean 100% success rate.
   */
  readonly passHatK: readonly number[];
  /** Share of LM steps that were malformed (null for scripted agents). */
  readonly malformedRate: number | null;
}

// Two-sided 97.5% Student t quantiles for 1..10 degrees of freedom; 1.96 beyond (a small overstatement
// of certainty there is immaterial next to the seed-to-seed spread it reports).
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

export function seedStat(values: readonly number[]): SeedStat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  if (n < 2) return { mean, low: mean, high: mean, perSeed: [...values] };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const half = (T975[n - 2] ?? 1.96) * (sd / Math.sqrt(n));
  return { mean, low: mean - half, high: mean + half, perSeed: [...values] };
}

/** An agent to evaluate: its name in the table, how to create it, whether it is a model (malformed steps). */
export interface EvalAgent<P> {
  readonly name: string;
  readonly policy: JoshPolicy<P>;
  readonly lm: boolean;
}

/** An LM tool agent from a model folder, generating as the evaluation asks (eval.temperature). */
export async function lmEvalAgent<P>(name: string, dir: string, c: JoshConfig): Promise<EvalAgent<P>> {
  const agent = await LmToolAgent.load(
    dir,
    { ...c.lmAgent, temperature: c.eval.temperature },
    { intraOpThreads: c.threads, name },
  );
  return { name, lm: true, policy: { name, create: (_p: P, seed: number) => agent.withConfig({ seed }) } };
}

/** Model agents (LM, OpenAI server) count their steps and the malformed ones they replaced. */
function countsSteps(agent: ToolAgent): agent is ToolAgent & { stats: { steps: number; malformed: number } } {
  const stats = (agent as { stats?: { steps?: unknown; malformed?: unknown } }).stats;
  return typeof stats?.steps === 'number' && typeof stats.malformed === 'number';
}

/** Runs every agent on the held-out goals once per seed. */
export async function evaluate<P, G>(
  task: JoshTask<P, G>,
  seeds: readonly number[],
  agents: readonly EvalAgent<P>[],
  log: Logger,
): Promise<AgentEval[]> {
  const out: AgentEval[] = [];
  for (const a of agents) {
    const avg: number[] = [];
    const full: number[] = [];
    const trials: { task: string; reward: number }[] = [];
    let steps = 0;
    let malformed = 0;
    for (const s of seeds) {
      const rewards: number[] = [];
      for (const [i, item] of task.heldOut.entries()) {
        task.env.reset(item.item, trialSeed(s, 0, i), item.id);
        const agent: ToolAgent = a.policy.create(task.env.privileged(), hashString(`${s}/${i}`));
        const e = await runToolEpisode(task.env, agent);
        rewards.push(e.reward);
        trials.push({ task: item.id, reward: e.reward });
        if (countsSteps(agent)) {
          steps += agent.stats.steps;
          malformed += agent.stats.malformed;
        }
      }
      const j = joshSummary(rewards);
      avg.push(j.averageReward);
      full.push(j.fullSuccessRate);
    }
    const byTask = trialsByTask(trials);
    const r: AgentEval = {
      agent: a.name,
      averageReward: seedStat(avg),
      fullSuccessRate: seedStat(full),
      passHatK: seeds.map((_, k) => passHatK(byTask, k + 1)),
      malformedRate: a.lm ? malformed / Math.max(1, steps) : null,
    };
    log.info(
      `josh eval ${a.name}: average reward ${r.averageReward.mean.toFixed(3)}, 100% success ${(100 * r.fullSuccessRate.mean).toFixed(1)}%`,
    );
    out.push(r);
  }
  return out;
}
