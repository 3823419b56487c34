import { appendFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  assertNotAnInput,
  type CliContext,
  COMMAND_GLOBALS,
  type CommandGlobal,
  type CommandSpec,
  checkAppendFile,
  checkInputDir,
  checkInputFile,
  classifyError,
  createLogger,
  DEVICE_NAMES,
  type DeviceName,
  describeOptions,
  escapeControl,
  heldLocks,
  isGopoError,
  LOG_LEVELS,
  type Logger,
  type LogLevel,
  MAX_SEED,
  type NamedPath,
  releaseLock,
  resolveOutputFile,
  sameFile,
  UsageError,
} from '@gopo/core';
import yargs, { type Argv } from 'yargs';
import { ALL_COMMANDS } from './registry.js';

/** Exit codes: 0 ok, 1 internal failure, 2 user error (bad flag, missing file, invalid input). */
export const EXIT_USER_ERROR = 2;
export const EXIT_INTERNAL_ERROR = 1;

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The global flags as yargs hands them over; the four of COMMAND_GLOBALS are absent unless given. */
interface GlobalArgs {
  config?: unknown;
  set?: unknown;
  seed?: unknown;
  device?: DeviceName;
  logLevel: LogLevel;
  logFile?: unknown;
  quiet: boolean;
  verbose: boolean;
  dataDir?: unknown;
}

function commandString(spec: CommandSpec): string {
  const last = spec.path[spec.path.length - 1]!;
  const pos = (spec.positionals ?? []).map((p) => {
    const name = kebab(p.name) + (p.variadic ? '..' : '');
    return p.optional || p.variadic ? `[${name}]` : `<${name}>`;
  });
  return [last, ...pos].join(' ');
}

function addOptions(y: Argv, spec: CommandSpec): Argv {
  const positional = new Set((spec.positionals ?? []).map((p) => p.name));
  for (const o of describeOptions(spec.options)) {
    const describe = o.describe || o.name;
    if (positional.has(o.name)) {
      y.positional(kebab(o.name), { describe, type: o.kind === 'array' ? 'string' : o.kind });
      continue;
    }
    y.option(kebab(o.name), {
      describe,
      type: o.kind,
      ...(o.choices ? { choices: [...o.choices] } : {}),
      ...(o.defaultValue !== undefined ? { default: o.defaultValue } : {}),
      ...(o.required && o.kind !== 'boolean' ? { demandOption: true } : {}),
    });
  }
  for (const [cmd, text] of spec.examples ?? []) y.example(cmd, text);
  return y;
}

/** Picks the command's own fields out of yargs' argv and validates them with the command's schema. */
function commandArgs(spec: CommandSpec, argv: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(spec.options.shape)) {
    const v = argv[key] ?? argv[kebab(key)];
    if (v !== undefined) raw[key] = v;
  }
  const parsed = spec.options.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path[0];
    throw new UsageError(`--${typeof field === 'string' ? kebab(field) : '?'}: ${issue.message}`);
  }
  return parsed.data as Record<string, unknown>;
}

const commandName = (spec: CommandSpec) => `gopo ${spec.path.join(' ')}`;

