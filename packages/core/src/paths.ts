import { closeSync, lstatSync, mkdirSync, openSync, realpathSync, type Stats, statSync } from 'node:fs';
import * as path from 'node:path';
import { asResourceError, GopoError, MissingFileError, PathError, ResourceError } from './errors.js';

/** How a file system entry is named in messages. */
export function describeKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

const ERRNO_WORDS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'is a folder',
  EEXIST: 'already exists',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/** A system error's code in words (`EACCES` -> `permission denied`). */
export function errnoWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return (code && ERRNO_WORDS[code]) ?? (e as Error).message;
}

function statOrNull(file: string, follow: boolean): Stats | null {
  try {
    return follow ? statSync(file) : lstatSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new PathError(file, errnoWords(e));
  }
}

/**
 * Creates a folder and its missing parents one level at a time. Node's recursive mkdir loops
 * forever where a parent refuses new entries with ENOENT (under /proc, for one); here every level is
 * tried once, and a failure names the level and why. `owner` is the path the error names (the file
 * the folder is for, when there is one).
 */
export function ensureDir(dir: string, owner = dir): void {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  for (;;) {
    const st = statOrNull(cur, true);
    if (st) {
      if (!st.isDirectory())
        throw new PathError(owner, `cannot create the folder: ${cur} is ${describeKind(st)}, not a folder`);
      break;
    }
    missing.push(cur);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (e) {
      // Another process may have made it in between.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && statOrNull(level, true)?.isDirectory()) continue;
      throw new PathError(owner, `cannot create the folder ${level}: ${errnoWords(e)}`);
    }
  }
}

/**
 * Checks a path a command will write a file to and returns the path to replace: the file itself, or,
 * for a symbolic link to a regular file, the link's target (so the link stays a link). Refuses a
 * folder, a device, a FIFO or socket, and a link to anything but a regular file; creates missing
 * parent folders.
 */
export function resolveOutputFile(file: string): string {
  const st = statOrNull(file, false);
  if (!st) {
    ensureDir(path.dirname(path.resolve(file)), file);
    return file;
  }
  if (st.isSymbolicLink()) {
    const target = statOrNull(file, true);
    if (!target)
      throw new PathError(file, 'is a symbolic link to a missing file; refusing to write through it');
    if (!target.isFile())
      throw new PathError(file, `links to ${describeKind(target)}; only a regular file can be replaced`);
    return realpathSync(file);
  }
  if (st.isDirectory()) throw new PathError(file, 'is a folder; give a file name to write to');
  if (!st.isFile()) throw new PathError(file, `is ${describeKind(st)}; refusing to replace it with a file`);
  return file;
}

/** Whether two paths name the same file (after links), by device and inode; false if either is missing. */
export function sameFile(a: string, b: string): boolean {
  const sa = statOrNull(a, true);
  const sb = statOrNull(b, true);
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino;
}

/** Whether `inner` is `outer` or lies inside it, compared after resolving links. */
export function isInside(inner: string, outer: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const rel = path.relative(real(outer), real(inner));
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/** A file a command reads, named for messages (`'log file'`). */
export interface NamedPath {
  readonly path: string;
  readonly what: string;
}

/** Refuses an output path that is (after links) one of the inputs. */
export function assertNotAnInput(output: string, inputs: readonly NamedPath[]): void {
  for (const input of inputs) {
    if (sameFile(output, input.path))
      throw new PathError(
        output,
        `is the same file as the ${input.what} ${input.path}; write the output elsewhere`,
      );
  }
}

/**
 * Checks a file a command will read: it exists and is a regular file. A folder, a device or a pipe is
 * refused up front rather than read (readers seek, and a device such as /dev/zero never ends).
 */
export function checkInputFile(file: string, what = 'input file'): void {
  const st = statOrNull(file, true);
  if (!st) throw new MissingFileError(file, what);
  if (st.isFile()) return;
  throw new PathError(file, `is ${describeKind(st)}; the ${what} must be a file`);
}

/** Checks a folder a command will read (a model folder): it exists and is a folder. */
export function checkInputDir(dir: string, what = 'input folder'): void {
  const st = statOrNull(dir, true);
  if (!st) throw new MissingFileError(dir, what);
  if (!st.isDirectory()) throw new PathError(dir, `is ${describeKind(st)}; the ${what} must be a folder`);
}

/**
 * Checks a file that a command appends to (a log): a folder is refused, missing parent folders are
 * created, and the file is opened once so that a path that cannot be written fails here, with a
 * message, rather than later inside a logging library.
 */
export function checkAppendFile(file: string): void {
  const st = statOrNull(file, true);
  if (st?.isDirectory()) throw new PathError(file, 'is a folder; give a file name to write to');
  if (!st) ensureDir(path.dirname(path.resolve(file)), file);
  try {
    closeSync(openSync(file, 'a'));
  } catch (e) {
    throw new PathError(file, `cannot write: ${errnoWords(e)}`);
  }
}

// System errors that are about the user's files, not about the program.
const USER_ERRNO = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EROFS',
  'EISDIR',
  'ENOTDIR',
  'EEXIST',
  'ENAMETOOLONG',
  'ELOOP',
]);

/**
 * The error a user should see: allocation failures become ResourceError, a full disk too, and a
 * system error about a path (permission denied, is a folder, ...) a PathError; anything else is
 * returned as it is (an internal error).
 */
export function classifyError(e: unknown): Error {
  const r = asResourceError(e);
  const err = r instanceof Error ? r : new Error(String(r));
  if (err instanceof GopoError) return err;
  const sys = err as NodeJS.ErrnoException;
  if (sys.code === 'ENOSPC' || sys.code === 'EDQUOT')
    return new ResourceError('disk space', `${sys.path ?? ''} ${errnoWords(sys)}`.trim(), { cause: err });
  if (sys.code && USER_ERRNO.has(sys.code) && typeof sys.path === 'string')
    return new PathError(sys.path, errnoWords(sys));
  return err;
}
