/**
 * GOPO end to end, from the shipped warm start: a few Expert phases raise held-out TSE (paired test
 * on the same scenarios), and a run killed with SIGKILL after a checkpoint resumes to the same final
 * weights, bit for bit, as a run that was never interrupted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyOverrides, RUN_LOCK, silentLogger } from '@gopo/core';
import { type StartedProcess, startProcess } from '@gopo/core/testing';
import { readSafetensors } from '@gopo/nn';
import { afterAll, describe, expect, it } from 'vitest';
import { GOPO_ABLATIONS, type GopoAblationName } from '../src/gopo/ablations.js';
import { GopoTrainConfigSchema } from '../src/gopo/config.js';
import { runGopoTraining } from '../src/gopo/run.js';

const here = dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

describe('gopo train', () => {
  it('a few GOPO phases raise held-out TSE over the warm start (paired test)', async () => {
    const runsDir = await tempDir('gopo-train-');
    const config = GopoTrainConfigSchema.parse({
      seed: 3,
      rollout: { scenarios: 8, groupSize: 4 },
      loop: { iterations: 5, expertPhases: 1, csPhases: 0 },
      eval: { scenarios: 120, every: 5, resamples: 500 },
      threads: 2,
    });
    const r = await runGopoTraining(config, {
      runName: 'learn',
      runsDir,
      resume: false,
      overwrite: false,
      logger: silentLogger(),
      progress: false,
    });
    const tse = r.comparison.metrics.find((m) => m.name === 'tse')!;
    expect(r.phases).toBe(5);
    expect(r.comparison.paired).toBe(120);
    expect(tse.delta, `TSE ${tse.b.toFixed(1)} -> ${tse.a.toFixed(1)}`).toBeGreaterThan(0);
    expect(tse.pValue).toBeLessThan(0.05);
    // The run folder holds what the README promises.
    const root = join(runsDir, 'learn');
    for (const f of [
      'config.json',
      'metrics.jsonl',
      'summary.json',
      'report.md',
      'report.html',
      'agent/expert.json',
    ])
      expect(existsSync(join(root, f)), f).toBe(true);
    // A library call gives the folder back when it returns, not when the process exits.
    expect(existsSync(join(root, RUN_LOCK))).toBe(false);
    const records = readFileSync(join(root, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const phase = records.find((x) => x.phase === 0);
    for (const k of [
      'reward/total',
      'loss/gopo',
      'rewards/accuracies',
      'policy/kl',
      'policy/entropy',
      'time/rollout',
      'time/update',
    ])
      expect(Number.isFinite(phase[k]), k).toBe(true);
    const html = readFileSync(join(root, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=/); // self-contained
    expect(html).toContain('eval/tse');
  }, 900_000);
});

function startChild(runsDir: string, runName: string): Promise<StartedProcess> {
  return startProcess([
    '--conditions=@gopo/source',
    '--import',
    'tsx',
    join(here, '..', 'src', 'bin.ts'),
    'train',
    '--runs-dir',
    runsDir,
    '--run-name',
    runName,
    '--seed',
    '5',
    ...['rollout.scenarios=2', 'rollout.groupSize=3', 'update.groupsPerStep=1', 'loop.iterations=3']
      .concat(['loop.csPhases=0', 'eval.scenarios=6', 'eval.resamples=100', 'threads=1'])
      .flatMap((s) => ['--set', s]),
    '--quiet',
  ]);
}

describe('gopo train ablations', () => {
  /** A one-phase run of `name` (tiny budget), its run folder and its phase record. */
  async function ablationRun(name: GopoAblationName) {
    const runsDir = await tempDir(`gopo-${name}-`);
    const base = {
      seed: 5,
      rollout: { scenarios: 4, groupSize: 3 },
      loop: { iterations: 1, expertPhases: 1, csPhases: 0 },
      eval: { scenarios: 6, every: 1, resamples: 100 },
      threads: 1,
    };
    const config = GopoTrainConfigSchema.parse(
      applyOverrides(base, GOPO_ABLATIONS[name].overrides, GopoTrainConfigSchema),
    );
    const r = await runGopoTraining(config, {
      runName: name,
      runsDir,
      resume: false,
      overwrite: false,
      logger: silentLogger(),
      progress: false,
    });
    const root = join(runsDir, name);
    const phase = readFileSync(join(root, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((x) => x.phase === 0);
    const resolved = JSON.parse(readFileSync(join(root, 'config.json'), 'utf8')).config;
    return { r, root, phase, resolved };
  }

  it('no-sop-mask: the run trains and evaluates an unmasked agent, and reports SOP violations', async () => {
    const { r, root, phase, resolved } = await ablationRun('no-sop-mask');
    expect(resolved.policy.sopMasking).toBe(false);
    expect(r.phases).toBe(1);
    expect(JSON.parse(readFileSync(join(root, 'agent', 'expert.json'), 'utf8')).sopMasking).toBe(false);
    for (const k of ['loss/gopo', 'rollout/sop_violations', 'policy/kl', 'policy/entropy'])
      expect(Number.isFinite(phase[k]), k).toBe(true);
    expect(r.after.metrics.find((m) => m.name === 'sop_compliance')).toBeDefined();
  }, 600_000);

  it('token-preference: the run minimises the token-level loss', async () => {
    const { phase, resolved } = await ablationRun('token-preference');
    expect(resolved.loss.preference).toBe('token');
    for (const k of ['loss/gopo', 'rewards/margins', 'rewards/accuracies'])
      expect(Number.isFinite(phase[k]), k).toBe(true);
  }, 600_000);

  it('no-esndcg: the reward is TSE + R_goal while ESNDCG is still reported', async () => {
    const { r, phase, resolved } = await ablationRun('no-esndcg');
    expect(resolved.metrics.objective.esndcg).toBe(0);
    expect(Number.isFinite(phase['reward/esndcg'])).toBe(true);
    expect(phase['reward/total']).toBeCloseTo(phase['reward/tse'] + phase['reward/gre'], 6);
    expect(r.after.metrics.find((m) => m.name === 'esndcg')).toBeDefined();
  }, 600_000);
});

