import { existsSync, promises as fs, lstatSync, readdirSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from './atomic-file.js';
import { RunDirError, UsageError } from './errors.js';
import { appendJsonl } from './jsonl.js';
import { acquireLock, type Lock } from './lock-file.js';
import { describeKind, ensureDir, isInside } from './paths.js';

/** The file that marks a folder as a run folder; only such a folder is ever overwritten. */
export const RUN_MARKER = '.gopo-run.json';

/** The lock file of a run folder while a process writes it (lock-file.ts). */
export const RUN_LOCK = '.gopo-run.lock';

const RUN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The rule a run name follows, in words (error messages and docs quote it). */
export const RUN_NAME_RULE =
  'one plain folder name: letters, digits, "_", "-" and "." (not first; so no ".", ".." or hidden names), at most 128 characters';

/** A run name: one path segment, never `.`, `..`, hidden, or with a separator. */
export const RunNameSchema = z
  .string()
  .regex(RUN_NAME, `a run name is ${RUN_NAME_RULE}`)
  .describe(`run folder name (${RUN_NAME_RULE})`);

/** Throws a UsageError unless `name` follows RUN_NAME_RULE. */
export function checkRunName(name: string): void {
  if (!RUN_NAME.test(name))
    throw new UsageError(`run name ${JSON.stringify(name)}: a run name is ${RUN_NAME_RULE}`);
}

/** One field of a run's config that differs from the config the run was started with. */
export interface ConfigChange {
  /** Dotted path of the field (`sft.lr`). */
  readonly path: string;
  readonly before: unknown;
  readonly after: unknown;
}

/** Where a run's files are: <parent>/<name>/ with config.json, metrics.jsonl and checkpoints/. */
export interface RunPaths {
  readonly root: string;
  readonly name: string;
  readonly configFile: string;
  readonly metricsFile: string;
  readonly checkpointsDir: string;
}

/**
 * The paths of run `name` under `parent` (default `runs`), without touching the disk: for checks a
 * caller makes before createRunDir (a resumable checkpoint, say). The name is checked.
 */
export function runPaths(name: string, parent = 'runs'): RunPaths {
  checkRunName(name);
  const root = path.join(path.resolve(parent), name);
  return {
    root,
    name,
    configFile: path.join(root, 'config.json'),
    metricsFile: path.join(root, 'metrics.jsonl'),
    checkpointsDir: path.join(root, 'checkpoints'),
  };
}

/** A run's folder: runs/<name>/ with config.json, metrics.jsonl and checkpoints/. */
export interface RunDir extends RunPaths {
  /** True when the folder already held a run (its metrics and checkpoints are kept for resuming). */
  readonly resumed: boolean;
  /** Fields of a resumed run's config that changed (accepted with allowConfigChange). */
  readonly configChanges: readonly ConfigChange[];
  /** Appends one metrics record (step plus `namespace/name` keys) to metrics.jsonl. */
  logMetrics(step: number, metrics: Readonly<Record<string, number>>): Promise<void>;
  /** Path of a file inside the run folder. */
  file(...parts: string[]): string;
  /** Gives up the folder's lock before the process exits (idempotent; no-op without one). */
  release(): void;
}

export interface RunDirOptions {
  /** Parent folder; default `runs` in the working directory. */
  readonly parent?: string;
  /** Keep an existing run's files (resume). Without it an existing run folder is an error. */
  readonly resume?: boolean;
  /** Replace an existing run folder (only a run folder: one with RUN_MARKER). */
  readonly overwrite?: boolean;
  /**
   * Resume even when the config differs from the one the run was started with; the changes are
   * recorded in config-changes.jsonl. Without it such a resume is refused, naming the changes.
   */
  readonly allowConfigChange?: boolean;
  /** Files the run reads: overwrite refuses to delete a folder that holds one of them. */
  readonly inputs?: readonly string[];
  /**
   * Dotted config paths that say how to run, not what to compute (`sft.threads`): a resume with
   * them changed is accepted without allowConfigChange, and the change is still recorded.
   */
  readonly executionOnly?: readonly string[];
  /**
   * Hold the folder's lock (RUN_LOCK) until the process exits or release(), so a second process
   * cannot write the same run at the same time (default true). An experiment leaves it off for its
   * root and locks each method/seed instead, so disjoint `--only` invocations can run side by side.
   */
  readonly lock?: boolean;
}

/** Differences between two JSON values, by dotted path (arrays compare as whole values). */
export function diffConfig(before: unknown, after: unknown, prefix = ''): ConfigChange[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffConfig(before[k], after[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(before) === JSON.stringify(after)
    ? []
    : [{ path: prefix || '(root)', before, after }];
}

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

/** `lr 0.0002 -> 0.001, maxSteps (unset) -> 20` */
export function formatConfigChanges(changes: readonly ConfigChange[]): string {
  return changes.map((c) => `${c.path} ${show(c.before)} -> ${show(c.after)}`).join(', ');
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}

/** A folder some createRunDir made: it has the marker, or (runs from before the marker) config.json and checkpoints/. */
function isRunFolder(root: string, entries: readonly string[]): boolean {
  if (entries.includes(RUN_MARKER)) return true;
  return (
    entries.includes('config.json') && lstatOrNull(path.join(root, 'checkpoints'))?.isDirectory() === true
  );
}

async function readJsonOrUndefined(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Creates (or reopens for resume) a run folder and writes the resolved config into it. The name is
 * one plain folder name (RUN_NAME_RULE), so the folder is always a direct child of the parent.
 * Nothing is deleted unless it is a run folder (RUN_MARKER) that holds none of `inputs`, and
 * `overwrite` is set; a folder that holds other files is never touched.
 */
export async function createRunDir(
  name: string,
  resolvedConfig: unknown,
  options: RunDirOptions = {},
): Promise<RunDir> {
  const paths = runPaths(name, options.parent);
  const { root, checkpointsDir, configFile, metricsFile } = paths;
  const st = lstatOrNull(root);
  if (st && !st.isDirectory())
    throw new RunDirError(root, `is ${describeKind(st)}, not a folder; nothing was changed`);
  const entries = st ? readdirSync(root) : [];
  let existed = entries.length > 0;
  const lockFile = path.join(root, RUN_LOCK);
  const what = `run folder ${root}`;
  let lock: Lock | undefined;
  if (existed) {
    if (!isRunFolder(root, entries))
      throw new RunDirError(
        root,
        `holds files but is not a run folder (no ${RUN_MARKER}); nothing was changed: choose another run name or folder`,
      );
    if (!options.resume && !options.overwrite)
      throw new RunDirError(root, 'already holds a run; resume it or overwrite it');
    // Before anything changes: a run another process is writing is neither resumed nor deleted.
    if (options.lock !== false) lock = acquireLock(lockFile, what);
    if (options.overwrite) {
      const input = options.inputs?.find((f) => isInside(f, root));
      if (input !== undefined)
        throw new RunDirError(
          root,
          `holds the input ${input}; overwriting would delete it. Nothing was changed`,
        );
      lock?.release();
      await fs.rm(root, { recursive: true });
      existed = false;
    }
  }
  ensureDir(checkpointsDir);
  if (options.lock !== false && !existed) lock = acquireLock(lockFile, what);
  const config = JSON.parse(JSON.stringify(resolvedConfig ?? null)) as unknown;
  let configChanges: ConfigChange[] = [];
  if (existed && existsSync(configFile)) {
    configChanges = diffConfig(await readJsonOrUndefined(configFile), config);
    const blocking = configChanges.filter((c) => !options.executionOnly?.includes(c.path));
    if (blocking.length > 0 && !options.allowConfigChange) {
      lock?.release();
      throw new RunDirError(
        root,
        `was started with a different config (${formatConfigChanges(blocking)}); resume with --allow-config-change to accept the changes, or overwrite`,
      );
    }
    if (configChanges.length > 0)
      await appendJsonl(path.join(root, 'config-changes.jsonl'), {
        time: new Date().toISOString(),
        changes: configChanges,
      });
  }
  if (!existsSync(path.join(root, RUN_MARKER)))
    await writeJsonAtomic(path.join(root, RUN_MARKER), { name, created: new Date().toISOString() });
  await writeJsonAtomic(configFile, config);
  return {
    ...paths,
    resumed: existed,
    configChanges,
    logMetrics: (step, metrics) =>
      appendJsonl(metricsFile, { step, time: new Date().toISOString(), ...metrics }),
    file: (...parts) => path.join(root, ...parts),
    release: () => lock?.release(),
  };
}
