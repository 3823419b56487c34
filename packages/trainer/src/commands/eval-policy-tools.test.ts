import { resolveDataDir, UsageError } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import { describe, expect, it } from 'vitest';
import { evalPolicyCommand } from './eval-policy.js';

describe.skipIf(!resolveDataDir())('gopo eval-policy --env (tool environments)', () => {
  it('runs comma-separated scripted policies on tau-bench retail and reports pass^k', async () => {
    const { ctx, output } = testCliContext({ dataDir: resolveDataDir() });
    const args = evalPolicyCommand.options.parse({
      env: 'taubench-retail',
      policy: 'rule, hasty',
      limit: 3,
      trials: 2,
    });
    expect(await evalPolicyCommand.run(args, ctx)).toBe(0);
    expect(output[0]).toBe('taubench-retail: 3 dev tasks, 2 trial(s), seed 1');
    expect(output[1]).toMatch(/^rule .* pass\^1 1\.000 {2}pass\^2 1\.000 /);
    expect(output[2]).toMatch(/^hasty .* pass\^1 0\.000 /);
  });

  it('refuses shop-only sources with a tool environment', async () => {
    const { ctx } = testCliContext({ dataDir: resolveDataDir() });
    const args = evalPolicyCommand.options.parse({ env: 'toolwoz', run: 'runs/x' });
    await expect(Promise.resolve().then(() => evalPolicyCommand.run(args, ctx))).rejects.toThrow(UsageError);
  });
});
