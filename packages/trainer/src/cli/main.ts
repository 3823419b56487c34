import {
  type CliContext,
  type CommandSpec,
  createLogger,
  DEVICE_NAMES,
  type DeviceName,
  describeOptions,
  isGopoError,
  LOG_LEVELS,
  type LogLevel,
  UsageError,
} from '@gopo/core';
import yargs, { type Argv } from 'yargs';
import { ALL_COMMANDS } from './registry.js';

/** Exit codes: 0 ok, 1 internal failure, 2 user error (bad flag, missing file, invalid input). */
export const EXIT_USER_ERROR = 2;
export const EXIT_INTERNAL_ERROR = 1;

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

interface GlobalArgs {
  config?: string;
  set?: string[];
  seed: number;
  device: DeviceName;
  logLevel: LogLevel;
  logFile?: string;
  quiet: boolean;
  verbose: boolean;
  dataDir?: string;
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
function commandArgs(spec: CommandSpec, argv: Record<string, unknown>): unknown {
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
  return parsed.data;
}

export interface MainIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const defaultIo: MainIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

/** Builds the yargs parser with every registered command; `run` receives the spec and its argv. */
function buildParser(
  argv: readonly string[],
  commands: readonly CommandSpec[],
  run: (spec: CommandSpec, args: Record<string, unknown>) => Promise<void>,
): Argv {
  const y = yargs([...argv])
    .scriptName('gopo')
    .usage(
      '$0 <command> [options]\n\nGOPO: goal-oriented preference optimization for task-focused dialogue agents.',
    )
    .option('config', {
      type: 'string',
      describe: 'config file (YAML or JSON) for the command',
      global: true,
    })
    .option('set', {
      type: 'string',
      array: true,
      describe: 'config override key.path=value (repeatable)',
      global: true,
    })
    .option('seed', { type: 'number', default: 1, describe: 'random seed', global: true })
    .option('device', {
      choices: [...DEVICE_NAMES],
      default: 'cpu',
      describe: 'execution device',
      global: true,
    })
    .option('log-level', {
      choices: [...LOG_LEVELS],
      default: 'info',
      describe: 'console log level',
      global: true,
    })
    .option('log-file', { type: 'string', describe: 'also write JSON-lines logs to this file', global: true })
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
        (a) => run(spec, a),
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
            (a) => run(spec, a),
          );
        }
        return b.demandCommand(1, `name a ${head} command`);
      },
    );
  }
  return y;
}

/**
 * Runs the CLI and returns the exit code (never calls process.exit, so it is testable in-process).
 * User errors print one line on stderr and return 2; --verbose adds the stack.
 */
export async function main(
  argv: readonly string[],
  io: MainIo = defaultIo,
  commands: readonly CommandSpec[] = ALL_COMMANDS,
): Promise<number> {
  let exitCode = 0;
  const verbose = argv.includes('--verbose');
  try {
    const parser = buildParser(argv, commands, async (spec, a) => {
      const g = a as unknown as GlobalArgs;
      const logger = createLogger({ level: g.logLevel, file: g.logFile, quiet: g.quiet });
      const ctx: CliContext = {
        logger,
        seed: g.seed,
        device: g.device,
        configFile: g.config,
        overrides: g.set ?? [],
        dataDir: g.dataDir,
        quiet: g.quiet,
        out: io.out,
      };
      try {
        exitCode = (await spec.run(commandArgs(spec, a) as never, ctx)) ?? 0;
      } finally {
        await new Promise<void>((resolve) => {
          logger.on('finish', () => resolve());
          logger.end();
          setTimeout(resolve, 200).unref();
        });
      }
    });
    await parser.parseAsync();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const user = isGopoError(err) ? err.userFacing : err.name === 'YError';
    io.err(`gopo: error: ${err.message.split('\n')[0]}`);
    if (verbose && err.stack) io.err(err.stack);
    else if (!user) io.err('(internal error; run with --verbose for the stack trace)');
    return user ? EXIT_USER_ERROR : EXIT_INTERNAL_ERROR;
  }
  return exitCode;
}