describe('gopo train resume', () => {
  it('a SIGKILLed run resumed from its checkpoint ends bit-identical to an uninterrupted run', async () => {
    const runsDir = await tempDir('gopo-resume-');
    const reference = await startChild(runsDir, 'straight');
    const killed = await startChild(runsDir, 'killed');
    const ckDir = join(runsDir, 'killed', 'checkpoints');
    const t0 = Date.now();
    while (!existsSync(ckDir) || !(await readdir(ckDir)).some((n) => n.startsWith('step-'))) {
      if (Date.now() - t0 > 600_000) throw new Error('no checkpoint within 10 minutes');
      await new Promise((r) => setTimeout(r, 20));
    }
    killed.child.kill('SIGKILL');
    const k = await killed.done;
    expect(k.signal).toBe('SIGKILL');
    const resumed = await (await startChild(runsDir, 'killed')).done;
    expect(resumed.code, resumed.out).toBe(0);
    const straight = await reference.done;
    expect(straight.code, straight.out).toBe(0);
    const a = await readSafetensors(join(runsDir, 'straight', 'agent', 'model.safetensors'));
    const b = await readSafetensors(join(runsDir, 'killed', 'agent', 'model.safetensors'));
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [name, t] of a.tensors) {
      const u = b.tensors.get(name)!;
      const same = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(
        Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength),
      );
      expect(same, name).toBe(true);
    }
    const summary = (run: string) => JSON.parse(readFileSync(join(runsDir, run, 'summary.json'), 'utf8'));
    expect(summary('killed').after).toEqual(summary('straight').after);
  }, 900_000);
});
