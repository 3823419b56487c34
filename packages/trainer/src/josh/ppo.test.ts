import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRunDir, type RunDir, resolveDataDir, silentLogger } from '@gopo/core';
import { saveTinyRandomModel } from '@gopo/lm/testing';
import { describe, expect, it } from 'vitest';
import { JoshConfigSchema } from './config.js';
import { runPpoStage } from './ppo.js';
import { type JoshTask, toolwozJoshTask } from './tasks.js';

const dataDir = resolveDataDir();

describe('josh ppo config', () => {
  it('defaults to Rtod and the adaptive KL controller of DESIGN.md 4.5, off unless enabled', () => {
    const p = JoshConfigSchema.parse({}).ppo;
    expect(p.enabled).toBe(false);
    expect(p.reward).toEqual({ kind: 'tod', alpha: 1, beta: 1 });
    expect(p.kl).toMatchObject({ kind: 'adaptive', beta0: 0.01, kBeta: 0.2 });
    expect(() => JoshConfigSchema.parse({ ppo: { reward: { kind: 'u', beta: 1 } } })).toThrow();
    expect(() => JoshConfigSchema.parse({ ppo: { reward: { kind: 'rtod' } } })).toThrow();
  });

  it('refuses step rewards where the environment defines no step-reward sets (tau-bench)', async () => {
    const c = JoshConfigSchema.parse({ ppo: { enabled: true } });
    const task = { train: [{ id: 't', item: {} }], heldOut: [] } as unknown as JoshTask<unknown, unknown>;
    await expect(runPpoStage(task, c, {} as RunDir, 'nowhere', 1, silentLogger())).rejects.toThrow(
      /toolwoz only/,
    );
  });
});

// The ppo stage on a tiny random model: 2 training goals, 1 phase, a short episode cap. It checks
// the plumbing (rollouts, rewards, update, run folder, resume), not learning.
describe.skipIf(!dataDir)('josh ppo stage', () => {
  it('runs a phase, writes metrics, checkpoint and model, then resumes at the next phase', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'josh-ppo-'));
    const start = await saveTinyRandomModel(path.join(root, 'start'), { seed: 3, maxPositions: 768 });
    const config = (phases: number) =>
      JoshConfigSchema.parse({
        goals: { train: 2, eval: 1 },
        maxSteps: 3,
        lmAgent: { maxNewTokens: 8, maxPromptTokens: 700 },
        ppo: { enabled: true, phases, goalsPerPhase: 2, rows: 4, epochs: 1, lr: 1e-3 },
        eval: { seeds: [1] },
        threads: 1,
      });
    const c1 = config(1);
    const task = await toolwozJoshTask(dataDir!, c1, 7);
    const run1 = await createRunDir('ppo', { config: c1 }, { parent: root });
    const r1 = await runPpoStage(task, c1, run1, start, 7, silentLogger());
    const lines = async () =>
      (await fs.readFile(run1.file('metrics.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    const [m] = await lines();
    for (const k of [
      'loss/ppo',
      'ppo/value_loss',
      'ppo/policy_loss',
      'policy/kl',
      'reward/goal',
      'reward/step',
    ])
      expect(Number.isFinite(m[k]), k).toBe(true);
    expect(m['ppo/steps']).toBeGreaterThan(0);
    expect(r1.before.agent).toBe('start');
    expect(r1.after.agent).toBe('josh-ppo');
    await fs.access(path.join(r1.model, 'value-head.safetensors'));
    await fs.access(path.join(r1.model, 'tokenizer.json'));
    await fs.access(run1.file('ppo', 'before.json'));

    // Two phases in the same folder: the first is read back from its checkpoint, only the second runs.
    const c2 = config(2);
    const run2 = await createRunDir(
      'ppo',
      { config: c2 },
      { parent: root, resume: true, allowConfigChange: true },
    );
    const r2 = await runPpoStage(task, c2, run2, start, 7, silentLogger());
    expect((await lines()).map((l) => l.step)).toEqual([1, 2]);
    expect(r2.before).toEqual(r1.before);
    expect(r2.phases).toBe(2);
  }, 600_000);
});