/** A global string flag given once (yargs collects a repeated flag into an array). */
function single(flag: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${flag} takes one value`);
  return v;
}

/** --seed: a whole number from 0 to MAX_SEED, default 1. */
function parseSeed(v: unknown): number {
  const text = single('seed', v === undefined ? undefined : String(v));
  if (text === undefined) return 1;
  const seed = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(seed <= MAX_SEED))
    throw new UsageError(`--seed: expected a whole number from 0 to ${MAX_SEED}, got "${text}"`);
  return seed;
}

/** Refuses a command-specific global flag that the command does not declare in `globals`. */
function checkGlobals(spec: CommandSpec, g: GlobalArgs): void {
  for (const flag of COMMAND_GLOBALS) {
    if (g[flag] === undefined || spec.globals.includes(flag)) continue;
    const honoured = spec.globals.length
      ? `it honours ${spec.globals.map((f) => `--${f}`).join(', ')}`
      : `it takes none of ${COMMAND_GLOBALS.map((f) => `--${f}`).join(', ')}`;
    throw new UsageError(`${commandName(spec)} does not use --${flag} (${honoured})`);
  }
}

const paths = (v: unknown): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');

/** The files a command reads (declared inputs and --config) as named in its raw or parsed args. */
function inputPaths(
  spec: CommandSpec,
  args: Record<string, unknown>,
  config: string | undefined,
): NamedPath[] {
  const inputs = (spec.files?.inputs ?? []).flatMap((name) =>
    paths(args[name]).map((f) => ({ path: f, what: `${flagOf(spec, name)} file` })),
  );
  return config === undefined ? inputs : [...inputs, { path: config, what: 'config file' }];
}

function outputPaths(spec: CommandSpec, args: Record<string, unknown>): NamedPath[] {
  return (spec.files?.outputs ?? []).flatMap((name) =>
    paths(args[name]).map((f) => ({ path: f, what: `${flagOf(spec, name)} file` })),
  );
}

const flagOf = (spec: CommandSpec, name: string) =>
  (spec.positionals ?? []).some((p) => p.name === name) ? kebab(name) : `--${kebab(name)}`;

/** The log file is refused before anything is written to it; the refusal is not logged there either. */
class LogFileError extends UsageError {}

/** --log-file must not be a file the command reads or writes (checked on the raw args, before logging). */
function checkLogFile(
  spec: CommandSpec,
  args: Record<string, unknown>,
  config: string | undefined,
  logFile: string,
): void {
  const input = inputPaths(spec, args, config).find((i) => sameFile(i.path, logFile));
  // An output is often not there yet: compare paths as well as files.
  const output = outputPaths(spec, args).find(
    (o) => sameFile(o.path, logFile) || path.resolve(o.path) === path.resolve(logFile),
  );
  const clash = input ?? output;
  if (clash) throw new LogFileError(`--log-file ${logFile} is also the ${clash.what}; log somewhere else`);
}

/**
 * The file checks a command declares (CommandSpec.files), before it runs: inputs exist and are
 * files (or folders), and no output is a folder, a device or one of the inputs.
 */
function checkFiles(spec: CommandSpec, args: Record<string, unknown>, config: string | undefined): void {
  const inputs = inputPaths(spec, args, config);
  for (const i of inputs) checkInputFile(i.path, i.what);
  for (const name of spec.files?.inputDirs ?? [])
    for (const d of paths(args[name])) checkInputDir(d, `${flagOf(spec, name)} folder`);
  for (const o of outputPaths(spec, args)) {
    resolveOutputFile(o.path);
    assertNotAnInput(o.path, inputs);
  }
}

export interface MainIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const defaultIo: MainIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

/** Who honours each command-specific global flag, for the help text. */
function honouredBy(commands: readonly CommandSpec[], flag: CommandGlobal): string {
  const names = commands.filter((c) => c.globals.includes(flag)).map((c) => c.path.join(' '));
  return names.length ? `; used by: ${names.join(', ')}` : '; no command uses it';
}

/** Builds the yargs parser with every registered command; `chosen` receives the spec and its argv. */
function buildParser(
  argv: readonly string[],
  commands: readonly CommandSpec[],
  chosen: (spec: CommandSpec, args: Record<string, unknown>) => void,
): Argv {
  const y = yargs([...argv])
    .scriptName('gopo')
    .usage(
      '$0 <command> [options]\n\nGOPO: goal-oriented preference optimization for task-focused dialogue agents.',
    )
    .option('config', {
      type: 'string',
      describe: `config file (YAML or JSON) for the command${honouredBy(commands, 'config')}`,
      global: true,
    })
    .option('set', {
      type: 'string',
      array: true,
      describe: `config override key.path=value (repeatable)${honouredBy(commands, 'set')}`,
      global: true,
    })
    .option('seed', {
      type: 'string',
      describe: `random seed, 0 to ${MAX_SEED} (default 1)${honouredBy(commands, 'seed')}`,
      global: true,
    })
    .option('device', {
      choices: [...DEVICE_NAMES],
      describe: `execution device (default cpu)${honouredBy(commands, 'device')}`,
      global: true,
    })
    .option('log-level', {
      choices: [...LOG_LEVELS],
      default: 'info',
      describe: 'console log level',
      global: true,
    })
    .option('log-file', {
      type: 'string',
      describe: 'also write JSON-lines logs to this file, with the command line, exit code and any error',
      global: true,
    })
    .option('quiet', { type: 'boolean', default: false, describe: 'print errors only', global: true })
    .option('verbose', {
      type: 'boolean',
      default: false,
      describe: 'print stack traces on errors',
      global: true,
    })
    .option('data-dir', {
      type: 'string',
      describe: 'public data directory (default: $GOPO_DATA_DIR or ../shared/data)',
      global: true,
    })
    .strict()
    .demandCommand(1, 'name a command (see gopo --help)')
    .recommendCommands()
    .exitProcess(false)
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    .help()
    .alias('help', 'h')
    .version(false);

  // Group multi-word commands (`logs validate`) under their first word.
  const groups = new Map<string, CommandSpec[]>();
  for (const spec of commands) {
    if (spec.path.length === 1) {
      y.command(
        commandString(spec),
        spec.describe,
        (b) => addOptions(b, spec),
        (a) => chosen(spec, a),
      );
    } else {
      const head = spec.path[0]!;
      groups.set(head, [...(groups.get(head) ?? []), spec]);
    }
  }
  for (const [head, specs] of groups) {
    y.command(
      `${head} <command>`,
      `${head} commands: ${specs.map((s) => s.path.slice(1).join(' ')).join(', ')}`,
      (b) => {
        for (const spec of specs) {
          b.command(
            commandString(spec),
            spec.describe,
            (bb) => addOptions(bb, spec),
            (a) => chosen(spec, a),
          );
        }
        return b.demandCommand(1, `name a ${head} command`);
      },
    );
  }
  return y;
}

/** The --log-file value in a command line yargs refused (so that the refusal is recorded too). */
function rawLogFile(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--log-file') return argv[i + 1];
    if (a.startsWith('--log-file=')) return a.slice('--log-file='.length);
  }
  return undefined;
}

/** What --log-file records about a run besides the command's own logs. */
interface RunRecord {
  readonly exitCode: number;
  readonly error?: string;
  readonly errorName?: string;
}

/** Runs the parsed command: global flags checked, logger opened, files checked, then `run`. */
async function runCommand(
  spec: CommandSpec,
  a: Record<string, unknown>,
  argv: readonly string[],
  io: MainIo,
  setLogger: (l: Logger) => void,
): Promise<number> {
  const g = a as unknown as GlobalArgs;
  checkGlobals(spec, g);
  const seed = parseSeed(g.seed);
  const configFile = single('config', g.config);
  const logFile = single('log-file', g.logFile);
  const dataDir = single('data-dir', g.dataDir);
  const overrides = paths(g.set);
  if (logFile !== undefined) checkLogFile(spec, a, configFile, logFile);
  const logger = createLogger({ level: g.logLevel, file: logFile, quiet: g.quiet });
  setLogger(logger);
  logger.debug('gopo command', { argv: [...argv], cwd: process.cwd(), pid: process.pid });
  const args = commandArgs(spec, a);
  checkFiles(spec, args, configFile);
  const ctx: CliContext = {
    logger,
    seed,
    device: g.device ?? 'cpu',
    given: new Set(COMMAND_GLOBALS.filter((f) => g[f] !== undefined)),
    configFile,
    overrides,
    dataDir,
    quiet: g.quiet,
    out: io.out,
  };
  return (await spec.run(args as never, ctx)) ?? 0;
}

/** Appends the run record to the log file named on a command line that never got a logger. */
function recordWithoutLogger(argv: readonly string[], record: RunRecord): void {
  const file = rawLogFile(argv);
  if (file === undefined) return;
  try {
    checkAppendFile(file);
    appendFileSync(
      file,
      `${JSON.stringify({ level: 'debug', message: 'gopo exit', argv, ...record, timestamp: new Date().toISOString() })}\n`,
    );
  } catch {
    // The log file itself is what failed; the error is already on stderr.
  }
}

async function closeLogger(logger: Logger, record: RunRecord): Promise<void> {
  logger.debug('gopo exit', { ...record });
  await new Promise<void>((resolve) => {
    logger.on('finish', () => resolve());
    logger.end();
    setTimeout(resolve, 200).unref();
  });
}

/**
 * Runs the CLI and returns the exit code (never calls process.exit, so it is testable in-process).
 * User errors print one line on stderr (control characters escaped) and return 2; --verbose adds
 * the stack. --log-file records the command line, the exit code and any error.
 */
export async function main(
  argv: readonly string[],
  io: MainIo = defaultIo,
  commands: readonly CommandSpec[] = ALL_COMMANDS,
): Promise<number> {
  const verbose = argv.includes('--verbose');
  let logger: Logger | undefined;
  let record: RunRecord;
  let refusedLogFile = false;
  // The run folders this command locks are released when it returns, also when it runs in-process.
  const lockedBefore = new Set(heldLocks());
  try {
    let chosen: { spec: CommandSpec; args: Record<string, unknown> } | undefined;
    await buildParser(argv, commands, (spec, args) => {
      chosen = { spec, args };
    }).parseAsync();
    // No command chosen: --help was shown.
    const exitCode = chosen
      ? await runCommand(chosen.spec, chosen.args, argv, io, (l) => {
          logger = l;
        })
      : 0;
    record = { exitCode };
  } catch (e) {
    const err = classifyError(e);
    refusedLogFile = err instanceof LogFileError;
    const user = isGopoError(err) ? err.userFacing : err.name === 'YError';
    const line = escapeControl(err.message.split('\n')[0] ?? '');
    io.err(`gopo: error: ${line}`);
    if (verbose && err.stack) io.err(err.stack.split('\n').map(escapeControl).join('\n'));
    else if (!user) io.err('(internal error; run with --verbose for the stack trace)');
    record = { exitCode: user ? EXIT_USER_ERROR : EXIT_INTERNAL_ERROR, error: line, errorName: err.name };
  }
  for (const file of heldLocks()) if (!lockedBefore.has(file)) releaseLock(file);
  if (logger) await closeLogger(logger, record);
  else if (!refusedLogFile) recordWithoutLogger(argv, record);
  return record.exitCode;
}
