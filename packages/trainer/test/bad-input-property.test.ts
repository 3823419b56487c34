/**
 * Random bytes and random mutations of valid logs, configs and corpora fed to the commands that read
 * them: every run ends with exit 0 or 2, within a time bound, with no stack trace and no temporary
 * file left behind. Most runs go through main() in this process (an async hang loses the race with
 * the timer); a few go through the binary under a kill timeout (which also catches a spin).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { liveTempFiles } from '@gopo/core';
import { DEFAULT_TOKENIZER_PATH } from '@gopo/lm';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeBadInputs } from './bad-input/generate.js';
import { type CliRun, runCli } from './bad-input/harness.js';
import { gopo } from './gopo-binary.js';

/** Runs per property; GOPO_PROPERTY_RUNS raises it for a longer search. */
const RUNS = Number(process.env.GOPO_PROPERTY_RUNS ?? 25);
/** The longest one in-process command may take before it counts as a hang. */
const TIME_BOUND_MS = 20_000;
/** Each property's test timeout, grown with the runs. */
const TEST_MS = Math.max(60_000, RUNS * 2_000);

let D: string;
let F: Record<string, string>;
let n = 0;

beforeAll(async () => {
  D = mkdtempSync(path.join(tmpdir(), 'gopo-property-'));
  F = await writeBadInputs(D);
  writeFileSync(
    path.join(D, 'metrics.yaml'),
    'bootstrap:\n  resamples: 50\ngre:\n  expression: success - 0.1 * user_turns\n',
  );
  writeFileSync(path.join(D, 'shop.yaml'), 'maxTurns: 6\nworld:\n  items: 60\n  users: 10\n');
  writeFileSync(path.join(D, 'corpus.txt'), 'where is my order\nI want headphones under 80\nthanks!\n');
}, 120_000);

/** A fresh path in the scratch folder. */
const fresh = (name: string) => path.join(D, `${n++}-${name}`);

type Mutation =
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; at: number; len: number };

// Bytes that matter to a JSONL or YAML reader: line ends, brackets, quotes, escapes, NUL, not UTF-8.
const SPECIAL = [
  0x0a, 0x0d, 0x5b, 0x5d, 0x7b, 0x7d, 0x22, 0x5c, 0x3a, 0x2c, 0x26, 0x2a, 0x00, 0x1b, 0xff, 0xc3,
];
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.nat(60) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(...SPECIAL) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.nat(300) }),
);

function mutate(original: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = original;
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else if (m.kind === 'set' && at < b.length)
      b = Buffer.concat([b.subarray(0, at), Buffer.of(m.byte), b.subarray(at + 1)]);
    else if (m.kind === 'truncate') b = b.subarray(0, at);
    else if (m.kind === 'duplicate') b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
  }
  return b;
}

/** A file's bytes: random, or a valid file's bytes mutated a few times. */
const contentOf = (valid: () => Buffer) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
    fc.array(mutation, { minLength: 1, maxLength: 6 }).map((ms) => mutate(valid(), ms)),
  );

async function runBounded(argv: readonly string[]): Promise<CliRun> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`hang: gopo ${argv.join(' ')} ran past ${TIME_BOUND_MS} ms`)),
      TIME_BOUND_MS,
    );
  });
  try {
    return await Promise.race([runCli([...argv, '--quiet']), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function expectWellBehaved(r: CliRun, argv: readonly string[]): void {
  const what = `gopo ${argv.join(' ')}\n${r.stderr.join('\n')}`;
  expect([0, 2], what).toContain(r.code);
  expect(r.stderr.join('\n'), what).not.toMatch(/internal error|\n\s+at /);
  expect(liveTempFiles(), what).toEqual([]);
}

/** Writes `content` to a fresh file and runs the command line `argv(file)` on it. */
async function check(name: string, content: Buffer, argv: (file: string) => string[]): Promise<void> {
  const file = fresh(name);
  writeFileSync(file, content);
  const line = argv(file);
  expectWellBehaved(await runBounded(line), line);
}

const read = (key: string) => () => readFileSync(F[key] ?? path.join(D, key));

/** One property: `runs` draws of `arb`, each checked by `body`. */
function property<T>(name: string, arb: fc.Arbitrary<T>, body: (v: T) => Promise<void>, runs = RUNS): void {
  it(name, () => fc.assert(fc.asyncProperty(arb, body), { numRuns: runs }), TEST_MS);
}

describe('property: random and mutated input never crashes or hangs a command', () => {
  property(
    'logs validate',
    fc.tuple(contentOf(read('logs.jsonl')), fc.subarray(['--skip-invalid', '--strict', '--format=json'])),
    ([content, flags]) => check('log.jsonl', content, (f) => ['logs', 'validate', f, ...flags]),
  );

  property(
    'eval, with either reader and one or two workers',
    fc.tuple(
      contentOf(read('logs.jsonl')),
      fc.constantFrom('wasm', 'json'),
      fc.constantFrom('1', '1', '1', '2'),
      fc.subarray(['--skip-invalid']),
    ),
    ([content, reader, workers, flags]) =>
      check('log.jsonl', content, (f) => [
        'eval',
        f,
        '--reader',
        reader,
        '--workers',
        workers,
        '--resamples',
        '20',
        ...flags,
      ]),
  );

  property('eval --config with a mutated metrics config', contentOf(read('metrics.yaml')), (content) =>
    check('metrics.yaml', content, (f) => ['eval', F['logs.jsonl']!, '--config', f, '--resamples', '20']),
  );

  property(
    'eval --set with random keys and values',
    fc.tuple(fc.string({ maxLength: 30 }), fc.string({ maxLength: 12 })),
    async ([key, value]) => {
      const argv = ['eval', F['logs.jsonl']!, '--resamples', '20', '--set', `${key}=${value}`];
      expectWellBehaved(await runBounded(argv), argv);
    },
  );

  property('simulate --config with a mutated shop config', contentOf(read('shop.yaml')), (content) =>
    check('shop.yaml', content, (f) => [
      'simulate',
      '--scenarios',
      '3',
      '--config',
      f,
      '--out',
      fresh('out.jsonl'),
    ]),
  );

  property(
    'lm train-tokenizer on a mutated text or JSONL corpus',
    fc.tuple(fc.constantFrom('corpus.txt', 'logs.jsonl'), fc.array(mutation, { minLength: 1, maxLength: 6 })),
    ([valid, ms]) =>
      check(valid, mutate(read(valid)(), ms), (f) => [
        'lm',
        'train-tokenizer',
        '--input',
        f,
        '--vocab-size',
        '300',
        '--out',
        fresh('tokenizer.json'),
      ]),
  );

  property(
    'lm generate with a mutated tokenizer.json',
    fc.array(mutation, { minLength: 1, maxLength: 4 }),
    (ms) =>
      check('tokenizer.json', mutate(readFileSync(DEFAULT_TOKENIZER_PATH), ms), (f) => [
        'lm',
        'generate',
        '--model',
        D,
        '--tokenizer',
        f,
        '--prompt',
        'hi',
      ]),
    Math.ceil(RUNS / 2),
  );

  it('the binary, under a kill timeout, on random bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4096 }),
        fc.constantFrom('logs validate', 'eval'),
        (bytes, cmd) => {
          const file = fresh('random.jsonl');
          writeFileSync(file, bytes);
          const r = gopo([...cmd.split(' '), file, '--quiet'], 30_000);
          expect(r.signal, 'killed by the time bound: a hang').toBeNull();
          expect([0, 2]).toContain(r.code);
          expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
        },
      ),
      { numRuns: 3 },
    );
  }, 120_000);
});
