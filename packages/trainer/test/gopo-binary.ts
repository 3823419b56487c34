import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

/** How the tests start the real CLI: from source, in a child process, the way a user runs the binary. */
const ARGS = ['--conditions=@gopo/source', '--import', 'tsx', 'src/bin.ts'];
const ENV = { ...process.env, CI: 'true' };

export interface BinaryResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `gopo ...args` to the end; a run longer than `timeoutMs` is killed (so a hang fails fast). */
export function gopo(args: readonly string[], timeoutMs = 60_000): BinaryResult {
  const r = spawnSync(process.execPath, [...ARGS, ...args], {
    cwd: pkgDir,
    encoding: 'utf8',
    env: ENV,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `gopo ...args` without waiting (to signal it); `done` resolves when it exits. */
export function startGopo(args: readonly string[]): { child: ChildProcess; done: Promise<BinaryResult> } {
  const child = spawn(process.execPath, [...ARGS, ...args], { cwd: pkgDir, env: ENV });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const done = new Promise<BinaryResult>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}
