import * as path from 'node:path';
import { UsageError, writeFileAtomic } from '@gopo/core';
import type { KeyOrder, RetailData, RetailTask } from './data.js';
import { replayGoldActions } from './reward.js';

/** Parses "0,5,10-20" into task indices; every index must be below `count`. */
export function parseTaskIds(spec: string, count: number): Set<number> {
  const out = new Set<number>();
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new UsageError(`--task-ids: "${part}" is not an index or a range a-b`);
    const lo = Number(m[1]);
    const hi = Number(m[2] ?? m[1]);
    if (hi < lo || hi >= count) throw new UsageError(`--task-ids: ${part} is outside 0-${count - 1}`);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/** task-007.json: the index zero-padded to at least 3 digits (more when there are 1,000+ tasks). */
export const replayFileName = (index: number, count: number) =>
  `task-${String(index).padStart(Math.max(3, String(Math.max(0, count - 1)).length), '0')}.json`;

export interface ReplaySummary {
  readonly files: readonly string[];
  /** Gold actions run, and how many returned an error (the database stays as it was for those). */
  readonly actions: number;
  readonly failedActions: number;
}

/**
 * Replays each task's gold actions on a fresh copy of the database and writes the final database
 * ({users, orders, products}) as <outDir>/task-NNN.json, for a field-by-field comparison with
 * upstream tau-bench.
 */
export async function writeGoldReplays(
  data: RetailData,
  tasks: readonly RetailTask[],
  outDir: string,
  opts: { readonly keyOrder?: KeyOrder; readonly only?: ReadonlySet<number> } = {},
): Promise<ReplaySummary> {
  const files: string[] = [];
  let actions = 0;
  let failed = 0;
  for (const [i, task] of tasks.entries()) {
    if (opts.only && !opts.only.has(i)) continue;
    const db = replayGoldActions(data, task, opts.keyOrder, (out) => {
      actions++;
      if (out.startsWith('Error') || out.startsWith('Unknown action')) failed++;
    });
    const file = path.join(outDir, replayFileName(i, tasks.length));
    await writeFileAtomic(file, JSON.stringify(db.snapshot()));
    files.push(file);
  }
  return { files, actions, failedActions: failed };
}
