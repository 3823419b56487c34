import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock, heldLocks, LockedError, releaseLock } from './lock-file.js';
import { createRunDir, RUN_LOCK } from './run-dir.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'gopo-lock-'));
const owner = (pid: number, host = hostname()) =>
  `${JSON.stringify({ pid, host, started: '2026-12-07T00:00:00.000Z', command: 'gopo train' })}\n`;
/** A pid that certainly ran on this host and has ended. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

describe('lock files', () => {
  it('is taken, taken again by its owner, and released', () => {
    const file = join(fresh(), 'x.lock');
    const lock = acquireLock(file, 'x');
    expect(JSON.parse(readFileSync(file, 'utf8')).pid).toBe(process.pid);
    const again = acquireLock(file, 'x');
    // Two holders in this process: the file stays until both let go (a second release is a no-op).
    lock.release();
    lock.release();
    expect(existsSync(file)).toBe(true);
    again.release();
    expect(existsSync(file)).toBe(false);
    acquireLock(file, 'x');
    acquireLock(file, 'x');
    expect(heldLocks()).toContain(file);
    releaseLock(file);
    expect(existsSync(file)).toBe(false);
    expect(heldLocks()).not.toContain(file);
  });

  it('refuses a lock a live process holds, naming it and the file', () => {
    const file = join(fresh(), 'x.lock');
    writeFileSync(file, owner(process.ppid));
    expect(() => acquireLock(file, 'run folder r')).toThrow(LockedError);
    expect(() => acquireLock(file, 'run folder r')).toThrow(
      new RegExp(`run folder r is in use by process ${process.ppid} on .* \\(gopo train\\).*delete ${file}`),
    );
    expect(readFileSync(file, 'utf8')).toBe(owner(process.ppid));
  });

  it('takes over a lock its dead process left on this host', () => {
    const file = join(fresh(), 'x.lock');
    writeFileSync(file, owner(deadPid()));
    acquireLock(file, 'x').release();
    expect(existsSync(file)).toBe(false);
  });

  it('honours locks of other hosts and unreadable locks', () => {
    const file = join(fresh(), 'x.lock');
    writeFileSync(file, owner(deadPid(), `not-${hostname()}`));
    expect(() => acquireLock(file, 'x')).toThrow(/in use by process \d+ on not-/);
    writeFileSync(file, 'garbage');
    expect(() => acquireLock(file, 'x')).toThrow(/in use by another process/);
  });

  it('keeps a run another process writes: resume and overwrite are refused, nothing changes', async () => {
    const parent = fresh();
    const run = await createRunDir('r', { lr: 1 }, { parent });
    run.release();
    writeFileSync(run.file(RUN_LOCK), owner(process.ppid));
    await expect(
      createRunDir('r', { lr: 2 }, { parent, resume: true, allowConfigChange: true }),
    ).rejects.toThrow(LockedError);
    await expect(createRunDir('r', {}, { parent, overwrite: true })).rejects.toThrow(LockedError);
    expect(JSON.parse(readFileSync(run.configFile, 'utf8'))).toEqual({ lr: 1 });
    // Once the owner is gone the run resumes.
    writeFileSync(run.file(RUN_LOCK), owner(deadPid()));
    const again = await createRunDir('r', { lr: 1 }, { parent, resume: true });
    expect(again.resumed).toBe(true);
    expect(JSON.parse(readFileSync(run.file(RUN_LOCK), 'utf8')).pid).toBe(process.pid);
    again.release();
  });

  it('releases its locks when the process exits', () => {
    const file = join(fresh(), 'x.lock');
    // The child holds the lock while it runs and leaves no file when it exits normally.
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', childScript(file)],
      { encoding: 'utf8' },
    );
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('held');
    expect(existsSync(file)).toBe(false);
  });
});

function childScript(file: string): string {
  const mod = new URL('./lock-file.ts', import.meta.url).href;
  return [
    `import { existsSync } from 'node:fs';`,
    `const { acquireLock } = await import(${JSON.stringify(mod)});`,
    `acquireLock(${JSON.stringify(file)}, 'x');`,
    `console.log(existsSync(${JSON.stringify(file)}) ? 'held' : 'missing');`,
  ].join('\n');
}
