import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@gopo/core';
import fc from 'fast-check';
import { evaluate as mathEvaluate } from 'mathjs';
import { describe, expect, it } from 'vitest';
import { parseArithmetic } from './arithmetic.js';
import {
  BUSINESS_VARIABLE_NAMES,
  BUSINESS_VARIABLES,
  type BusinessScope,
  businessScope,
  compileBusinessReward,
} from './business-reward.js';
import { defaultMetricsConfig, GreConfigSchema } from './config.js';
import { agent, session, user } from './testing/sessions.js';

const def = compileBusinessReward(defaultMetricsConfig().gre);

describe('business reward R_goal', () => {
  it('default expression: success - 0.02 turns - 0.5 sop_violations - 0.3 escalated', () => {
    const s = session(
      'purchase',
      [
        user([]),
        agent('recommend', { violation: true }),
        user([]),
        agent('close'),
        user([]),
        agent('close', { violation: false }),
      ],
      { status: 'success', converted: true },
    );
    const scope = businessScope(s);
    expect(scope).toMatchObject({
      success: 1,
      turns: 3,
      user_turns: 3,
      agent_turns: 3,
      total_turns: 6,
      sop_violations: 1,
      escalated: 0,
    });
    expect(def.evaluate(scope)).toBeCloseTo(1 - 0.06 - 0.5, 12);
    expect([...def.variables].sort()).toEqual(['escalated', 'sop_violations', 'success', 'user_turns']);
  });

  it('clips to [-1, 1] by default and not when clip is null', () => {
    const s = session(
      'purchase',
      [user([]), agent('x', { violation: true }), agent('y', { violation: true })],
      {
        status: 'escalated',
      },
    );
    // 0 - 0.02 - 1.0 - 0.3 = -1.32
    expect(def.evaluate(businessScope(s))).toBe(-1);
    const raw = compileBusinessReward(GreConfigSchema.parse({ clip: null }));
    expect(raw.evaluate(businessScope(s))).toBeCloseTo(-1.32, 12);
  });

  it('custom expressions over outcome fields, booleans as 0/1', () => {
    const g = compileBusinessReward(
      GreConfigSchema.parse({ expression: 'converted * order_value / 100 + (csat >= 4)', clip: null }),
    );
    const s = session('purchase', [], { status: 'success', converted: true, order_value: 59, csat: 4 });
    expect(g.evaluate(businessScope(s))).toBeCloseTo(1.59, 12);
  });

  it('an unknown variable or function fails at load, naming it', () => {
    const bad = () =>
      compileBusinessReward(GreConfigSchema.parse({ expression: 'success - 0.1 * turnz' }), 'metrics.yaml');
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/metrics\.yaml at gre\.expression: unknown variable "turnz".*valid: success/);
    expect(() => compileBusinessReward(GreConfigSchema.parse({ expression: 'frob(success)' }))).toThrow(
      /function "frob" is not allowed.*allowed: abs/,
    );
    expect(() => compileBusinessReward(GreConfigSchema.parse({ expression: 'success = 1' }))).toThrow(
      /may not assign/,
    );
    expect(() => compileBusinessReward(GreConfigSchema.parse({ expression: 'success +' }))).toThrow(
      /cannot parse/,
    );
    expect(() => compileBusinessReward(GreConfigSchema.parse({ expression: '[success, 1]' }))).toThrow(
      /array expressions are not allowed/,
    );
    expect(() =>
      compileBusinessReward(GreConfigSchema.parse({ expression: 'success > 0 ? 2 : 1' })),
    ).not.toThrow();
    expect(() =>
      compileBusinessReward(GreConfigSchema.parse({ expression: 'min(success, 1) < 1 < 2' })),
    ).not.toThrow();
    for (const expression of [
      'import({}, {override: true})',
      'createUnit("foo")',
      'evaluate("1+1")',
      'parse("1")',
      'config({number: "BigNumber"})',
      'success.constructor',
      '"text"',
      '2 cm to inch',
    ])
      expect(() => compileBusinessReward(GreConfigSchema.parse({ expression })), expression).toThrow(
        ConfigError,
      );
    expect(GreConfigSchema.safeParse({ clip: [1, -1] }).success).toBe(false);
  });

  it('evaluates plain arithmetic natively, to the same doubles as mathjs', () => {
    expect(def.native).toBe(true);
    expect(compileBusinessReward(GreConfigSchema.parse({ expression: 'success + (csat >= 4)' })).native).toBe(
      false,
    );
    // Random arithmetic over the variables and constants, compared bit for bit with mathjs itself.
    const { expr } = fc.letrec<{ expr: string }>((tie) => ({
      expr: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom(...BUSINESS_VARIABLE_NAMES),
        fc.double({ min: 0, max: 1e3, noNaN: true }).map((x) => String(x)),
        fc
          .tuple(tie('expr'), fc.constantFrom('+', '-', '*', '/', ' '), tie('expr'))
          .map(([a, op, b]) => `(${a}) ${op === ' ' ? '' : op} (${b})`),
        tie('expr').map((a) => `-(${a})`),
        tie('expr').map((a) => `+(${a})`),
      ),
    }));
    const scope = fc.record(
      Object.fromEntries(
        BUSINESS_VARIABLE_NAMES.map((k) => [k, fc.double({ noNaN: true, min: -1e6, max: 1e6 })]),
      ) as Record<keyof BusinessScope, fc.Arbitrary<number>>,
    );
    // Checked cases by who built the evaluator: the parser here, or mathjs's tree (implicit
    // multiplication and other syntax the parser leaves to mathjs).
    let checkedHere = 0;
    let checkedTree = 0;
    fc.assert(
      fc.property(expr, scope, (e, sc) => {
        const here = parseArithmetic(e, BUSINESS_VARIABLES) !== null;
        let compiled: ReturnType<typeof compileBusinessReward>;
        try {
          compiled = compileBusinessReward(GreConfigSchema.parse({ expression: e, clip: null }));
        } catch {
          return; // e.g. 0 / 0 on the all-zero trial scope is NaN: not a valid reward expression
        }
        expect(compiled.native).toBe(true);
        if (here) checkedHere++;
        else checkedTree++;
        const reference = mathEvaluate(e, { ...sc }) as number;
        if (Number.isNaN(reference)) expect(() => compiled.evaluate(sc)).toThrow(/must evaluate to a number/);
        else expect(Object.is(compiled.evaluate(sc), reference)).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(checkedHere + checkedTree).toBeGreaterThan(200);
    // Both the parser here and mathjs's tree must have been exercised (over 8 runs of 300 cases:
    // 243-269 here, 15-36 by the tree).
    expect(checkedHere).toBeGreaterThan(150);
    expect(checkedTree).toBeGreaterThan(5);
  });

  it('parses the plain-arithmetic subset itself and leaves everything else to mathjs', () => {
    const vars = { a: 0, b: 0 };
    const at = (e: string, scope = { a: 3, b: -2 }) => parseArithmetic(e, vars)?.evaluate(scope);
    expect(at('a - -b * 2 / 4')).toBe(3 - (-(-2) * 2) / 4);
    expect(at('-a * -b')).toBe(-6);
    expect(at('+(a) - (b - 1e1) + 0.5E-1')).toBe(3 - (-2 - 10) + 0.05);
    expect(at('a - b - 1')).toBe(4); // left-associative
    expect(at('a / b / 2')).toBe(-0.75);
    expect([...parseArithmetic('b + a*b', vars)!.used]).toEqual(['b', 'a']);
    for (const e of [
      '2 a',
      '(a)(b)',
      'a (b)',
      'a^2',
      'pi * a',
      'a >= 1',
      'max(a, b)',
      '2.',
      '.5',
      'a +',
      '',
      'c',
    ])
      expect(parseArithmetic(e, vars)).toBeNull();
  });

  it('never loads mathjs for plain arithmetic such as the default expression', () => {
    const src = (f: string) => JSON.stringify(new URL(f, import.meta.url).href);
    const code = `
      import { createRequire } from 'node:module';
      const { compileBusinessReward } = await import(${src('./business-reward.ts')});
      const { GreConfigSchema } = await import(${src('./config.ts')});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('mathjs'));
      compileBusinessReward(GreConfigSchema.parse({}));
      const before = loaded();
      compileBusinessReward(GreConfigSchema.parse({ expression: 'success + (csat >= 4)' }));
      console.log(JSON.stringify([before, loaded()]));`;
    const r = spawnSync(
      process.execPath,
      ['--conditions=@gopo/source', '--import', 'tsx', '--input-type=module', '-e', code],
      { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([false, true]);
    // The check above sees require()d modules only: no module of the package may import mathjs
    // statically either (type imports aside).
    const dir = fileURLToPath(new URL('.', import.meta.url));
    const eager = readdirSync(dir).filter(
      (f) =>
        f.endsWith('.ts') &&
        !f.endsWith('.test.ts') &&
        /^import (?!type )[^;]*from 'mathjs'/m.test(readFileSync(path.join(dir, f), 'utf8')),
    );
    expect(eager).toEqual([]);
  });
});
