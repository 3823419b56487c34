/**
 * What `gopo josh` needs of an environment, for ToolWOZ and tau-bench retail alike: the environment,
 * the training and held-out items, and its scripted policies.
 */
import { type Registry, UsageError } from '@gopo/core';
import {
  loadMultiwozGoals,
  loadRetailData,
  loadRetailTasks,
  loadToolwozDb,
  type ResettableToolEnv,
  RetailEnv,
  type RetailPrivileged,
  type RetailTask,
  retailPolicies,
  retailTaskFile,
  sampleGoals,
  type ToolPolicy,
  ToolwozEnv,
  type ToolwozGoal,
  toolwozPolicies,
} from '@gopo/envs';
import type { JoshConfig } from './config.js';
import { type StepItemSource, toolwozStepItems } from './toolwoz-step-items.js';

export const JOSH_ENVS = ['toolwoz', 'taubench-retail'] as const;
export type JoshEnvName = (typeof JOSH_ENVS)[number];

export interface JoshItem<G> {
  readonly id: string;
  readonly item: G;
}

export interface JoshTask<P, G> {
  readonly env: ResettableToolEnv<P, G>;
  readonly train: readonly JoshItem<G>[];
  readonly heldOut: readonly JoshItem<G>[];
  readonly policies: Registry<ToolPolicy<P>>;
  /** The step-reward sets of the env's episodes (ToolWOZ only; the ppo stage's step rewards need them). */
  readonly stepItems?: StepItemSource;
}

/** ToolWOZ: the first `goals.train` goals for self-play, the next `goals.eval` held out. */
export async function toolwozJoshTask(
  dataDir: string,
  c: JoshConfig,
  seed: number,
): Promise<JoshTask<ToolwozGoal, ToolwozGoal>> {
  const db = await loadToolwozDb(dataDir);
  const need = c.goals.train + c.goals.eval;
  const all =
    c.goals.source === 'multiwoz'
      ? (await loadMultiwozGoals(dataDir, db)).goals
      : sampleGoals(db, { count: need, seed });
  if (all.length < need)
    throw new UsageError(
      `goals.train + goals.eval = ${need}, but only ${all.length} ${c.goals.source} goals exist`,
    );
  const items = all.slice(0, need).map((g) => ({ id: g.id, item: g }));
  const env = new ToolwozEnv(db, { maxSteps: c.maxSteps });
  return {
    env,
    stepItems: toolwozStepItems(env, db),
    train: items.slice(0, c.goals.train),
    heldOut: items.slice(c.goals.train),
    policies: toolwozPolicies(db),
  };
}

/** tau-bench retail: self-play on the train split, held out: the dev split. */
export async function retailJoshTask(
  dataDir: string,
  c: JoshConfig,
): Promise<JoshTask<RetailPrivileged, RetailTask>> {
  const { data, keyOrder } = await loadRetailData(dataDir);
  const split = async (name: 'train' | 'dev', n: number) => {
    const tasks = await loadRetailTasks(retailTaskFile(dataDir, name));
    if (tasks.length < n) throw new UsageError(`only ${tasks.length} ${name} tasks, ${n} asked for`);
    return tasks.slice(0, n).map((t, i) => ({ id: `${name}-${i}`, item: t }));
  };
  return {
    env: new RetailEnv(data, keyOrder, { maxSteps: c.maxSteps }),
    train: await split('train', c.goals.train),
    heldOut: await split('dev', c.goals.eval),
    policies: retailPolicies(),
  };
}
