import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '@gopo/core';
import type { CsAgent } from '@gopo/cs-agent';
import { saveTinyRandomModel } from '@gopo/lm/testing';
import { MetricsConfigSchema } from '@gopo/rewards';
import { describe, expect, it } from 'vitest';
import { replyTokenScores } from './ppo-phase.js';
import { factTokenMarks } from './step-marks.js';
import { CsTrainConfigSchema, runCsTraining } from './train.js';

// Eight tokens whose text is the pieces below: "Try p-0069 at $39.99 or o-99999."
const PIECES = ['Try ', 'p-', '00', '69', ' at $3', '9.99', ' or o-99999', '.'];
const decode = (ids: readonly number[]) => ids.map((i) => PIECES[i]!).join('');
const tokens = PIECES.map((_, i) => i);

describe('step-reward PPO token rewards (hand-built reply)', () => {
  it('each stated value is marked at the token that finishes its text', () => {
    const marks = factTokenMarks(tokens, decode);
    // "Try p-0069" ends with token 3; "... $39.99" with token 5; "o-99999" with token 6.
    expect(marks).toEqual(
      expect.arrayContaining([
        { token: 3, kind: 'slot', key: 'item:p-0069' },
        { token: 5, kind: 'slot', key: 'price:39.99' },
        { token: 6, kind: 'slot', key: 'order:o-99999' },
      ]),
    );
    expect(marks.length).toBe(3);
  });

  it('Rtod lands where a true value completes; adherence and compliance on the last token', () => {
    // The template reply states p-0069, $39.99 and o-12345 (|SV| = 3, alpha = 1); o-99999 is not true.
    // Rtod(prefix) = hits e^{-(3 - hits)/3} / 3: 0 before token 3, e^{-2/3}/3 = 0.1711390 from token 3,
    // 2 e^{-1/3}/3 = 0.4776875 from token 5. Token rewards are the differences.
    const scores = replyTokenScores(
      {
        item: { prompt: [1], tokens },
        truth: ['item:p-0069', 'price:39.99', 'order:o-12345'],
        adherent: true,
        compliant: false,
      },
      {
        agent: { tokenizer: { decode } } as unknown as CsAgent,
        weights: MetricsConfigSchema.parse({ objective: { step: 2, adherence: 1, compliance: 0.5 } })
          .objective,
        stepReward: { alpha: 1, beta: 1 },
      },
    );
    const expected = [0, 0, 0, 2 * 0.171139, 0, 2 * (0.4776875 - 0.171139), 0, 1];
    expected.forEach((x, t) => {
      expect(scores[t], `token ${t}`).toBeCloseTo(x, 5);
    });
  });
});

describe('gopo cs ppo', () => {
  it('one step-reward PPO phase on a tiny reply model runs end to end and saves the value head', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cs-ppo-'));
    const modelDir = await saveTinyRandomModel(path.join(root, 'sft'), { seed: 5 });
    const c = CsTrainConfigSchema.parse({
      model: modelDir,
      strategies: 'oracle',
      phases: 1,
      scenarios: 1,
      rows: 8,
      lr: 1e-3,
      eval: { scenarios: 1, every: 1 },
      threads: 1,
    });
    const r = await runCsTraining(c, 'ppo', {
      runName: 'ppo',
      runsDir: root,
      seed: 3,
      resume: false,
      overwrite: false,
      logger: silentLogger(),
      judges: [],
    });
    const [line] = (await fs.readFile(path.join(r.runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    const m = JSON.parse(line!);
    for (const k of ['loss/ppo', 'ppo/value_loss', 'ppo/policy_loss', 'cs/kl', 'cs/reward'])
      expect(Number.isFinite(m[k]), k).toBe(true);
    expect(m['ppo/steps']).toBeGreaterThan(0);
    await fs.access(path.join(r.model, 'value-head.safetensors'));
  }, 300_000);
});
