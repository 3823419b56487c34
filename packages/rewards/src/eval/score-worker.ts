import { parentPort, workerData } from 'node:worker_threads';
import { compileBusinessReward } from '../business-reward.js';
import type { MetricsConfig } from '../config.js';
import { metricRegistry } from '../session-metrics.js';
import type { ByteRange } from './line-reader.js';
import { type LineReader, scoreRange } from './score-range.js';

/** What scoreFile hands a worker: one range of the log and how to score it. */
export interface ScoreWorkerInput {
  readonly file: string;
  readonly range: ByteRange;
  readonly config: MetricsConfig;
  readonly metrics: readonly string[];
  readonly skipInvalid: boolean;
  readonly keepIds: boolean;
  readonly reader: LineReader;
}

// A worker thread of `scoreFile` with `workers > 1`: scores its range and posts the table's arrays
// back (transferred, not copied).
const input = workerData as ScoreWorkerInput;
const metrics = input.metrics.map((name) => metricRegistry.get(name));
const ctx = { config: input.config, business: compileBusinessReward(input.config.gre) };
const r = await scoreRange(input.file, input.range, metrics, ctx, {
  skipInvalid: input.skipInvalid,
  keepIds: input.keepIds,
  reader: input.reader,
});
const n = r.table.rows * r.table.width;
const num = r.table.num.slice(0, n);
const den = r.table.den.slice(0, n);
const group = r.table.group.slice(0, r.table.rows);
parentPort!.postMessage(
  { rows: r.table.rows, num, den, group, ids: r.ids, lines: r.lines, invalid: r.invalid, issues: r.issues },
  [num.buffer, den.buffer, group.buffer],
);
