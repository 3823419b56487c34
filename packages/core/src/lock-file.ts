/**
 * Lock files: one process at a time writes a run folder (or one method/seed of an experiment). Two
 * processes resuming the same run would write the same checkpoints and metrics and interleave them,
 * so the second is refused with the owner named. A lock whose process has died on this host is
 * stale and taken over, so a crash or ^C never leaves a run that needs hand repair; a lock from
 * another host cannot be checked and is honoured until someone removes the file.
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { z } from 'zod';
import { GopoError } from './errors.js';

const LockInfoSchema = z.strictObject({
  pid: z.number().int(),
  host: z.string(),
  started: z.string(),
  command: z.string(),
});
export type LockInfo = z.infer<typeof LockInfoSchema>;

/** The lock is held by another live process (or one this host cannot check). */
export class LockedError extends GopoError {
  constructor(
    readonly file: string,
    readonly owner: LockInfo | undefined,
    what: string,
  ) {
    const by = owner
      ? `process ${owner.pid} on ${owner.host} since ${owner.started} (${owner.command})`
      : 'another process';
    super(
      `${what} is in use by ${by}; nothing was changed. Wait for it to end, or, if it is no longer running, delete ${file}`,
    );
  }
}

/**
 * Locks this process holds, with how many acquisitions each has (a run reopened in-process takes
 * its lock again; the file goes when the last holder releases it or the process exits; a kill
 * leaves it stale, which is handled).
 */
const held = new Map<string, number>();
let exitHookInstalled = false;

function releaseAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const file of held.keys()) removeIfOurs(file);
  });
}

function readOwner(file: string): LockInfo | undefined {
  try {
    const parsed = LockInfoSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` of this host is running (EPERM: it is, as another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeIfOurs(file: string): void {
  const owner = readOwner(file);
  if (owner && owner.pid === process.pid && owner.host === os.hostname()) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
  held.delete(file);
}

/** One holder lets go: the file is removed when no holder in this process is left. */
function releaseOne(file: string): void {
  const n = held.get(file) ?? 0;
  if (n > 1) held.set(file, n - 1);
  else if (n === 1) removeIfOurs(file);
}

/** The lock files this process holds now. */
export function heldLocks(): string[] {
  return [...held.keys()];
}

/**
 * Gives up every hold on `file` at once; the CLI calls this for the locks a command took, so a
 * command run in-process (tests, embedding) leaves no lock behind.
 */
export function releaseLock(file: string): void {
  if (held.has(file)) removeIfOurs(file);
}

/** Who holds `file`, without taking it: free (no file), held (a live or unverifiable owner), stale. */
export function inspectLock(file: string): { state: 'free' | 'held' | 'stale'; owner?: LockInfo } {
  if (!existsSync(file)) return { state: 'free' };
  const owner = readOwner(file);
  if (!owner) return { state: 'held' };
  const stale = owner.host === os.hostname() && !processAlive(owner.pid);
  return { state: stale ? 'stale' : 'held', owner };
}

/** A held lock; release() gives up this hold once (later calls do nothing); all go at process exit. */
export interface Lock {
  readonly file: string;
  release(): void;
}

function hold(file: string): Lock {
  held.set(file, (held.get(file) ?? 0) + 1);
  let released = false;
  return {
    file,
    release: () => {
      if (released) return;
      released = true;
      releaseOne(file);
    },
  };
}

/**
 * Takes the lock `file` for this process (creating it exclusively), or throws LockedError naming its
 * owner. Taking a lock this process already holds succeeds; a lock left by a dead process of this
 * host is replaced. `what` names the locked thing in the error ("run folder runs/a").
 */
export function acquireLock(file: string, what: string): Lock {
  const me: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    started: new Date().toISOString(),
    command: process.argv.slice(1).join(' ').slice(0, 200),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: 'wx' });
      releaseAllOnExit();
      return hold(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readOwner(file);
    if (owner && owner.host === os.hostname() && owner.pid === process.pid) return hold(file);
    const stale = owner !== undefined && owner.host === os.hostname() && !processAlive(owner.pid);
    if (!stale) throw new LockedError(file, owner, what);
    // Re-read just before removing: a process that took the stale lock over a moment ago has
    // written a new owner, which must not be removed.
    const again = readOwner(file);
    if (again?.pid !== owner.pid || again.started !== owner.started) continue;
    try {
      unlinkSync(file);
    } catch {
      // another process removed it first; the next attempt sees its lock, if any
    }
  }
  throw new LockedError(file, readOwner(file), what);
}
