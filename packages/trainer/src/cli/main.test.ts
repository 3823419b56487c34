import { defineCommand, FileFormatError } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EXIT_USER_ERROR, main } from './main.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

const echo = defineCommand({
  path: ['tools', 'echo'],
  describe: 'echo a value',
  positionals: [{ name: 'word' }],
  options: z.object({
    word: z.string().describe('what to echo'),
    times: z.number().int().min(1).default(1).describe('repeat count'),
    maxTurns: z.number().int().optional().describe('a camelCase option'),
  }),
  globals: ['seed', 'device'],
  run(args, ctx) {
    ctx.out(
      `${Array(args.times).fill(args.word).join(' ')} seed=${ctx.seed} device=${ctx.device} mt=${args.maxTurns ?? '-'}`,
    );
    return 0;
  },
});

const failing = defineCommand({
  path: ['boom'],
  describe: 'fails with a file error',
  options: z.object({}),
  globals: [],
  run() {
    throw new FileFormatError({ file: 'x.jsonl', line: 3, path: ['turns', 0, 'role'] }, 'invalid role');
  },
});

const crashing = defineCommand({
  path: ['crash'],
  describe: 'an internal bug',
  options: z.object({}),
  globals: [],
  run() {
    throw new TypeError('undefined is not a function');
  },
});

const cmds = [echo, failing, crashing];

describe('gopo CLI', () => {
  it('runs grouped commands with positionals, kebab-case flags and global flags', async () => {
    const c = capture();
    const code = await main(
      ['tools', 'echo', 'hi', '--times', '2', '--max-turns', '7', '--seed', '5', '--quiet'],
      c.io,
      cmds,
    );
    expect(code).toBe(0);
    expect(c.out).toEqual(['hi hi seed=5 device=cpu mt=7']);
  });

  it('unknown flags, bad values and missing commands are one-line user errors with exit 2', async () => {
    for (const argv of [
      ['tools', 'echo', 'hi', '--bogus'],
      ['tools', 'echo', 'hi', '--times', '0'],
      ['tools', 'echo', 'hi', '--device', 'tpu'],
      ['tools'],
      [],
      ['nope'],
    ]) {
      const c = capture();
      expect(await main(argv, c.io, cmds), argv.join(' ')).toBe(EXIT_USER_ERROR);
      expect(c.err, argv.join(' ')).toHaveLength(1);
      expect(c.err[0]).toMatch(/^gopo: error: /);
    }
  });

  it('names file, line and field of a bad input; --verbose adds the stack', async () => {
    const c = capture();
    expect(await main(['boom', '--quiet'], c.io, cmds)).toBe(2);
    expect(c.err).toEqual(['gopo: error: x.jsonl:3 at turns[0].role: invalid role']);
    const v = capture();
    expect(await main(['boom', '--quiet', '--verbose'], v.io, cmds)).toBe(2);
    expect(v.err[1]).toMatch(/FileFormatError/);
  });

  it('internal errors exit 1 and hint at --verbose', async () => {
    const c = capture();
    expect(await main(['crash', '--quiet'], c.io, cmds)).toBe(1);
    expect(c.err[0]).toBe('gopo: error: undefined is not a function');
    expect(c.err[1]).toMatch(/--verbose/);
  });
});
