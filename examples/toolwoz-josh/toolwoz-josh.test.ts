import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveDataDir } from '@gopo/core';
import { main } from '@gopo/trainer';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));

// The example config through `gopo josh` on a tiny budget: 3 training goals, 2 held out, one seed,
// a one-layer model, a handful of SFT steps and one PPO phase on 2 goals. It checks the pipeline, not the numbers.
describe.skipIf(!resolveDataDir())('example: toolwoz-josh', () => {
  it('runs self-play, SFT, KTO, PPO and the evaluation, then resumes without rerunning a stage', async () => {
    const runsDir = mkdtempSync(path.join(tmpdir(), 'gopo-josh-'));
    const sets = [
      'goals.train=3',
      'goals.eval=2',
      'maxSteps=14',
      'search.maxDepth=6',
      'model.init={hiddenSize: 16, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 32, maxPositions: 768}',
      'lmAgent.maxNewTokens=12',
      'lmAgent.maxPromptTokens=700',
      'sft={steps: 2, lr: 0.001, warmupSteps: 0, microBatchSize: 2, seqLen: 768}',
      'kto.rows=4',
      'kto.epochs=1',
      'ppo={enabled: true, phases: 1, goalsPerPhase: 2, rows: 4, epochs: 1}',
      'eval.seeds=[1]',
      'threads=1',
    ];
    const argv = [
      'josh',
      '--env',
      'toolwoz',
      '--config',
      path.join(here, 'config.yaml'),
      ...sets.flatMap((s) => ['--set', s]),
      '--runs-dir',
      runsDir,
      '--run-name',
      'smoke',
      '--quiet',
    ];
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const run = path.join(runsDir, 'smoke');
    for (const f of [
      'data/josh-sft.jsonl',
      'data/josh-kto.jsonl',
      'data/sft-lm.jsonl',
      'sft/model/config.json',
      'models/josh-kto/tokenizer.json',
      'models/josh-ppo/value-head.safetensors',
      'ppo/before.json',
      'report.md',
    ])
      expect(existsSync(path.join(run, f))).toBe(true);
    const report = readFileSync(path.join(run, 'report.md'), 'utf8');
    for (const agent of ['| base |', '| josh-sft |', '| josh-kto |', '| josh-ppo |'])
      expect(report).toContain(agent);
    expect(out.join('\n')).toContain('stages run now: selfplay, sft, kto, ppo, eval');
    const again: string[] = [];
    expect(await main(argv, { out: (t) => again.push(t), err: (t) => err.push(t) })).toBe(0);
    expect(again.join('\n')).toContain('stages run now: none');
  }, 600_000);

  it('taubench.yaml runs self-play, SFT, KTO and the evaluation with pass^k on retail', async () => {
    const runsDir = mkdtempSync(path.join(tmpdir(), 'gopo-josh-retail-'));
    const out: string[] = [];
    const err: string[] = [];
    const sets = [
      'goals.train=3',
      'goals.eval=2',
      'maxSteps=16',
      'search.maxDepth=6',
      'model.init={hiddenSize: 16, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 32, maxPositions: 3072}',
      'lmAgent.maxNewTokens=8',
      'sft={steps: 1, lr: 0.001, warmupSteps: 0, microBatchSize: 1, seqLen: 3072}',
      'kto.rows=2',
      'kto.epochs=1',
      'eval.seeds=[1, 2]',
      'threads=1',
    ];
    const argv = ['josh', '--env', 'taubench-retail', '--config', path.join(here, 'taubench.yaml')];
    const rest = ['--runs-dir', runsDir, '--run-name', 'smoke', '--quiet'];
    const code = await main([...argv, ...sets.flatMap((s) => ['--set', s]), ...rest], {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const report = readFileSync(path.join(runsDir, 'smoke', 'report.md'), 'utf8');
    expect(report).toContain(
      '| agent | average reward | 100% success rate | pass^1 | pass^2 | malformed steps |',
    );
    for (const agent of ['| base |', '| josh-sft |', '| josh-kto |']) expect(report).toContain(agent);
    expect(report).not.toContain('| josh-ppo |');
  }, 600_000);
});
