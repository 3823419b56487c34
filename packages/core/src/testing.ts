import type { CliContext } from './cli-spec.js';
import { silentLogger } from './logger.js';

/** A command context for tests: silent logger, CPU, and every line the command prints kept in `output`. */
export function testCliContext(overrides: Partial<CliContext> = {}): { ctx: CliContext; output: string[] } {
  const output: string[] = [];
  const ctx: CliContext = {
    logger: silentLogger(),
    seed: 1,
    device: 'cpu',
    given: new Set(),
    configFile: undefined,
    overrides: [],
    dataDir: undefined,
    quiet: true,
    out: (t) => output.push(t),
    ...overrides,
  };
  return { ctx, output };
}

/** A child process started by `startProcess`, with its combined output once it ends. */
export interface StartedProcess {
  readonly child: import('node:child_process').ChildProcess;
  readonly done: Promise<{ code: number | null; signal: string | null; out: string }>;
}

/**
 * Starts `node <args>` (the current Node binary) with stdout and stderr collected, for tests that
 * kill and restart processes (resume tests) or run the CLI as a user would.
 */
export async function startProcess(
  args: readonly string[],
  options: { cwd?: string } = {},
): Promise<StartedProcess> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (b: Buffer) => {
    out += b.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const done = new Promise<{ code: number | null; signal: string | null; out: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out }));
  });
  return { child, done };
}
