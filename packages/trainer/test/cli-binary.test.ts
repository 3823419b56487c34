import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

/** Runs the real CLI from source in a child process, the way a user runs the binary. */
function gopo(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@gopo/source', '--import', 'tsx', 'src/bin.ts', ...args],
    {
      cwd: pkgDir,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('gopo binary', () => {
  it('--help lists the commands and global flags', () => {
    const r = gopo('--help');
    expect(r.code).toBe(0);
    for (const word of [
      'demo',
      'data',
      '--config',
      '--seed',
      '--device',
      '--log-level',
      '--log-file',
      '--quiet',
    ]) {
      expect(r.stdout).toContain(word);
    }
  });

  it('a bad flag prints one line on stderr and exits 2', () => {
    const r = gopo('data', '--no-such-flag');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^gopo: error: Unknown argument/);
  });

  it('a missing data directory is a user error', () => {
    const r = gopo('data', '--data-dir', '/nonexistent/gopo-data', '--quiet');
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/multiwoz\/val\.json/);
  });
});
