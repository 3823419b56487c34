/**
 * The bad-input corpus of issue 17 as a test suite: each case is a user's mistake, run through the
 * CLI (in this process through main(), or as the real binary where a signal or a hang is the point),
 * checked for its exit code, the first line of stderr, and a before/after snapshot of the whole
 * corpus folder proving that nothing outside the intended output changed. See bad-input/README.md.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createRunDir, TEMP_FILE_MARKER } from '@gopo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL, writeBadInputs } from './bad-input/generate.js';
import { type CliRun, changedPaths, runCli, snapshot } from './bad-input/harness.js';
import { gopo, startGopo } from './gopo-binary.js';

let D: string;
let F: Record<string, string>;

beforeAll(async () => {
  D = mkdtempSync(path.join(tmpdir(), 'gopo-bad-input-'));
  F = await writeBadInputs(D);
}, 120_000);

/** A fresh sub-folder of the corpus folder for one case's own files. */
function caseDir(name: string): string {
  const dir = path.join(D, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A small SFT config (the tiny model, one step) in `dir`, with `extra` YAML lines. */
function sftConfig(dir: string, extra = ''): string {
  const file = path.join(dir, 'sft.yaml');
  const lines = [
    `runsDir: ${path.join(dir, 'runs')}`,
    'runName: r',
    `data: { train: [${F['sft.jsonl']}], evalFraction: 0 }`,
    `model: { config: ${JSON.stringify(TINY_MODEL)} }`,
    'seqLen: 16',
    'microBatchSize: 1',
    'maxSteps: 1',
    'threads: 1',
  ];
  writeFileSync(file, `${lines.join('\n')}\n${extra}`);
  return file;
}

interface Case {
  /** The user's mistake. */
  readonly name: string;
  /** The command line (after `gopo`); `--quiet` is added. */
  readonly argv: () => string[];
  /** Files the case needs besides the corpus (made before the snapshot). */
  readonly setup?: () => unknown;
  readonly code: number;
  /** The first line of stderr (null: nothing on stderr). */
  readonly stderr: RegExp | null;
  /** Paths relative to the corpus folder that may change (a trailing / allows what is under it). */
  readonly changes?: readonly string[];
  readonly check?: (r: CliRun) => void;
  /** Run the real binary instead of main() in this process. */
  readonly binary?: boolean;
}

function allowed(changes: readonly string[], p: string): boolean {
  return changes.some((c) => (c.endsWith('/') ? p === c.slice(0, -1) || p.startsWith(c) : p === c));
}

async function runCase(c: Case): Promise<void> {
  await c.setup?.();
  // The command line may name (and so make) the case's own folder: before the snapshot.
  const argv = [...c.argv(), '--quiet'];
  const before = snapshot(D);
  let r: CliRun;
  if (c.binary) {
    const b = gopo(argv, 30_000);
    r = { code: b.code ?? -1, stdout: b.stdout.split('\n'), stderr: b.stderr.split('\n').filter(Boolean) };
  } else r = await runCli(argv);
  expect(r.code, `exit code; stderr: ${r.stderr.join('\n')}`).toBe(c.code);
  if (c.stderr) expect(r.stderr[0]).toMatch(c.stderr);
  else expect(r.stderr).toEqual([]);
  // Without --verbose no stack trace, whatever happened.
  expect(r.stderr.join('\n')).not.toMatch(/\n\s+at /);
  const changed = changedPaths(before, snapshot(D));
  expect(
    changed.filter((p) => !allowed(c.changes ?? [], p)),
    'paths that changed outside the intended output',
  ).toEqual([]);
  c.check?.(r);
}

const err = (pattern: string) => new RegExp(`^gopo: error: ${pattern}`);
const literal = (name: string) => name.replace(/[.]/g, '\\.');

const dataLossAndHangs: Case[] = [
  {
    name: 'demo --name .. (the issue: deletes the run folder parent)',
    binary: true,
    setup: () => {
      mkdirSync(path.join(caseDir('demo-dotdot'), 'scratch', 'runs', 'old'), { recursive: true });
      writeFileSync(path.join(D, 'demo-dotdot', 'scratch', 'precious'), 'keep me');
    },
    argv: () => [
      'demo',
      '--scenarios',
      '5',
      '--run-dir',
      path.join(D, 'demo-dotdot', 'scratch', 'runs'),
      '--name',
      '..',
    ],
    code: 2,
    stderr: err('--name: a run name is one plain folder name'),
  },
  {
    name: 'demo --name .',
    argv: () => ['demo', '--scenarios', '2', '--run-dir', caseDir('demo-dot'), '--name', '.'],
    code: 2,
    stderr: err('--name: a run name is'),
  },
  {
    name: 'demo --name naming a folder that is not a run',
    setup: () => writeFileSync(path.join(caseDir('not-a-run/runs/mine'), 'thesis.tex'), 'years of work'),
    argv: () => [
      'demo',
      '--scenarios',
      '2',
      '--run-dir',
      path.join(D, 'not-a-run', 'runs'),
      '--name',
      'mine',
    ],
    code: 2,
    stderr: err('run folder .*mine: holds files but is not a run folder'),
  },
  {
    name: 'demo run twice replaces its own run folder (and only it)',
    setup: async () => {
      const argv = [
        'demo',
        '--scenarios',
        '2',
        '--resamples',
        '100',
        '--run-dir',
        caseDir('demo-rerun'),
        '--quiet',
      ];
      expect((await runCli(argv)).code).toBe(0);
    },
    argv: () => ['demo', '--scenarios', '3', '--resamples', '100', '--run-dir', path.join(D, 'demo-rerun')],
    code: 0,
    stderr: null,
    changes: ['demo-rerun/demo/'],
  },
  {
    name: 'lm sft --run-name .. --overwrite --no-resume',
    argv: () => [
      'lm',
      'sft',
      '--config',
      sftConfig(caseDir('sft-dotdot')),
      '--run-name',
      '..',
      '--overwrite',
      '--no-resume',
    ],
    code: 2,
    stderr: err('.*sft\\.yaml:2 at runName: a run name is'),
  },
  {
    name: 'lm sft --overwrite of a run folder that holds the training data',
    setup: async () => {
      const dir = caseDir('sft-input');
      sftConfig(dir);
      const run = await createRunDir('r', {}, { parent: path.join(dir, 'runs') });
      writeFileSync(run.file('train.jsonl'), readFileSync(F['sft.jsonl']!));
    },
    argv: () => [
      'lm',
      'sft',
      '--config',
      path.join(D, 'sft-input', 'sft.yaml'),
      '--train',
      path.join(D, 'sft-input', 'runs', 'r', 'train.jsonl'),
      '--overwrite',
    ],
    code: 2,
    stderr: err('run folder .*r: holds the input .*train\\.jsonl; overwriting would delete it'),
  },
  {
    name: 'eval logs.jsonl --out logs.jsonl (the output is the input)',
    argv: () => ['eval', F['logs.jsonl']!, '--out', F['logs.jsonl']!],
    code: 2,
    stderr: err('.*logs\\.jsonl: is the same file as the logs file'),
  },
  {
    name: 'eval --out a symbolic link to the input',
    setup: () => symlinkSync(F['logs.jsonl']!, path.join(caseDir('out-link-input'), 'report.txt')),
    argv: () => ['eval', F['logs.jsonl']!, '--out', path.join(D, 'out-link-input', 'report.txt')],
    code: 2,
    stderr: err('.*report\\.txt: is the same file as the logs file'),
  },
  {
    name: 'eval --out a symbolic link to a regular file writes through the link',
    setup: () => {
      writeFileSync(path.join(caseDir('out-link'), 'real.txt'), 'old report');
      symlinkSync('real.txt', path.join(D, 'out-link', 'report.txt'));
    },
    argv: () => ['eval', F['logs.jsonl']!, '--out', path.join(D, 'out-link', 'report.txt')],
    code: 0,
    stderr: null,
    changes: ['out-link/real.txt'],
    check: () => expect(readFileSync(path.join(D, 'out-link', 'real.txt'), 'utf8')).toMatch(/12 sessions/),
  },
  {
    name: 'eval --out a FIFO',
    setup: () => spawnSync('mkfifo', [path.join(caseDir('out-fifo'), 'pipe')]),
    argv: () => ['eval', F['logs.jsonl']!, '--out', path.join(D, 'out-fifo', 'pipe')],
    code: 2,
    stderr: err('.*pipe: is a FIFO \\(named pipe\\); refusing to replace it'),
  },
  {
    name: 'simulate --out a device node (as root /dev/null became a regular file)',
    // mknod needs root; without it the case uses /dev/null itself, which it cannot replace anyway.
    setup: () => spawnSync('mknod', [path.join(caseDir('out-device'), 'null'), 'c', '1', '3']),
    argv: () => {
      const node = path.join(D, 'out-device', 'null');
      return ['simulate', '--scenarios', '2', '--out', existsSync(node) ? node : '/dev/null'];
    },
    code: 2,
    stderr: err('.*null: is a device; refusing to replace it with a file'),
  },
  {
    name: 'eval --out a folder',
    argv: () => ['eval', F['logs.jsonl']!, '--out', caseDir('out-folder')],
    code: 2,
    stderr: err('.*out-folder: is a folder; give a file name'),
  },
  {
    name: 'eval --out below a file',
    argv: () => ['eval', F['logs.jsonl']!, '--out', path.join(F['empty.jsonl']!, 'report.txt')],
    code: 2,
    stderr: err('.*report\\.txt: cannot create the folder: .*empty\\.jsonl is a regular file, not a folder'),
  },
  {
    name: '--out under /proc (recursive mkdir spun forever)',
    binary: true,
    argv: () => ['simulate', '--scenarios', '2', '--out', '/proc/gopo-none/x/logs.jsonl'],
    code: 2,
    stderr: err('/proc/gopo-none/x/logs\\.jsonl: cannot create the folder /proc/gopo-none'),
  },
  {
    name: '--log-file under /proc (spun at 100% CPU)',
    binary: true,
    argv: () => ['logs', 'validate', F['logs.jsonl']!, '--log-file', '/proc/gopo-none/gopo.log'],
    code: 2,
    stderr: err('/proc/gopo-none/gopo\\.log: cannot create the folder /proc/gopo-none'),
  },
  {
    name: '--log-file the same path as --out',
    argv: () => {
      const file = path.join(caseDir('log-is-out'), 'report.txt');
      return ['eval', F['logs.jsonl']!, '--out', file, '--log-file', file];
    },
    code: 2,
    stderr: err('--log-file .*report\\.txt is also the --out file; log somewhere else'),
  },
  {
    name: '--log-file at a folder (exited 13 with no message)',
    argv: () => ['logs', 'validate', F['logs.jsonl']!, '--log-file', caseDir('log-folder')],
    code: 2,
    stderr: err('.*log-folder: is a folder; give a file name'),
  },
  {
    name: 'logs validate: a line over 16 MiB (RangeError and a stack trace)',
    argv: () => ['logs', 'validate', F['long-line.jsonl']!],
    code: 2,
    stderr: err('.*long-line\\.jsonl:2 at \\(root\\): line longer than 16777216 bytes'),
  },
  {
    name: 'eval: a line over 16 MiB (exit 1)',
    argv: () => ['eval', F['long-line.jsonl']!],
    code: 2,
    stderr: err('.*long-line\\.jsonl:2 at \\(root\\): line longer than 16777216 bytes'),
  },
  {
    name: 'eval --skip-invalid scores the lines around an overlong one',
    argv: () => ['eval', F['long-line.jsonl']!, '--skip-invalid', '--format', 'json'],
    code: 0,
    stderr: null,
    check: (r) =>
      expect(JSON.parse(r.stdout.join(''))).toMatchObject({ evaluation: { sessions: 2, skipped: 1 } }),
  },
];

const bothReaders = ['logs validate', 'eval'] as const;

const wrongAnswers: Case[] = [
  {
    name: 'a lone \\r between JSON tokens: validate reads 2 sessions',
    argv: () => ['logs', 'validate', F['lone-cr-inside.jsonl']!],
    code: 0,
    stderr: null,
    check: (r) => expect(r.stdout[0]).toMatch(/2 valid session\(s\), 0 invalid/),
  },
  {
    name: 'a lone \\r between JSON tokens: eval agrees',
    argv: () => ['eval', F['lone-cr-inside.jsonl']!, '--format', 'json'],
    code: 0,
    stderr: null,
    check: (r) => expect(JSON.parse(r.stdout.join('')).evaluation.sessions).toBe(2),
  },
  ...bothReaders.map(
    (cmd): Case => ({
      name: `a lone \\r between two records is one invalid line 1 (${cmd})`,
      argv: () => [...cmd.split(' '), F['lone-cr-between.jsonl']!],
      code: 2,
      stderr: err('.*lone-cr-between\\.jsonl:1 at \\(root\\): invalid JSON'),
    }),
  ),
  ...bothReaders.map(
    (cmd): Case => ({
      name: `invalid UTF-8 in a log (${cmd})`,
      argv: () => [...cmd.split(' '), F['invalid-utf8.jsonl']!],
      code: 2,
      stderr: err('.*invalid-utf8\\.jsonl:2 at \\(root\\): invalid UTF-8'),
    }),
  ),
  ...(
    [
      ['invalid-utf8-corpus.jsonl', ':2 at \\(root\\): invalid UTF-8'],
      ['invalid-utf8.txt', ':2: invalid UTF-8'],
    ] as const
  ).map(
    ([file, message]): Case => ({
      name: `invalid UTF-8 in a tokenizer corpus (${file})`,
      argv: () => [
        'lm',
        'train-tokenizer',
        '--input',
        F[file]!,
        '--out',
        path.join(caseDir(`tok-${file}`), 't.json'),
      ],
      code: 2,
      stderr: err(`.*${literal(file)}${message}`),
    }),
  ),
  ...(['empty.jsonl', 'blank-lines.jsonl'] as const).flatMap((file) =>
    bothReaders.map(
      (cmd): Case => ({
        name: `${file} (${cmd}): no sessions, exit 2`,
        argv: () => [...cmd.split(' '), F[file]!],
        code: 2,
        stderr: err(`.*${literal(file)}: no sessions: the file is empty or holds only blank lines`),
        check: (r) => expect(r.stdout.join('')).toBe(''),
      }),
    ),
  ),
  ...(['array-one-line.json', 'array-pretty.json'] as const).flatMap((file) =>
    bothReaders.map(
      (cmd): Case => ({
        name: `${file} (${cmd}): a JSON array, not hundreds of line errors`,
        argv: () => [...cmd.split(' '), F[file]!],
        code: 2,
        stderr: err(`.*${literal(file)}:1: the file is a JSON array, not JSON Lines`),
      }),
    ),
  ),
  {
    name: 'a metrics config with a typo (bootstrp:)',
    argv: () => ['eval', F['logs.jsonl']!, '--config', F['metrics-typo.yaml']!],
    code: 2,
    stderr: err(
      '.*metrics-typo\\.yaml:2 at bootstrp: unknown key "bootstrp"; valid: metrics, tse, esndcg, gre, stepReward, kl, bootstrap, objective',
    ),
  },
  {
    name: 'a shop config with a typo (maxTurn:)',
    argv: () => [
      'simulate',
      '--config',
      F['shop-typo.yaml']!,
      '--out',
      path.join(caseDir('shop-typo'), 'x.jsonl'),
    ],
    code: 2,
    stderr: err('.*shop-typo\\.yaml:2 at maxTurn: unknown key "maxTurn"; valid: world, scenarios, maxTurns'),
  },
  {
    name: '--set nosuch.key=1',
    argv: () => ['eval', F['logs.jsonl']!, '--set', 'nosuch.key=1'],
    code: 2,
    stderr: err('\\(command line\\): --set nosuch\\.key: no key "nosuch"; valid: metrics, tse'),
  },
  {
    name: '--set a..b=1',
    argv: () => ['eval', F['logs.jsonl']!, '--set', 'bootstrap..resamples=1'],
    code: 2,
    stderr: err('\\(command line\\): --set bootstrap\\.\\.resamples: empty key'),
  },
  {
    name: '--set __proto__.x=1 (polluted Object.prototype)',
    argv: () => [
      'simulate',
      '--out',
      path.join(caseDir('proto'), 'x.jsonl'),
      '--set',
      '__proto__.polluted=1',
    ],
    code: 2,
    stderr: err('\\(command line\\): --set __proto__\\.polluted: "__proto__" is not allowed as a key'),
    check: () => expect(({} as Record<string, unknown>).polluted).toBeUndefined(),
  },
  {
    name: '--set without --config is applied, not ignored',
    argv: () => [
      'simulate',
      '--scenarios',
      '5',
      '--out',
      path.join(caseDir('set-no-config'), 'x.jsonl'),
      '--set',
      'maxTurns=2',
    ],
    code: 0,
    stderr: null,
    changes: ['set-no-config/x.jsonl'],
    check: () => {
      for (const line of readFileSync(path.join(D, 'set-no-config', 'x.jsonl'), 'utf8')
        .trim()
        .split('\n')) {
        const turns = (JSON.parse(line) as { turns: { role: string }[] }).turns;
        expect(turns.filter((t) => t.role === 'agent').length).toBeLessThanOrEqual(2);
      }
    },
  },
  ...(
    [
      ['eval', () => ['eval', D], 'the logs file'],
      ['logs validate', () => ['logs', 'validate', D], 'the file file'],
      [
        'lm train-tokenizer',
        () => ['lm', 'train-tokenizer', '--input', D, '--out', path.join(caseDir('tok-dir'), 't.json')],
        'the --input file',
      ],
      [
        'lm generate',
        () => ['lm', 'generate', '--model', D, '--prompt', 'x', '--tokenizer', D],
        'the --tokenizer file',
      ],
      ['--config', () => ['eval', F['logs.jsonl']!, '--config', D], 'the config file'],
    ] as const
  ).map(
    ([what, argv, role]): Case => ({
      name: `a folder as input (${what})`,
      argv: () => [...argv()],
      code: 2,
      stderr: err(`.*: is a folder; ${role} must be a file`),
    }),
  ),
  {
    name: '--seed abc (ran with seed NaN)',
    argv: () => ['simulate', '--seed', 'abc', '--out', path.join(caseDir('seed'), 'x.jsonl')],
    code: 2,
    stderr: err('--seed: expected a whole number from 0 to 4294967295, got "abc"'),
  },
  {
    name: 'a YAML alias bomb as config',
    argv: () => ['eval', F['logs.jsonl']!, '--config', F['alias-bomb.yaml']!],
    code: 2,
    stderr: err('.*alias-bomb\\.yaml: invalid YAML: .*aliases may expand at most 100 times'),
  },
  {
    name: '--resamples 1e9 (internal error: invalid typed array length)',
    argv: () => ['eval', F['logs.jsonl']!, '--resamples', '1e9'],
    code: 2,
    stderr: err('--resamples: Too big: expected number to be <=100000'),
  },
  ...(['reward-import.yaml', 'reward-createunit.yaml'] as const).map(
    (file): Case => ({
      name: `a reward expression calling mathjs internals (${file})`,
      argv: () => ['eval', F['logs.jsonl']!, '--config', F[file]!],
      code: 2,
      stderr: err(`.*${literal(file)} at gre\\.expression: function "(import|createUnit)" is not allowed`),
    }),
  ),
  {
    name: 'a model larger than memory (an allocation failure is a resource message, not exit 1)',
    argv: () => [
      'lm',
      'sft',
      '--config',
      sftConfig(caseDir('oom')),
      '--set',
      'model.config.hidden_size=4194304',
    ],
    code: 2,
    stderr: err('out of memory: .*\\(try smaller sizes'),
    changes: ['oom/'],
  },
  ...(
    [
      ['duplicate-id', 'id \\d+ is used twice'],
      ['id-gap', 'no token has id \\d+ \\(ids must run from 0 to \\d+ without gaps\\)'],
      ['bad-merge', 'model\\.merges\\[\\d+\\]: token "gopo-no-such-token" is not in the vocab'],
    ] as const
  ).map(
    ([defect, message]): Case => ({
      name: `lm generate with a corrupt tokenizer.json (${defect}; exited 0)`,
      argv: () => ['lm', 'generate', '--model', F[`model-${defect}`]!, '--prompt', 'hi'],
      code: 2,
      stderr: err(`.*tokenizer\\.json.*${message}`),
    }),
  ),
  {
    name: 'control bytes from the input are escaped in the error',
    argv: () => ['eval', F['control-bytes.jsonl']!],
    code: 2,
    stderr: err('.*control-bytes\\.jsonl:2 at \\(root\\): invalid JSON .*\\\\x1b\\[31mred'),
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for a raw ESC is the point
    check: (r) => expect(r.stderr.join('')).not.toMatch(/\x1b/),
  },
];

/** An SFT run of one step in `sft-<name>/runs/r`, made before the case. */
async function trainedRun(name: string): Promise<void> {
  const cfg = sftConfig(caseDir(`sft-${name}`));
  const r = await runCli(['lm', 'sft', '--config', cfg, '--quiet']);
  expect(r.code, r.stderr.join('\n')).toBe(0);
}

const resume: Case[] = [
  {
    name: 'lm sft --no-resume (Unknown argument: resume) refuses an existing run',
    setup: () => trainedRun('no-resume'),
    argv: () => ['lm', 'sft', '--config', path.join(D, 'sft-no-resume', 'sft.yaml'), '--no-resume'],
    code: 2,
    stderr: err('run folder .*r: already holds a run; resume it or overwrite it'),
  },
  {
    name: 'a resumed run with a changed --lr and --max-steps says what changed and refuses',
    setup: () => trainedRun('changed'),
    argv: () => [
      'lm',
      'sft',
      '--config',
      path.join(D, 'sft-changed', 'sft.yaml'),
      '--lr',
      '0.01',
      '--max-steps',
      '2',
    ],
    code: 2,
    stderr: err(
      'run folder .*r: was started with a different config \\(sft\\.lr 0\\.0002 -> 0\\.01, sft\\.maxSteps 1 -> 2\\); resume with --allow-config-change',
    ),
  },
  {
    name: 'a resumed run with --allow-config-change goes on and records the change',
    setup: () => trainedRun('allowed'),
    argv: () => [
      'lm',
      'sft',
      '--config',
      path.join(D, 'sft-allowed', 'sft.yaml'),
      '--max-steps',
      '2',
      '--allow-config-change',
      '--format',
      'json',
    ],
    code: 0,
    stderr: null,
    changes: ['sft-allowed/runs/r/'],
    check: (r) => {
      expect(JSON.parse(r.stdout.join(''))).toMatchObject({ step: 2, resumedFrom: 1 });
      const changes = readFileSync(path.join(D, 'sft-allowed', 'runs', 'r', 'config-changes.jsonl'), 'utf8');
      expect(changes).toMatch(/sft\.maxSteps/);
    },
  },
];

const consistency: Case[] = [
  {
    name: 'demo --device cuda --config x.yaml (both silently ignored)',
    argv: () => [
      'demo',
      '--device',
      'cuda',
      '--config',
      F['metrics-typo.yaml']!,
      '--run-dir',
      caseDir('demo-globals'),
    ],
    code: 2,
    stderr: err('gopo demo does not use --config \\(it honours --seed\\)'),
  },
  {
    name: 'simulate names agent and user turns apart; mean csat over rated sessions',
    argv: () => ['simulate', '--scenarios', '5', '--out', path.join(caseDir('turns'), 'x.jsonl')],
    code: 0,
    stderr: null,
    changes: ['turns/x.jsonl'],
    check: (r) =>
      expect(r.stdout[1]).toMatch(
        /mean agent turns [\d.]+ {2}mean user turns [\d.]+ {2}csat [\d.]+ \(\d+ rated\)/,
      ),
  },
  {
    name: 'eval names user_turns and agent_turns',
    argv: () => ['eval', F['logs.jsonl']!, '--format', 'json'],
    code: 0,
    stderr: null,
    check: (r) => {
      const names = (JSON.parse(r.stdout.join('')).evaluation.metrics as { name: string }[]).map(
        (m) => m.name,
      );
      expect(names).toEqual(expect.arrayContaining(['user_turns', 'agent_turns']));
      expect(names).not.toContain('turns');
    },
  },
  {
    name: '--log-file records the command line, the exit code and the error',
    argv: () => ['eval', F['empty.jsonl']!, '--log-file', path.join(caseDir('log-record'), 'gopo.log')],
    code: 2,
    stderr: err('.*empty\\.jsonl: no sessions'),
    changes: ['log-record/gopo.log'],
    check: () => {
      const records = readFileSync(path.join(D, 'log-record', 'gopo.log'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records[0]).toMatchObject({ message: 'gopo command', argv: expect.arrayContaining(['eval']) });
      expect(records.at(-1)).toMatchObject({
        message: 'gopo exit',
        exitCode: 2,
        error: expect.stringMatching(/no sessions/),
      });
    },
  },
  {
    name: '--log-file records a command line the parser refused',
    argv: () => [
      'eval',
      F['logs.jsonl']!,
      '--no-such-flag',
      '--log-file',
      path.join(caseDir('log-refused'), 'gopo.log'),
    ],
    code: 2,
    stderr: err('Unknown argument'),
    changes: ['log-refused/gopo.log'],
    check: () =>
      expect(JSON.parse(readFileSync(path.join(D, 'log-refused', 'gopo.log'), 'utf8'))).toMatchObject({
        exitCode: 2,
        argv: expect.arrayContaining(['--no-such-flag']),
      }),
  },
];

describe('bad input: data loss and hangs', () => {
  for (const c of dataLossAndHangs) it(c.name, () => runCase(c));

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    it(`an interrupted simulate (${signal}) removes its temporary file and exits ${code}`, async () => {
      const dir = caseDir(`interrupt-${signal}`);
      const before = snapshot(D);
      const out = path.join(dir, 'big.jsonl');
      const { child, done } = startGopo(['simulate', '--scenarios', '5000000', '--out', out, '--quiet']);
      // Wait until the temporary file exists (the simulation is under way), then interrupt.
      const deadline = Date.now() + 30_000;
      const temp = () => readdirSync(dir).find((f) => f.includes(TEMP_FILE_MARKER));
      while (!temp() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(temp()).toMatch(new RegExp(`^\\.big\\.jsonl\\.gopo-tmp-${child.pid}-[0-9a-f]{8}$`));
      child.kill(signal);
      expect((await done).code).toBe(code);
      expect(changedPaths(before, snapshot(D))).toEqual([]);
    });
});

describe('bad input: wrong answers and silent acceptance', () => {
  for (const c of wrongAnswers) it(c.name, () => runCase(c));
  for (const c of resume) it(c.name, () => runCase(c), 120_000);
});

describe('bad input: consistency', () => {
  for (const c of consistency) it(c.name, () => runCase(c));
});
