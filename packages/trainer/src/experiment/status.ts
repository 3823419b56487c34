/**
 * `gopo experiment --status`: where a long experiment stands without running anything, per method
 * and seed: done (its held-out TSE and wall time), stale (run with other settings), running (the
 * process that holds it), started (the phases its run folder has checkpointed), or pending.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { inspectLock } from '@gopo/core';
import { match } from 'ts-pattern';
import { checkpointedPhases } from '../checkpoints.js';
import { type ExperimentConfig, methodLabel } from './config.js';
import { MethodSeedResultSchema, resultChanges } from './run.js';

export type MethodSeedState =
  | { readonly kind: 'done'; readonly tse: number | null; readonly wallSeconds: number }
  | { readonly kind: 'stale'; readonly changes: string }
  | {
      readonly kind: 'running';
      readonly pid: number | null;
      readonly host: string | null;
      readonly since: string | null;
      readonly phases: number;
    }
  | { readonly kind: 'started'; readonly phases: number }
  | { readonly kind: 'pending' };

export interface MethodSeedStatus {
  readonly method: string;
  readonly label: string;
  readonly seed: number;
  readonly state: MethodSeedState;
}

export async function experimentStatus(e: ExperimentConfig, root: string): Promise<MethodSeedStatus[]> {
  const pairs = e.methods.flatMap((m) => e.seeds.map((seed) => ({ m, seed })));
  return Promise.all(
    pairs.map(async ({ m, seed }): Promise<MethodSeedStatus> => {
      const results = path.join(root, 'results', m.id);
      const file = path.join(results, `seed-${seed}.json`);
      const base = { method: m.id, label: methodLabel(m), seed };
      if (existsSync(file)) {
        const parsed = MethodSeedResultSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
        if (!parsed.success) return { ...base, state: { kind: 'stale', changes: 'not a method result' } };
        const changed = resultChanges(parsed.data, e, m);
        if (changed.length > 0)
          return { ...base, state: { kind: 'stale', changes: changed.map((c) => c.path).join(', ') } };
        return {
          ...base,
          state: { kind: 'done', tse: parsed.data.values.tse ?? null, wallSeconds: parsed.data.wallSeconds },
        };
      }
      const lock = inspectLock(path.join(results, `seed-${seed}.lock`));
      const phases = await checkpointedPhases(
        path.join(root, 'methods', m.id, `seed-${seed}`, 'checkpoints'),
      );
      if (lock.state === 'held')
        return {
          ...base,
          state: {
            kind: 'running',
            pid: lock.owner?.pid ?? null,
            host: lock.owner?.host ?? null,
            since: lock.owner?.started ?? null,
            phases,
          },
        };
      return { ...base, state: phases > 0 ? { kind: 'started', phases } : { kind: 'pending' } };
    }),
  );
}

export function formatStatus(rows: readonly MethodSeedStatus[]): string {
  const cell = (s: MethodSeedState) =>
    match(s)
      .with(
        { kind: 'done' },
        (d) => `done: TSE ${d.tse?.toFixed(1) ?? 'n/a'} (${d.wallSeconds.toFixed(0)} s)`,
      )
      .with({ kind: 'stale' }, (d) => `stale: ${d.changes} changed`)
      .with(
        { kind: 'running' },
        (d) =>
          `running: process ${d.pid ?? '?'} on ${d.host ?? '?'} since ${d.since ?? '?'}, ${d.phases} phase(s) checkpointed`,
      )
      .with({ kind: 'started' }, (d) => `started: ${d.phases} phase(s) checkpointed`)
      .with({ kind: 'pending' }, () => 'pending')
      .exhaustive();
  return [
    '| method | seed | state |',
    '| --- | --- | --- |',
    ...rows.map((r) => `| ${r.label} | ${r.seed} | ${cell(r.state)} |`),
  ].join('\n');
}
