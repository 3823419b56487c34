import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as path from 'node:path';

/** What every temporary file of ours has in its name: `.NAME.gopo-tmp-PID-RAND` beside NAME. */
export const TEMP_FILE_MARKER = '.gopo-tmp-';

/**
 * Where the temporary twin of `target` goes: the same folder (so the final rename stays on one file
 * system), hidden, and named so that a user who finds one after a crash knows what it is, which
 * process wrote it and that it may be deleted.
 */
export function tempPathFor(target: string): string {
  const name = `.${path.basename(target)}${TEMP_FILE_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
  return path.join(path.dirname(target), name);
}

/** Exit codes after a signal, as a shell reports them (128 + signal number). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof SIGNAL_EXIT;

const live = new Set<string>();

function removeLive(): void {
  for (const file of live) rmSync(file, { force: true, recursive: true });
  live.clear();
}

function onSignal(signal: HandledSignal): void {
  removeLive();
  process.exit(SIGNAL_EXIT[signal]);
}

const handlers = new Map<HandledSignal, () => void>(
  (Object.keys(SIGNAL_EXIT) as HandledSignal[]).map((s) => [s, () => onSignal(s)]),
);

// The handlers are installed only while a temporary file exists: a process with none keeps Node's
// default reaction to the signals.
function install(): void {
  for (const [signal, handler] of handlers) process.on(signal, handler);
  process.on('exit', removeLive);
}

function uninstall(): void {
  for (const [signal, handler] of handlers) process.off(signal, handler);
  process.off('exit', removeLive);
}

/**
 * Records a temporary file (or staging folder) so that SIGINT, SIGTERM or process exit removes it
 * (then exits 130 or 143 on a signal). Returns the function that forgets it again, once it was
 * renamed or removed.
 */
export function trackTempFile(file: string): () => void {
  if (live.size === 0) install();
  live.add(file);
  return () => {
    if (live.delete(file) && live.size === 0) uninstall();
  };
}

/** Temporary files alive now (for tests). */
export function liveTempFiles(): readonly string[] {
  return [...live];
}
