/**
 * `gopo experiment` end to end on a tiny budget: every method kind trains and is evaluated over two
 * seeds, the report holds the table, the budgets, the paired comparison and the curves; a second
 * invocation reruns nothing; a changed method is refused as stale; a budget a GOPO iteration does
 * not divide is a config error naming the method.
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ConfigError, LockedError, parseConfig, silentLogger, UsageError } from '@gopo/core';
import { readSessionsAll } from '@gopo/dialogue';
import { saveTinyRandomModel } from '@gopo/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import { type ExperimentConfigInput, ExperimentConfigSchema } from '../src/experiment/config.js';
import { budgetedGopoConfig } from '../src/experiment/methods.js';
import { runExperiment } from '../src/experiment/run.js';
import { experimentStatus, formatStatus } from '../src/experiment/status.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

// A tiny random flat reply model with the shipped tokenizer (what PPO does to it is beside the point).
let flatModel = '';
beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), 'gopo-exp-flat-'));
  dirs.push(root);
  flatModel = await saveTinyRandomModel(join(root, 'flat-sft'), { seed: 5 });
});

const base: ExperimentConfigInput = {
  seeds: [1, 2],
  budget: { episodes: 32 },
  eval: { scenarios: 12, curveScenarios: 6, curvePoints: 2, resamples: 200 },
  gopo: {
    rollout: { scenarios: 4, groupSize: 4 },
    update: { groupsPerStep: 2 },
    loop: { expertPhases: 1, csPhases: 0 },
    threads: 1,
  },
  methods: [
    { id: 'gopo', label: 'GOPO', kind: 'gopo' },
    {
      id: 'memento',
      kind: 'memento',
      memento: {
        refitEvery: 32,
        minCasesToFit: 32,
        scorer: { stepsPerFit: 5, queriesPerFit: 16, batchSize: 8 },
      },
    },
    { id: 'sft', kind: 'sft' },
    { id: 'uniform', kind: 'scripted', policy: 'uniform' },
  ],
  compareAgainst: ['memento'],
};

const withFlat = (): ExperimentConfigInput => ({
  ...base,
  methods: [
    ...base.methods,
    {
      id: 'ppo',
      kind: 'flat_ppo',
      ppo: { model: flatModel, episodesPerPhase: 16, epochs: 1, minibatch: 32, maxNewTokens: 6, threads: 1 },
    },
  ],
});

describe('gopo experiment', () => {
  it('runs every method over the seeds, reports, and resumes without rerunning', async () => {
    const runsDir = await mkdtemp(join(tmpdir(), 'gopo-exp-'));
    dirs.push(runsDir);
    const config = ExperimentConfigSchema.parse(withFlat());
    const r = await runExperiment(config, {
      runName: 'x',
      runsDir,
      overwrite: false,
      logger: silentLogger(),
      progress: false,
    });
    expect(r.methods.map((m) => m.id)).toEqual(['gopo', 'memento', 'sft', 'uniform', 'ppo']);
    const byId = new Map(r.methods.map((m) => [m.id, m]));
    expect(byId.get('gopo')!.episodes).toBe(32);
    expect(byId.get('memento')!.episodes).toBe(32);
    expect(byId.get('sft')!.episodes).toBe(0);
    expect(byId.get('ppo')!.episodes).toBe(32);
    expect(byId.get('ppo')!.curve.map((p) => p.episodes)).toEqual([0, 16, 32]);
    expect(byId.get('ppo')!.models).toMatch(/^flat LM agent/);
    // The table's value is the mean over seeds of the per-seed results.
    const perSeed = [1, 2].map(
      (s) => JSON.parse(readFileSync(join(r.runDir, 'results', 'gopo', `seed-${s}.json`), 'utf8')).values.tse,
    );
    expect(byId.get('gopo')!.metrics.tse!.mean).toBeCloseTo((perSeed[0] + perSeed[1]) / 2, 10);
    // Held-out sessions are kept as logs, one per scenario.
    expect(await readSessionsAll(join(r.runDir, 'results', 'sft', 'seed-1.sessions.jsonl'))).toHaveLength(12);
    // GOPO's curve: before training, and after each of its evaluations.
    expect(byId.get('gopo')!.curve.map((p) => p.episodes)).toEqual([0, 16, 32]);
    expect(byId.get('memento')!.curve.map((p) => p.episodes)).toEqual([0, 16, 32]);
    // Every other method against Memento, paired over 2 seeds x 12 scenarios.
    expect(r.comparisons.map((c) => c.method)).toEqual(['gopo', 'sft', 'uniform', 'ppo']);
    for (const c of r.comparisons) {
      expect(c.paired).toBe(24);
      expect(c.scenarios).toBe(12); // the bootstrap's units: a scenario with its two seeds
      const tse = c.metrics.find((m) => m.name === 'tse')!;
      expect(tse.delta).toBeCloseTo(tse.a - tse.b, 9);
      expect(tse.relative).toBeCloseTo((100 * tse.delta) / Math.abs(tse.b), 9);
    }
    const md = readFileSync(r.files.markdown, 'utf8');
    expect(md).toContain('| GOPO | 32 |');
    expect(md).toContain('## Against memento');
    expect(md).toMatch(/\| GOPO \| 24 \(12\) \|/);
    // p at the test's floor, 1 / (200 resamples + 1), can only be bounded.
    expect(md).toMatch(/ p(=0\.\d{3}|<=0\.0050) /);
    expect(md).toContain('## Learning curve');
    const html = readFileSync(r.files.html, 'utf8');
    expect(html).toContain('new Chart(');
    expect(html).not.toMatch(/<script[^>]+src=/);

    // Resume: nothing is retrained or re-evaluated.
    const marker = join(r.runDir, 'results', 'gopo', 'seed-1.json');
    const before = (await stat(marker)).mtimeMs;
    const again = await runExperiment(config, {
      runName: 'x',
      runsDir,
      overwrite: false,
      logger: silentLogger(),
      progress: false,
    });
    expect((await stat(marker)).mtimeMs).toBe(before);
    expect(again.methods.map((m) => m.metrics.tse!.mean)).toEqual(r.methods.map((m) => m.metrics.tse!.mean));

    // A method whose settings changed is stale: refused, naming it and what changed.
    const changed = ExperimentConfigSchema.parse({
      ...withFlat(),
      methods: withFlat().methods!.map((m) => (m.id === 'sft' ? { ...m, set: ['update.lr=0.01'] } : m)),
    });
    await expect(
      runExperiment(changed, {
        runName: 'x',
        runsDir,
        overwrite: false,
        logger: silentLogger(),
        progress: false,
      }),
    ).rejects.toThrow(UsageError);
    await expect(
      runExperiment(changed, {
        runName: 'x',
        runsDir,
        overwrite: false,
        logger: silentLogger(),
        progress: false,
      }),
    ).rejects.toThrow(/sft, seed 1 was run with other settings \(method\.set/);
    expect(existsSync(marker)).toBe(true);
  }, 600_000);

  it('skips a method/seed another process is running, and will not overwrite it', async () => {
    const runsDir = await mkdtemp(join(tmpdir(), 'gopo-exp-lock-'));
    dirs.push(runsDir);
    const config = ExperimentConfigSchema.parse({
      ...base,
      methods: [{ id: 'uniform', kind: 'scripted', policy: 'uniform' }],
      compareAgainst: [],
    });
    const warnings: string[] = [];
    const logger = winston.createLogger({
      level: 'warn',
      transports: [
        new winston.transports.Stream({
          stream: new Writable({
            objectMode: true,
            write: (info: { message: string }, _enc, done) => {
              warnings.push(info.message);
              done();
            },
          }),
        }),
      ],
    });
    const options = { runName: 'x', runsDir, overwrite: false, logger, progress: false };
    await runExperiment(config, { ...options, only: [] }); // the run folder, nothing run
    const results = join(runsDir, 'x', 'results', 'uniform');
    await mkdir(results, { recursive: true });
    // A live process (this test's parent) holds seed 1.
    const held = `${JSON.stringify({ pid: process.ppid, host: hostname(), started: 'now', command: 'gopo experiment' })}\n`;
    await writeFile(join(results, 'seed-1.lock'), held);
    const r = await runExperiment(config, options);
    expect(existsSync(join(results, 'seed-1.json'))).toBe(false);
    expect(existsSync(join(results, 'seed-2.json'))).toBe(true);
    expect(existsSync(join(results, 'seed-2.lock'))).toBe(false);
    expect(r.methods[0]!.seeds).toEqual([2]);
    expect(warnings.join('\n')).toMatch(/skipped: uniform, seed 1 is in use by process \d+/);
    const status = await experimentStatus(config, r.runDir);
    expect(status.map((s) => [s.seed, s.state.kind])).toEqual([
      [1, 'running'],
      [2, 'done'],
    ]);
    expect(formatStatus(status)).toMatch(/\| uniform \| 1 \| running: process \d+ on .* since now/);
    await expect(runExperiment(config, { ...options, overwrite: true })).rejects.toThrow(LockedError);
    expect(existsSync(join(results, 'seed-2.json'))).toBe(true);
  }, 120_000);

  it('reports the results another invocation finished while this one ran', async () => {
    const runsDir = await mkdtemp(join(tmpdir(), 'gopo-exp-beside-'));
    dirs.push(runsDir);
    const config = ExperimentConfigSchema.parse({
      ...base,
      methods: [
        { id: 'oracle', kind: 'scripted', policy: 'oracle' },
        { id: 'uniform', kind: 'scripted', policy: 'uniform' },
      ],
      compareAgainst: [],
    });
    const quiet = { overwrite: false, logger: silentLogger(), progress: false };
    // The oracle's results, as another invocation (--only oracle) will leave them.
    await runExperiment(config, { ...quiet, runName: 'other', runsDir, only: ['oracle'] });
    const arrive = () =>
      cpSync(join(runsDir, 'other', 'results', 'oracle'), join(runsDir, 'x', 'results', 'oracle'), {
        recursive: true,
      });
    // This invocation runs only uniform; the oracle's results land while it does, after it passed
    // the oracle's rows.
    const logger = winston.createLogger({
      level: 'info',
      transports: [
        new winston.transports.Stream({
          stream: new Writable({
            objectMode: true,
            write: (info: { message: string }, _enc, done) => {
              if (/^uniform, seed 1: training/.test(info.message)) arrive();
              done();
            },
          }),
        }),
      ],
    });
    const r = await runExperiment(config, { ...quiet, logger, runName: 'x', runsDir, only: ['uniform'] });
    expect(r.methods.map((m) => [m.id, m.seeds])).toEqual([
      ['oracle', [1, 2]],
      ['uniform', [1, 2]],
    ]);
  }, 120_000);

  it('counts the wall time of earlier, interrupted invocations of a method/seed', async () => {
    const runsDir = await mkdtemp(join(tmpdir(), 'gopo-exp-wall-'));
    dirs.push(runsDir);
    const config = ExperimentConfigSchema.parse({
      ...base,
      seeds: [1],
      methods: [{ id: 'uniform', kind: 'scripted', policy: 'uniform' }],
      compareAgainst: [],
    });
    const options = { runName: 'x', runsDir, overwrite: false, logger: silentLogger(), progress: false };
    await runExperiment(config, { ...options, only: [] }); // the run folder, nothing run
    const results = join(runsDir, 'x', 'results', 'uniform');
    await mkdir(results, { recursive: true });
    // An earlier invocation worked 1,000 s on seed 1 before it was killed.
    await writeFile(join(results, 'seed-1.wall.json'), '{"seconds":1000}\n');
    const t0 = Date.now();
    await runExperiment(config, {
      runName: 'x',
      runsDir,
      overwrite: false,
      logger: silentLogger(),
      progress: false,
    });
    const elapsed = (Date.now() - t0) / 1000;
    const r = JSON.parse(readFileSync(join(results, 'seed-1.json'), 'utf8')) as { wallSeconds: number };
    expect(r.wallSeconds).toBeGreaterThan(1000);
    expect(r.wallSeconds).toBeLessThanOrEqual(1000 + elapsed);
    const saved = JSON.parse(readFileSync(join(results, 'seed-1.wall.json'), 'utf8')) as { seconds: number };
    expect(saved.seconds).toBeGreaterThanOrEqual(r.wallSeconds);
  }, 120_000);

  it('refuses a budget one GOPO iteration does not divide, and bad method lists', () => {
    const config = ExperimentConfigSchema.parse({ ...base, budget: { episodes: 40 } });
    expect(() => budgetedGopoConfig(config, config.methods[0]!, 1)).toThrow(ConfigError);
    expect(() => budgetedGopoConfig(config, config.methods[0]!, 1)).toThrow(
      /16 episodes .* budget.episodes 40/,
    );
    const ok = budgetedGopoConfig(ExperimentConfigSchema.parse(base), config.methods[0]!, 7);
    expect(ok.loop.iterations).toBe(2);
    expect(ok.seed).toBe(7);
    expect(ok.eval.scenarios).toBe(6);
    const ablated = ExperimentConfigSchema.parse({
      ...base,
      methods: [{ id: 'a', kind: 'gopo', ablation: 'no-sop-mask', set: ['loss.beta=0.3'] }],
      compareAgainst: [],
    });
    const a = budgetedGopoConfig(ablated, ablated.methods[0]!, 1);
    expect(a.policy.sopMasking).toBe(false);
    expect(a.loss.beta).toBe(0.3);
    expect(ok.policy.sopMasking).toBe(true);
    const parse = (raw: unknown) => parseConfig(ExperimentConfigSchema, raw, 'exp.yaml');
    expect(() => parse({ ...base, methods: [base.methods[0], base.methods[0]], compareAgainst: [] })).toThrow(
      /duplicate method id "gopo"/,
    );
    expect(() => parse({ ...base, compareAgainst: ['ppo'] })).toThrow(
      /no method "ppo"; methods: gopo, memento, sft, uniform/,
    );
    expect(() => parse({ ...base, methods: [{ id: 'x', kind: 'nope' }], compareAgainst: [] })).toThrow(
      /gopo|sft|memento|scripted/,
    );
  });
});
