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

export function isGopoError(e: unknown): e is GopoError {
  return e instanceof GopoError;
}
