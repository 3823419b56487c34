import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyOverrides, loadConfig, parseConfig } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { GOPO_ABLATIONS, type GopoAblationName } from './ablations.js';
import { type GopoTrainConfig, GopoTrainConfigSchema } from './config.js';

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '../../../../examples/mgshop-gopo/config.yaml');

/** Dotted paths of the leaves where two resolved configs differ. */
function changedPaths(a: unknown, b: unknown, at = ''): string[] {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      changedPaths(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        at ? `${at}.${k}` : k,
      ),
    );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

/** What each ablation must change (from the defaults), and the resolved value it must have. */
const EXPECTED: Record<GopoAblationName, { paths: string[]; check: (c: GopoTrainConfig) => boolean }> = {
  'no-sop-mask': { paths: ['policy.sopMasking'], check: (c) => c.policy.sopMasking === false },
  'no-esndcg': { paths: ['metrics.objective.esndcg'], check: (c) => c.metrics.objective.esndcg === 0 },
  'token-preference': { paths: ['loss.preference'], check: (c) => c.loss.preference === 'token' },
};

describe('GOPO_ABLATIONS', () => {
  it('names the three ablations of DESIGN.md 4.6 that are switches of gopo train', () => {
    expect(Object.keys(GOPO_ABLATIONS).sort()).toEqual(['no-esndcg', 'no-sop-mask', 'token-preference']);
  });

  it.each(Object.keys(GOPO_ABLATIONS) as GopoAblationName[])(
    '%s resolves through GopoTrainConfigSchema and changes exactly what it says',
    async (name) => {
      const { overrides, description } = GOPO_ABLATIONS[name];
      expect(description.length).toBeGreaterThan(20);
      const base = GopoTrainConfigSchema.parse({});
      const ablated = parseConfig(
        GopoTrainConfigSchema,
        applyOverrides({}, overrides, GopoTrainConfigSchema),
        name,
      );
      expect(EXPECTED[name].check(base)).toBe(false);
      expect(EXPECTED[name].check(ablated)).toBe(true);
      expect(changedPaths(base, ablated)).toEqual(EXPECTED[name].paths);
      // The same over the example experiment's config file, as `gopo train --config ... --set ...` reads it.
      const exampleBase = await loadConfig(EXAMPLE, GopoTrainConfigSchema);
      const example = await loadConfig(EXAMPLE, GopoTrainConfigSchema, { overrides });
      expect(EXPECTED[name].check(example)).toBe(true);
      expect(changedPaths(exampleBase, example)).toEqual(EXPECTED[name].paths);
    },
  );

  it('the switches refuse combinations that would not mean what they say', () => {
    const parse = (raw: object) => GopoTrainConfigSchema.safeParse(raw);
    expect(parse({ loss: { preference: 'token', mode: 'group_relative' } }).success).toBe(false);
    expect(parse({ loss: { preference: 'token', lengthNormalize: true } }).success).toBe(false);
    expect(parse({ policy: { sopMasking: 'no' } }).success).toBe(false);
    // token-preference switches length normalisation off over a base that had it on
    const withNorm = applyOverrides(
      { loss: { lengthNormalize: true } },
      GOPO_ABLATIONS['token-preference'].overrides,
      GopoTrainConfigSchema,
    );
    expect(parse(withNorm).success).toBe(true);
  });
});
