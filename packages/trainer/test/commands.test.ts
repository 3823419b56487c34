/**
 * Rules every registered command follows, checked over the registry so that a new command cannot
 * skip them: it declares the global flags it honours (the others are refused), and it can print
 * its results as JSON.
 */
import { COMMAND_GLOBALS, type CommandSpec, describeOptions, nonStrictObjectPaths } from '@gopo/core';
import { SopSpecSchema, StrategySetSchema } from '@gopo/dialogue';
import { ShopEnvConfigSchema } from '@gopo/envs';
import { SftConfigSchema } from '@gopo/lm';
import { MetricsConfigSchema } from '@gopo/rewards';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { ALL_COMMANDS } from '../src/cli/registry.js';

const name = (spec: CommandSpec) => spec.path.join(' ');
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** A command line that gets past the parser: every required positional and option with a dummy value. */
function minimalArgv(spec: CommandSpec): string[] {
  const positional = new Set((spec.positionals ?? []).map((p) => p.name));
  const argv = [...spec.path];
  for (const o of describeOptions(spec.options)) {
    if (!o.required || o.kind === 'boolean') continue;
    const value = o.kind === 'number' ? '1' : (o.choices?.[0] ?? 'x');
    if (positional.has(o.name)) argv.push(value);
    else argv.push(`--${kebab(o.name)}`, value);
  }
  return argv;
}

const GLOBAL_VALUES = { config: 'x.yaml', set: 'a=1', seed: '1', device: 'cpu' } as const;

describe('every gopo command', () => {
  it.each(ALL_COMMANDS.map((c) => [name(c), c] as const))('%s can write its results as JSON', (_n, spec) => {
    const format = describeOptions(spec.options).find((o) => o.name === 'format');
    expect(format?.choices).toContain('json');
  });

  const undeclared = ALL_COMMANDS.flatMap((spec) =>
    COMMAND_GLOBALS.filter((g) => !spec.globals.includes(g)).map((g) => [name(spec), g, spec] as const),
  );
  it.each(undeclared)('%s refuses --%s, which it does not use', async (_n, flag, spec) => {
    const err: string[] = [];
    const code = await main([...minimalArgv(spec), `--${flag}`, GLOBAL_VALUES[flag], '--quiet'], {
      out: () => {},
      err: (t) => err.push(t),
    });
    expect(code).toBe(2);
    expect(err[0]).toMatch(new RegExp(`^gopo: error: gopo ${name(spec)} does not use --${flag} \\(`));
  });

  it('declares only known global flags, each once', () => {
    for (const spec of ALL_COMMANDS) {
      expect(new Set(spec.globals).size, name(spec)).toBe(spec.globals.length);
      for (const g of spec.globals) expect(COMMAND_GLOBALS, name(spec)).toContain(g);
    }
  });
});

describe('every config file schema', () => {
  it.each([
    ['metrics (gopo eval --config)', MetricsConfigSchema, []],
    ['shop environment (gopo simulate --config)', ShopEnvConfigSchema, []],
    ['SOP (gopo logs validate --sop)', SopSpecSchema, []],
    ['strategy set', StrategySetSchema, []],
    // model.config is a Hugging Face config.json, whose many other fields are kept by design.
    ['SFT (gopo lm sft --config)', SftConfigSchema, ['model.config', 'model.config.rope_scaling']],
  ] as const)('%s refuses unknown keys', (_name, schema, exempt) => {
    expect(nonStrictObjectPaths(schema)).toEqual(exempt);
  });
});
