/**
 * One base class for every error the project raises on purpose. `name` is stable (tests and callers
 * match on it), `userFacing` errors are printed by the CLI as one line with exit code 2.
 */
export class GopoError extends Error {
  readonly userFacing: boolean = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where in a file a problem is: file, optional 1-based line, optional field path. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly path?: readonly (string | number)[];
}

export function formatFieldPath(path: readonly (string | number)[] | undefined): string {
  if (!path || path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function formatLocation(loc: SourceLocation): string {
  const line = loc.line !== undefined ? `:${loc.line}` : '';
  const field = loc.path !== undefined ? ` at ${formatFieldPath(loc.path)}` : '';
  return `${loc.file}${line}${field}`;
}

/** A file could not be read, parsed or validated. Carries the file, line and field path. */
export class FileFormatError extends GopoError {
  constructor(
    readonly location: SourceLocation,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${formatLocation(location)}: ${detail}`, options);
  }
}

/** A config file or config override failed validation. */
export class ConfigError extends FileFormatError {}

/** A required file or directory does not exist. */
export class MissingFileError extends GopoError {
  constructor(
    readonly file: string,
    readonly what = 'file',
  ) {
    super(`${what} not found: ${file}`);
  }
}

/** Bad command-line usage or an argument that makes no sense. */
export class UsageError extends GopoError {}

/** A name looked up in a registry does not exist; the message lists the valid names. */
export class UnknownNameError extends GopoError {
  constructor(
    readonly kind: string,
    readonly requested: string,
    readonly valid: readonly string[],
  ) {
    super(`unknown ${kind} "${requested}"; valid: ${[...valid].sort().join(', ') || '(none registered)'}`);
  }
}

/**
 * A path the command was asked to read or write cannot be used as asked: a directory where a file is
 * needed, a device, a path that cannot be created, an output that is one of the inputs.
 */
export class PathError extends GopoError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** A run folder cannot be created, reused or replaced as asked; nothing was deleted. */
export class RunDirError extends GopoError {
  constructor(
    readonly dir: string,
    readonly reason: string,
  ) {
    super(`run folder ${dir}: ${reason}`);
  }
}

/**
 * The machine ran out of a resource (memory, most often inside ONNX Runtime or a typed-array
 * allocation). Not a bug: the sizes asked for do not fit.
 */
export class ResourceError extends GopoError {
  constructor(
    readonly resource: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`out of ${resource}: ${detail} (try smaller sizes: batch, sequence length, resamples)`, options);
  }
}

export function isGopoError(e: unknown): e is GopoError {
  return e instanceof GopoError;
}

// Messages that V8, Node and ONNX Runtime use when an allocation fails.
const OUT_OF_MEMORY =
  /bad_alloc|Failed to allocate|out of memory|Array buffer allocation failed|Invalid typed array length|Cannot create a string longer than|Invalid string length/i;

/**
 * The error as a ResourceError when it is an allocation failure (from V8, Node or ONNX Runtime),
 * else unchanged; the CLI prints the former as a user-facing resource message.
 */
export function asResourceError(e: unknown): unknown {
  if (e instanceof GopoError || !(e instanceof Error)) return e;
  if (!OUT_OF_MEMORY.test(e.message)) return e;
  return new ResourceError('memory', e.message.split('\n')[0]!, { cause: e });
}

/**
 * Text safe to print on a terminal: control characters (C0, DEL, C1, and the Unicode line and
 * bidirectional-override characters) become visible escapes, so bytes from a user's file cannot move
 * the cursor, change colours or reorder what is shown.
 */
export function escapeControl(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
      const code = c.charCodeAt(0);
      return (
        named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`)
      );
    },
  );
}
