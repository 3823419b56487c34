/**
 * What the experiment scripts share: their command line (--seeds, --eval-scenarios, --runs-dir,
 * --smoke) and how they leave their results (results.json and results.md, written atomically).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic, writeJsonAtomic } from '@gopo/core';

/** The options every experiment takes. */
export interface ExperimentOptions {
  readonly seeds: readonly number[];
  /** Held-out scenarios per seed. */
  readonly evalScenarios: number;
  readonly runsDir: string;
  /** A tiny budget (the smoke tests). */
  readonly smoke: boolean;
  readonly quiet?: boolean;
}

/** True when `moduleUrl` (import.meta.url) is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] === fileURLToPath(moduleUrl);
}

export function experimentArgs(defaults: { evalScenarios: number; runsDir: string }): ExperimentOptions {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  return {
    seeds: (arg('seeds') ?? '1,2,3').split(',').map(Number),
    evalScenarios: Number(arg('eval-scenarios') ?? defaults.evalScenarios),
    runsDir: arg('runs-dir') ?? defaults.runsDir,
    smoke: process.argv.includes('--smoke'),
  };
}

/** Writes <dir>/results.json (`data` with the wall time) and <dir>/results.md (the table, a caption). */
export async function writeResults(
  dir: string,
  table: string,
  caption: string,
  wallSeconds: number,
  data: Record<string, unknown>,
): Promise<void> {
  await writeJsonAtomic(path.join(dir, 'results.json'), { ...data, wallSeconds });
  await writeFileAtomic(
    path.join(dir, 'results.md'),
    `${table}\n\n${caption}; wall time ${wallSeconds.toFixed(0)} s.\n`,
  );
}

export function printResults(r: { table: string; wallSeconds: number }): void {
  console.log(r.table);
  console.log(`wall time ${r.wallSeconds.toFixed(0)} s`);
}
