import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeOptions } from './cli-spec.js';
import { checkDataDir, resolveDataDir } from './data-dir.js';
import { UnknownNameError } from './errors.js';
import { Progress, progressEnabled } from './progress.js';
import { createRegistry } from './registry.js';
import { PhaseTimers } from './timers.js';

describe('registry', () => {
  it('lists valid names when a lookup fails', () => {
    const r = createRegistry('baseline', { ppo: 1, memento: 2 });
    expect(r.get('ppo')).toBe(1);
    expect(() => r.get('dpo')).toThrow(UnknownNameError);
    expect(() => r.get('dpo')).toThrow('unknown baseline "dpo"; valid: memento, ppo');
  });
});

describe('describeOptions', () => {
  it('unwraps defaults and optionals and reads descriptions and choices', () => {
    const opts = describeOptions(
      z.object({
        scenarios: z.number().int().default(10).describe('how many scenarios'),
        policy: z.enum(['oracle', 'random']).describe('which policy'),
        out: z.string().optional().describe('output file'),
        fast: z.boolean().default(false),
      }),
    );
    expect(opts).toEqual([
      {
        name: 'scenarios',
        kind: 'number',
        describe: 'how many scenarios',
        required: false,
        defaultValue: 10,
      },
      {
        name: 'policy',
        kind: 'string',
        describe: 'which policy',
        required: true,
        choices: ['oracle', 'random'],
      },
      { name: 'out', kind: 'string', describe: 'output file', required: false },
      { name: 'fast', kind: 'boolean', describe: '', required: false, defaultValue: false },
    ]);
  });
});

describe('data directory', () => {
  it('resolves explicit dirs and checks files by sha256', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gopo-data-'));
    expect(resolveDataDir(dir)).toBe(dir);
    mkdirSync(path.join(dir, 'multiwoz'));
    writeFileSync(path.join(dir, 'multiwoz', 'val.json'), 'not the real file');
    const rows = await checkDataDir(dir, ['multiwoz']);
    expect(rows.map((r) => [r.path, r.status])).toEqual([
      ['multiwoz/val.json', 'mismatch'],
      ['multiwoz/schema_2.2.json', 'missing'],
    ]);
  });

  // A checkout without the shared data beside it (or GOPO_DATA_DIR) skips this check, visibly.
  const sharedData = resolveDataDir();
  it.skipIf(sharedData === undefined)(
    'finds the shared data beside the checkout and it matches the manifest',
    async () => {
      const rows = await checkDataDir(sharedData!, ['toolwoz']);
      expect(rows.every((r) => r.status === 'ok')).toBe(true);
    },
  );
});

describe('progress and timers', () => {
  it('is off in CI and renders rate and ETA', () => {
    const prev = process.env.CI;
    process.env.CI = 'true';
    expect(progressEnabled()).toBe(false);
    process.env.CI = prev;
    const p = new Progress({ total: 10, label: 'rollout', enabled: false });
    p.tick(5, 'ok');
    expect(p.render()).toMatch(/^rollout \[#{12}\.{12}\] 5\/10 .*\/s eta .* ok$/);
  });

  it('accumulates named phases', async () => {
    const t = new PhaseTimers();
    await t.time('rollout', async () => new Promise((r) => setTimeout(r, 5)));
    t.timeSync('update', () => 1);
    const m = t.metrics();
    expect(Object.keys(m).sort()).toEqual(['time/rollout', 'time/update']);
    expect(m['time/rollout']).toBeGreaterThan(0.003);
  });
});
