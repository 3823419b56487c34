import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@gopo/core';
import {
  budgetedGopoConfig,
  CsSftConfigSchema,
  ExperimentConfigSchema,
  main,
  WarmStartConfigSchema,
} from '@gopo/trainer';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('example: compare-baselines', () => {
  it('runs the example config through `gopo experiment` on a tiny budget', async () => {
    const runsDir = mkdtempSync(path.join(tmpdir(), 'gopo-compare-'));
    const out: string[] = [];
    const err: string[] = [];
    const argv = [
      'experiment',
      '--config',
      path.join(here, 'config.yaml'),
      ...[
        'seeds=[1]',
        'budget.episodes=64',
        'eval.scenarios=6',
        'eval.curveScenarios=4',
        'eval.resamples=100',
      ].flatMap((s) => ['--set', s]),
      '--only',
      'gopo,memento,sft,oracle',
      '--runs-dir',
      runsDir,
      '--run-name',
      'smoke',
      '--quiet',
    ];
    const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const md = readFileSync(path.join(runsDir, 'smoke', 'report.md'), 'utf8');
    for (const row of ['| GOPO | 64 |', '| Memento | 64 |', '| SFT only | 0 |', '| oracle (reference) | 0 |'])
      expect(md).toContain(row);
    expect(md).toContain('## Against Memento');
    expect(out.join('\n')).toContain('experiment folder:');
  }, 600_000);

  it('lm.yaml resolves: every GOPO-kind method spends exactly the budget', async () => {
    const c = await loadConfig(path.join(here, 'lm.yaml'), ExperimentConfigSchema);
    const loops = Object.fromEntries(
      c.methods.flatMap((m) => (m.kind === 'gopo' ? [[m.id, budgetedGopoConfig(c, m, 1).loop]] : [])),
    );
    expect(loops).toEqual({
      gopo: { iterations: 20, expertPhases: 1, csPhases: 0 },
      'gopo-hier': { iterations: 16, expertPhases: 1, csPhases: 1 },
      'cs-step-ppo': { iterations: 80, expertPhases: 0, csPhases: 1 },
    });
    const ppo = c.methods.find((m) => m.kind === 'flat_ppo');
    expect(ppo?.kind === 'flat_ppo' && c.budget.episodes % ppo.ppo.episodesPerPhase).toBe(0);
  });

  it("flat-sft.yaml is the CS Agent's SFT recipe minus strategy tokens, on history-policy sessions", async () => {
    const flat = await loadConfig(path.join(here, 'flat-sft.yaml'), CsSftConfigSchema);
    const cs = await loadConfig(path.join(here, '..', 'cs-agent', 'sft.yaml'), CsSftConfigSchema);
    expect(flat.corpus.policies).toEqual({ history: 1 });
    expect(flat.corpus.strategyTokens).toBe(false);
    // The warm start of the Expert Agent learns from the same policy's sessions.
    expect(WarmStartConfigSchema.parse({}).policy).toBe('history');
    const rest = (c: typeof cs) => ({ ...c, corpus: { ...c.corpus, policies: null, strategyTokens: null } });
    expect(rest(flat)).toEqual(rest(cs));
  });
});
