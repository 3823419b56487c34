import { describe, expect, it } from 'vitest';
import { gopo as run } from './gopo-binary.js';

const gopo = (...args: string[]) => run(args);

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
