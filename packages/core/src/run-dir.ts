import { existsSync, promises as fs, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from './atomic-file.js';
import { appendJsonl } from './jsonl.js';

/** A run's folder: runs/<name>/ with config.json, metrics.jsonl and checkpoints/. */
export interface RunDir {
  readonly root: string;
  readonly name: string;
  readonly configFile: string;
  readonly metricsFile: string;
  readonly checkpointsDir: string;
  /** True when the folder already held a run (its metrics and checkpoints are kept for resuming). */
  readonly resumed: boolean;
  /** Appends one metrics record (step plus `namespace/name` keys) to metrics.jsonl. */
  logMetrics(step: number, metrics: Readonly<Record<string, number>>): Promise<void>;
  /** Path of a file inside the run folder. */
  file(...parts: string[]): string;
}

export interface RunDirOptions {
  /** Parent folder; default `runs` in the working directory. */
  readonly parent?: string;
  /** Keep an existing run's files (resume). Without it an existing non-empty folder is an error. */
  readonly resume?: boolean;
  /** Replace an existing run folder. */
  readonly overwrite?: boolean;
}

/** Creates (or reopens for resume) a run folder and writes the resolved config into it. */
export async function createRunDir(
  name: string,
  resolvedConfig: unknown,
  options: RunDirOptions = {},
): Promise<RunDir> {
  if (!/^[\w.-]+$/.test(name))
    throw new Error(`run name "${name}" may hold only letters, digits, '.', '_' and '-'`);
  const root = path.resolve(options.parent ?? 'runs', name);
  const metricsFile = path.join(root, 'metrics.jsonl');
  const existed = existsSync(root) && (await fs.readdir(root)).length > 0;
  if (existed && !options.resume && !options.overwrite) {
    throw new Error(`run folder ${root} already exists; pass resume or overwrite`);
  }
  if (existed && options.overwrite) await fs.rm(root, { recursive: true, force: true });
  const checkpointsDir = path.join(root, 'checkpoints');
  mkdirSync(checkpointsDir, { recursive: true });
  await writeJsonAtomic(path.join(root, 'config.json'), resolvedConfig);
  return {
    root,
    name,
    configFile: path.join(root, 'config.json'),
    metricsFile,
    checkpointsDir,
    resumed: existed && Boolean(options.resume),
    logMetrics: (step, metrics) =>
      appendJsonl(metricsFile, { step, time: new Date().toISOString(), ...metrics }),
    file: (...parts) => path.join(root, ...parts),
  };
}
