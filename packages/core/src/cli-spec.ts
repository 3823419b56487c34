import { z } from 'zod';
import type { Logger } from './logger.js';

/** Execution device names accepted everywhere a device is chosen. */
export const DEVICE_NAMES = ['cpu', 'webgpu', 'cuda', 'auto'] as const;
export type DeviceName = (typeof DEVICE_NAMES)[number];

/** What every command receives besides its own options: the global flags, resolved. */
export interface CliContext {
  readonly logger: Logger;
  readonly seed: number;
  readonly device: DeviceName;
  /** The command-specific global flags given on the command line (the others hold their defaults). */
  readonly given: ReadonlySet<CommandGlobal>;
  /** --config, when given; a command that takes a config file reads it from here. */
  readonly configFile: string | undefined;
  /** --set key=value overrides for the config. */
  readonly overrides: readonly string[];
  /** --data-dir, when given (see resolveDataDir for the fallbacks). */
  readonly dataDir: string | undefined;
  readonly quiet: boolean;
  /** Command results go here (stdout), logs go to the logger (stderr). */
  readonly out: (text: string) => void;
}

/**
 * The global flags that only some commands use. Every command lists the ones it honours in
 * `globals`; the CLI refuses the others with exit 2, so no flag is ever silently ignored.
 * (--log-level, --log-file, --quiet, --verbose and --data-dir apply to every command.)
 */
export const COMMAND_GLOBALS = ['config', 'set', 'seed', 'device'] as const;
export type CommandGlobal = (typeof COMMAND_GLOBALS)[number];

/** The largest --seed (seeds are unsigned 32-bit integers). */
export const MAX_SEED = 0xffffffff;

/**
 * Which of a command's options name files, so that the CLI checks them before the command runs: an
 * input must exist and be a file (a folder for `inputDirs`), and an output is never a folder, a
 * device, or the same file as an input, the --config file or the --log-file.
 */
export interface CommandFiles<T> {
  readonly inputs?: readonly (keyof T & string)[];
  readonly inputDirs?: readonly (keyof T & string)[];
  readonly outputs?: readonly (keyof T & string)[];
}

export interface PositionalSpec {
  readonly name: string;
  /** Zero or more values collected into an array. */
  readonly variadic?: boolean;
  readonly optional?: boolean;
}

/**
 * A command declared by the package that owns it, independent of any CLI library: its options are a
 * zod object whose field descriptions are the help text, and the `gopo` binary turns it into a
 * subcommand. `path` is the words that invoke it (`['logs', 'validate']`).
 */
export interface CommandSpec<S extends z.ZodObject = z.ZodObject> {
  readonly path: readonly string[];
  readonly describe: string;
  readonly positionals?: readonly PositionalSpec[];
  readonly options: S;
  readonly examples?: readonly (readonly [command: string, description: string])[];
  /** The global flags this command honours (see COMMAND_GLOBALS); the others are refused. */
  readonly globals: readonly CommandGlobal[];
  /** Options naming files the command reads and writes (checked before `run`). */
  readonly files?: CommandFiles<z.infer<S>>;
  /** Returns the exit code (default 0). Throw a GopoError for user errors. */
  run(args: z.infer<S>, ctx: CliContext): Promise<number | undefined> | number | undefined;
}

export function defineCommand<S extends z.ZodObject>(spec: CommandSpec<S>): CommandSpec<S> {
  return spec;
}

/**
 * The `--format` option of every command that prints results: `text` for people, `json` (one JSON
 * document on stdout) for programs.
 */
export const OutputFormatSchema = z
  .enum(['text', 'json'])
  .default('text')
  .describe('result format: text for people, json for programs (one JSON document on stdout)');
export type OutputFormat = z.infer<typeof OutputFormatSchema>;

export type OptionKind = 'string' | 'number' | 'boolean' | 'array';

/** A zod field reduced to what a CLI parser needs. */
export interface OptionDescription {
  readonly name: string;
  readonly kind: OptionKind;
  readonly describe: string;
  readonly choices?: readonly string[];
  readonly defaultValue?: unknown;
  readonly required: boolean;
}

interface ZodDefLike {
  type: string;
  innerType?: ZodLike;
  defaultValue?: unknown;
  entries?: Record<string, string>;
  element?: ZodLike;
  in?: ZodLike;
}
interface ZodLike {
  _zod: { def: ZodDefLike };
  description?: string;
}

/** Reads a zod object's fields into option descriptions (unwrapping optional/default/pipe wrappers). */
export function describeOptions(schema: z.ZodObject): OptionDescription[] {
  const out: OptionDescription[] = [];
  for (const [name, field] of Object.entries(schema.shape)) {
    // yargs reads --no-x as x=false, so an option named noX could never be given.
    if (/^no[A-Z]/.test(name))
      throw new Error(
        `option ${name}: name it ${name[2]!.toLowerCase()}${name.slice(3)} (--no-… negates a boolean)`,
      );
    let node = field as unknown as ZodLike;
    let required = true;
    let defaultValue: unknown;
    let describe = node.description ?? '';
    for (;;) {
      const def = node._zod.def;
      if (def.type === 'optional' || def.type === 'nullable') required = false;
      else if (def.type === 'default' || def.type === 'prefault') {
        required = false;
        defaultValue = def.defaultValue;
      } else if (def.type === 'pipe' && def.in) {
        node = def.in;
        describe ||= node.description ?? '';
        continue;
      } else break;
      node = def.innerType!;
      describe ||= node.description ?? '';
    }
    const def = node._zod.def;
    const kind: OptionKind =
      def.type === 'number' || def.type === 'int'
        ? 'number'
        : def.type === 'boolean'
          ? 'boolean'
          : def.type === 'array'
            ? 'array'
            : 'string';
    const choices = def.type === 'enum' && def.entries ? Object.values(def.entries) : undefined;
    out.push({
      name,
      kind,
      describe,
      required,
      ...(choices ? { choices } : {}),
      ...(defaultValue !== undefined ? { defaultValue } : {}),
    });
  }
  return out;
}
