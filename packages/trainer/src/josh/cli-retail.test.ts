import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { resolveDataDir } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';

describe.skipIf(!resolveDataDir())('gopo josh --env taubench-retail', () => {
  it('self-plays a few train tasks with the noisy retail oracle and writes the datasets', async () => {
    const runsDir = mkdtempSync(path.join(tmpdir(), 'gopo-josh-retail-'));
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      [
        'josh',
        '--env',
        'taubench-retail',
        '--set',
        'goals.train=3',
        '--set',
        'goals.eval=1',
        '--until',
        'selfplay',
        '--runs-dir',
        runsDir,
        '--quiet',
      ],
      { out: (t) => out.push(t), err: (t) => err.push(t) },
    );
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^selfplay: \d\/3 goals solved/);
  }, 120_000);
});
