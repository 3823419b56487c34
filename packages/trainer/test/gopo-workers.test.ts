import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '@gopo/core';
import { ExpertAgent } from '@gopo/expert-agent';
import { loadDefaultTokenizer } from '@gopo/lm';
import { describe, expect, it } from 'vitest';
import { GopoTrainConfigSchema } from '../src/gopo/config.js';
import { runGopoTraining, shopEnvFactory } from '../src/gopo/run.js';

/** metrics.jsonl without the timings (the only lines that may differ between runs). */
async function metricsOf(runDir: string): Promise<Record<string, number>[]> {
  const lines = (await fs.readFile(path.join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
  return lines.map((l) => {
    const { time: _time, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries((rest.metrics as Record<string, number> | undefined) ?? rest).filter(
        ([k]) => !k.startsWith('time/'),
      ),
    ) as Record<string, number>;
  });
}

describe('gopo train with rollout workers', () => {
  it('trains the same with 2 worker threads as in process (weights synced after each update)', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-workers-'));
    const base = GopoTrainConfigSchema.parse({
      seed: 3,
      env: { maxTurns: 5 },
      agent: { from: 'dir', dir: path.join(root, 'agent') },
      rollout: { scenarios: 2, groupSize: 3, maxLive: 4 },
      update: { groupsPerStep: 1, lr: 0.05 },
      loop: { iterations: 2, expertPhases: 1, csPhases: 0 },
      eval: { scenarios: 4, resamples: 100 },
      threads: 1,
    });
    const tokenizer = await loadDefaultTokenizer();
    const strategies = shopEnvFactory(base)().strategies;
    const agent = ExpertAgent.random(
      { hiddenSize: 16, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 32, maxSeqLen: 1024 },
      tokenizer,
      strategies,
      1,
    );
    await agent.save(path.join(root, 'agent'));
    const logger = createLogger({ quiet: true });
    const train = (workers: number) =>
      runGopoTraining(
        { ...base, rollout: { ...base.rollout, workers } },
        { runName: `w${workers}`, runsDir: root, resume: false, overwrite: true, logger, progress: false },
      );
    const one = await train(1);
    const two = await train(2);
    const m1 = await metricsOf(one.runDir);
    const m2 = await metricsOf(two.runDir);
    expect(m1.length).toBeGreaterThanOrEqual(3);
    // The update moved the policy, so stale worker weights would show in the second phase.
    expect(m1.some((m) => (m['update/steps'] ?? 0) > 0)).toBe(true);
    expect(m2).toEqual(m1);
    expect(two.after).toEqual(one.after);
    const w1 = await ExpertAgent.load(path.join(one.runDir, 'agent'));
    const w2 = await ExpertAgent.load(path.join(two.runDir, 'agent'));
    expect(w2.version).toBe(w1.version);
    expect(w1.version).toBeGreaterThan(0);
    for (const [name, t] of w1.store.entries()) expect(w2.store.get(name).data).toEqual(t.data);
  });
});
