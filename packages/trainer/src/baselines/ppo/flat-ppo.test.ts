import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '@gopo/core';
import { replyRecords } from '@gopo/cs-agent';
import type { ReplyPolicy, ReplyRequest, StrategyJudge } from '@gopo/dialogue';
import { ShopEnv } from '@gopo/envs';
import { saveTinyRandomModel } from '@gopo/lm/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareMethods } from '../../gopo/compare.js';
import { evalJobs } from '../../gopo/scenarios.js';
import { runEpisodes, type TurnRecord } from '../../rollout/episodes.js';
import { FlatPpoConfigSchema } from './config.js';
import { flatRoles, loadFlatAgentRoles } from './flat-agent.js';
import { runFlatPpo } from './run.js';

// A tiny random flat reply model with the shipped tokenizer: fast, and what PPO does to it is beside
// the point here (the run folder, the curve and resume are what is tested).
let root: string;
let modelDir: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'flat-ppo-'));
  modelDir = await saveTinyRandomModel(path.join(root, 'sft-model'), { seed: 11 });
});

describe('flat episodes', () => {
  it('log the strategy the judge reads in each reply, or the documented fallback when it reads none', async () => {
    const texts = ['Hello! How can I help you today?', 'zzz'];
    let k = 0;
    const seen: ReplyRequest[] = [];
    const reply: ReplyPolicy = {
      name: 'scripted',
      async reply(requests) {
        seen.push(...requests);
        return requests.map(() => texts[k++ % 2]!);
      },
    };
    const detect: StrategyJudge = {
      name: 'fixed',
      async judge(replies) {
        return replies.map((t) => (t.startsWith('Hello') ? 'greet' : null));
      },
    };
    const turns: TurnRecord[] = [];
    const [r] = await runEpisodes(
      evalJobs(1),
      flatRoles(reply, { detect, fallbackStrategy: 'clarify' }),
      () => new ShopEnv(),
      { onTurn: (t) => turns.push(t) },
    );
    expect(seen.every((q) => q.strategy === '')).toBe(true);
    const agentTurns = r!.session.turns.filter((t) => t.role === 'agent');
    expect(agentTurns.length).toBeGreaterThan(1);
    expect(agentTurns[0]!.strategy).toBe('greet');
    expect(turns[0]!.detected).toBe('greet');
    expect(turns[1]!.detected).toBeNull();
    // No move read: the fallback where the SOP admits it, else the first admissible strategy.
    const t1 = turns[1]!;
    const admissible = t1.state.admissible;
    const clarify = r!.decisions[1]!;
    expect(t1.strategy).toBe(
      admissible[2] ? 'clarify' : ['greet', 'elicit_need', 'clarify'][admissible.indexOf(true)],
    );
    expect(agentTurns[1]!.strategy).toBe(t1.strategy);
    expect(clarify.behaviorLogProb).toBeNull();
  });

  it('the flat SFT corpus has no strategy token anywhere', () => {
    const env = new ShopEnv();
    env.reset(3, { sessionId: 's' });
    env.step({ strategy: 'greet', text: 'Hello! How can I help?' });
    const records = replyRecords([env.session()], { strategyTokens: false });
    expect(records.length).toBe(1);
    expect(records[0]!.messages!.some((m) => 'strategy' in m)).toBe(false);
    expect(replyRecords([env.session()])[0]!.messages!.at(-1)!.strategy).toBe('greet');
  });
});

describe('runFlatPpo', () => {
  it('runs PPO phases end to end, writes the run folder, resumes after a kill, and its model plays in compareMethods', async () => {
    const config = FlatPpoConfigSchema.parse({
      model: modelDir,
      phases: 2,
      episodesPerPhase: 2,
      epochs: 1,
      minibatch: 4,
      lr: 1e-3,
      maxNewTokens: 6,
      env: { maxTurns: 4 },
      eval: { scenarios: 2, every: 1 },
      threads: 1,
    });
    const options = {
      runName: 'flat',
      runsDir: root,
      resume: true,
      overwrite: false,
      logger: silentLogger(),
    };
    const killed = await runFlatPpo(config, { ...options, stopAfterPhases: 1, progress: false });
    expect(killed.interrupted).toBe(true);
    expect(killed.curve.map((p) => p.episodes)).toEqual([0, 2]);
    const r = await runFlatPpo(config, { ...options, progress: false });
    expect(r.interrupted).toBe(false);
    expect(r.curve.map((p) => p.episodes)).toEqual([0, 2, 4]);
    for (const p of r.curve)
      expect(Object.keys(p.metrics)).toEqual(expect.arrayContaining(['tse', 'gre', 'success_rate']));
    const lines = (await fs.readFile(path.join(r.runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).step)).toEqual([0, 1, 2]);
    const phase = JSON.parse(lines[1]!);
    for (const k of ['loss/ppo', 'ppo/value_loss', 'policy/kl', 'reward/sequence', 'time/rollout'])
      expect(Number.isFinite(phase[k]), k).toBe(true);
    for (const f of [
      'config.json',
      'summary.json',
      'model/model.safetensors',
      'model/tokenizer.json',
      'model/value-head.safetensors',
    ])
      await fs.access(path.join(r.runDir, f));
    // The killed-and-resumed run ends where an uninterrupted one does.
    const whole = await runFlatPpo(config, { ...options, runName: 'flat-whole', progress: false });
    expect(whole.curve).toEqual(r.curve);
    // A changed training setting is refused on resume.
    await expect(runFlatPpo({ ...config, lr: 2e-3 }, options)).rejects.toThrow();
    const results = await compareMethods(
      [
        {
          name: 'flat-ppo',
          roles: () => loadFlatAgentRoles(r.modelDir, { generation: { maxNewTokens: 6 } }),
        },
      ],
      [1],
      2,
      () => new ShopEnv({ maxTurns: 4 }),
      { name: 'unused', reply: async () => [] },
      FlatPpoConfigSchema.parse({ model: 'x' }).metrics,
    );
    expect(Number.isFinite(results[0]!.metrics.tse!.mean)).toBe(true);
  }, 300_000);
});
