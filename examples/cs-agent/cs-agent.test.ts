import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCsExperiment } from './experiment.js';
import { runHierarchical } from './hierarchical.js';

describe('example: cs-agent', () => {
  it('runs SFT, RL and KTO end to end on a tiny budget and writes its table', async () => {
    const runsDir = mkdtempSync(path.join(tmpdir(), 'gopo-cs-'));
    const r = await runCsExperiment({ seeds: [1], evalScenarios: 2, runsDir, smoke: true, quiet: true });
    for (const name of ['template agent (reference)', 'SFT', 'SFT + RL', 'SFT + KTO'])
      expect(r.table).toContain(`| ${name} |`);
    for (const run of ['sft', 'rl-seed-1', 'kto-seed-1'])
      expect(existsSync(path.join(runsDir, run, 'model', 'model.safetensors')), run).toBe(true);
    const results = JSON.parse(readFileSync(path.join(runsDir, 'results.json'), 'utf8'));
    const template = results.rows.find((x: { name: string }) => x.name === 'template agent (reference)');
    // The template agent is what the simulator understands by construction.
    expect(template.perSeed[0].adherence_nlu).toBe(100);
    expect(template.perSeed[0].fact_accuracy).toBe(100);
    // The shipped classifier is the second adherence judge by default.
    expect(r.table).toContain('adherence_classifier');
    // The hierarchical run from that SFT model: both arms train, and each is scored with its own CS Agent.
    const h = await runHierarchical({ seeds: [1], evalScenarios: 2, runsDir, smoke: true, quiet: true });
    for (const name of [
      'GOPO + template CS',
      'GOPO + CS Agent (alternating phases)',
      'SFT warm start + SFT CS Agent',
    ])
      expect(h.table).toContain(`| ${name} |`);
    for (const file of [
      'cs-agent-seed-1/agent',
      'cs-agent-seed-1/cs-model/model.safetensors',
      'template-seed-1/agent',
    ])
      expect(existsSync(path.join(runsDir, 'hierarchical', file)), file).toBe(true);
    expect(existsSync(path.join(runsDir, 'hierarchical', 'template-seed-1', 'cs-model'))).toBe(false);
  }, 900_000);
});
