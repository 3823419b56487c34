import type { z } from 'zod';
import type { Logger } from './logger.js';

/** Execution device names accepted everywhere a device is chosen. */
export const DEVICE_NAMES = ['cpu', 'webgpu', 'cuda', 'auto'] as const;
export type DeviceName = (typeof DEVICE_NAMES)[number];

/** What every command receives besides its own options: the global flags, resolved. */
export interface CliContext {
  readonly logger: Logger;
  readonly seed: number;
  readonly device: DeviceName;
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
  /** Returns the exit code (default 0). Throw a GopoError for user errors. */
  run(args: z.infer<S>, ctx: CliContext): Promise<number | undefined> | number | undefined;
}

export function defineCommand<S extends z.ZodObject>(spec: CommandSpec<S>): CommandSpec<S> {
  return spec;
}

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
