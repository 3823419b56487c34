/**
 * Throughput of `gopo eval`, sessions scored per second on one core, for two session profiles
 * (verbose texts and "ok" texts, same structure), each path timed in the same run:
 *   - score only: validated sessions in memory, 13 metrics (before: fresh view per session, mathjs
 *     business reward; now: one reused view, the business reward as a closure);
 *   - JSON.parse only, and JSON.parse + validation by SessionSchema (zod) vs safeParseSession;
 *   - the full streaming path from a JSONL file on disk, each in a fresh process for its peak RSS:
 *     the old loop (bench/legacy.ts: per-line generator, zod, mathjs), scoreFile with the JSON.parse
 *     reader, and scoreFile now (the WebAssembly scanner), the score tables checked bit-identical;
 * and the time the bootstrap takes on the table. Target: at least 100,000 sessions/s on one core.
 *
 * The streaming path is also timed with `--workers` threads (multi-core; same table, checked).
 *
 * Each path runs --repeats times, interleaved with the others, and its best time is reported.
 *
 *   pnpm --filter @gopo/rewards bench [-- --sessions 200000 --resamples 1000 --workers 4 --repeats 3]
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseJsonlLine, Rng, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { GOAL_TYPES, type Session, SessionSchema, safeParseSession } from '@gopo/dialogue';
import {
  bootstrapTable,
  defaultMetricsConfig,
  ScoreTable,
  scoreFile,
  scoreSessions,
  scoringContext,
  selectMetrics,
} from '../src/index.js';
import { legacyScoreFile, legacyScoreSessions } from './legacy.js';
import { syntheticSession } from './synthetic.js';

const GOAL_INDEX = new Map<string, number>(GOAL_TYPES.map((g, i) => [g, i]));
const groupOf = (s: Session) => GOAL_INDEX.get(s.goal.type)!;

/** A digest of a table's rows, to check that two paths scored every session identically. */
function digest(t: ScoreTable): string {
  const n = t.rows * t.width;
  return createHash('sha256')
    .update(new Uint8Array(t.num.buffer, 0, n * 8))
    .update(new Uint8Array(t.den.buffer, 0, n * 4))
    .update(t.group.subarray(0, t.rows))
    .digest('hex');
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

// Child mode: stream one file in a fresh process, so its peak RSS is the streaming path's own (the
// parent holds in-memory copies for the other measurements).
const streamOnly = process.argv.indexOf('--stream-only');
if (streamOnly >= 0) {
  const file = process.argv[streamOnly + 1]!;
  const mode = process.argv[streamOnly + 2]!;
  const legacy = mode === 'legacy';
  const workers = mode.startsWith('workers=') ? Number(mode.slice('workers='.length)) : 1;
  const reader = mode === 'json' ? 'json' : 'wasm';
  const cfg = defaultMetricsConfig();
  const m = selectMetrics(cfg);
  const t0 = process.hrtime.bigint();
  const table = legacy
    ? await legacyScoreFile(file, m, scoringContext(cfg), groupOf)
    : (await scoreFile(file, m, scoringContext(cfg), { workers, reader })).table;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(
    JSON.stringify({
      seconds: secs,
      rows: table.rows,
      digest: digest(table),
      tableMB: table.bytes() / 2 ** 20,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
    }),
  );
  process.exit(0);
}

const N = arg('sessions', 200_000);
const REPEATS = arg('repeats', 3);
const WORKERS = arg('workers', Math.min(4, availableParallelism()));
const RESAMPLES = arg('resamples', 1000);
const config = defaultMetricsConfig();
const metrics = selectMetrics(config);
const ctx = scoringContext(config);
const dir = mkdtempSync(path.join(tmpdir(), 'gopo-bench-'));

const seconds = <T>(f: () => T): [T, number] => {
  const t0 = process.hrtime.bigint();
  const r = f();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
};

async function profile(name: 'verbose' | 'compact') {
  const rng = Rng.fromSeed(42, `bench/${name}`);
  const file = path.join(dir, `${name}.jsonl`);
  // A plain stream: the bench file is scratch, so it needs no atomic rename.
  const stream = createWriteStream(file);
  const lines: string[] = [];
  const inMemory = Math.min(N, 100_000);
  for (let i = 0; i < N; i++) {
    const line = JSON.stringify(syntheticSession(rng, i, name === 'compact'));
    if (i < inMemory) lines.push(line);
    if (!stream.write(`${line}\n`)) await once(stream, 'drain');
  }
  stream.end();
  await once(stream, 'finish');
  const bytes = statSync(file).size;

  const sessions: Session[] = lines.map((l) => SessionSchema.parse(JSON.parse(l)));
  scoreSessions(sessions.slice(0, 5000), metrics, ctx); // warm-up
  legacyScoreSessions(sessions.slice(0, 5000), metrics, ctx, groupOf);
  const [legacyScored] = seconds(() => legacyScoreSessions(sessions, metrics, ctx, groupOf));
  const scored = scoreSessions(sessions, metrics, ctx);
  if (digest(scored) !== digest(legacyScored)) throw new Error('score-only paths disagree');
  // Other jobs share the machine: every path runs REPEATS times, interleaved with the others, and
  // its best time counts.
  const inMemoryPaths: Record<string, () => unknown> = {
    scoreOnlyBefore: () => legacyScoreSessions(sessions, metrics, ctx, groupOf),
    scoreOnly: () => scoreSessions(sessions, metrics, ctx),
    jsonParseOnly: () => {
      for (const l of lines) JSON.parse(l);
    },
    parseAndZod: () => {
      for (let i = 0; i < lines.length; i++) parseJsonlLine(lines[i]!, i + 1, SessionSchema);
    },
    parseAndFastValidate: () => {
      for (let i = 0; i < lines.length; i++) safeParseSession(JSON.parse(lines[i]!));
    },
  };
  const best: Record<string, number> = {};
  for (let r = 0; r < REPEATS; r++)
    for (const [key, f] of Object.entries(inMemoryPaths))
      best[key] = Math.min(best[key] ?? Number.POSITIVE_INFINITY, seconds(f)[1]);
  type Streamed = { seconds: number; rows: number; digest: string; tableMB: number; maxRssMB: number };
  const streamFile = (mode: string) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        [...process.execArgv, import.meta.filename, '--stream-only', file, mode],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        },
      ),
    ) as Streamed;
  const runs: Record<'legacy' | 'json' | 'fast' | 'parallel', Streamed[]> = {
    legacy: [],
    json: [],
    fast: [],
    parallel: [],
  };
  for (let r = 0; r < REPEATS; r++) {
    runs.legacy.push(streamFile('legacy'));
    runs.json.push(streamFile('json'));
    runs.fast.push(streamFile('fast'));
    runs.parallel.push(streamFile(`workers=${WORKERS}`));
  }
  const all = [...runs.legacy, ...runs.json, ...runs.fast, ...runs.parallel];
  if (all.some((x) => x.digest !== all[0]!.digest || x.rows !== N))
    throw new Error('streaming paths disagree: different row counts or values');
  const fastest = (xs: Streamed[]) => xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const legacy = fastest(runs.legacy);
  const json = fastest(runs.json);
  const fast = fastest(runs.fast);
  const parallel = fastest(runs.parallel);
  const tScoreLegacy = best.scoreOnlyBefore!;
  const tScore = best.scoreOnly!;
  const tJson = best.jsonParseOnly!;
  const tZod = best.parseAndZod!;
  const tFast = best.parseAndFastValidate!;
  rmSync(file);
  return {
    profile: name,
    sessions: N,
    inMemorySessions: inMemory,
    meanLineBytes: bytes / N,
    sessionsPerSecond: {
      scoreOnlyBefore: inMemory / tScoreLegacy,
      scoreOnly: inMemory / tScore,
      jsonParseOnly: inMemory / tJson,
      parseAndZod: inMemory / tZod,
      parseAndFastValidate: inMemory / tFast,
      streamingBefore: N / legacy.seconds,
      streamingJsonReader: N / json.seconds,
      streamingFile: N / fast.seconds,
      streamingWorkers: N / parallel.seconds,
    },
    streamingSpeedup: legacy.seconds / fast.seconds,
    scannerSpeedup: json.seconds / fast.seconds,
    streamingMBPerSecond: bytes / 2 ** 20 / fast.seconds,
    streamingTableMB: fast.tableMB,
    streamingMaxRssMB: Math.max(...runs.fast.map((x) => x.maxRssMB)),
    streamingMaxRssMBBefore: Math.max(...runs.legacy.map((x) => x.maxRssMB)),
    scored,
  };
}

const verbose = await profile('verbose');
const compact = await profile('compact');
// The bootstrap's cost depends only on the table's size: tile the scored rows up to N sessions.
const src = compact.scored;
const big = new ScoreTable(src.width, N);
for (let i = 0; i < N; i++) {
  const o = big.addRow(src.group[i % src.rows]!);
  const from = (i % src.rows) * src.width;
  big.num.set(src.num.subarray(from, from + src.width), o);
  big.den.set(src.den.subarray(from, from + src.width), o);
}
const bootRows = big.rows;
const [, tBoot] = seconds(() =>
  bootstrapTable(big, 5, { resamples: RESAMPLES, confidence: 0.95, rng: Rng.fromSeed(1) }),
);
rmSync(dir, { recursive: true, force: true });
const strip = ({ scored: _s, ...rest }: typeof verbose) => rest;
const results = {
  node: process.version,
  repeats: REPEATS,
  cpus: availableParallelism(),
  workers: WORKERS,
  metrics: metrics.length,
  profiles: [strip(verbose), strip(compact)],
  bootstrap: {
    sessions: N,
    resamples: RESAMPLES,
    seconds: tBoot,
    sessionResamplesPerSecond: (bootRows * RESAMPLES) / tBoot,
  },
  loadAverage: loadavg()[0] ?? 0,
  target: {
    sessionsPerSecond: 100_000,
    scoreOnlyMet:
      Math.min(verbose.sessionsPerSecond.scoreOnly, compact.sessionsPerSecond.scoreOnly) >= 100_000,
    streamingMet:
      Math.min(verbose.sessionsPerSecond.streamingFile, compact.sessionsPerSecond.streamingFile) >= 100_000,
    jsonParseAloneMet:
      Math.min(verbose.sessionsPerSecond.jsonParseOnly, compact.sessionsPerSecond.jsonParseOnly) >= 100_000,
  },
};

const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(10);
const rows = [
  ['score only, before (fresh views, mathjs GRE)', 'scoreOnlyBefore'],
  ['score only, now', 'scoreOnly'],
  ['JSON.parse only', 'jsonParseOnly'],
  ['JSON.parse + SessionSchema (zod)', 'parseAndZod'],
  ['JSON.parse + safeParseSession', 'parseAndFastValidate'],
  ['streaming file, before (zod path)', 'streamingBefore'],
  ['streaming file, JSON.parse reader', 'streamingJsonReader'],
  ['streaming file, now (wasm scanner)', 'streamingFile'],
  [`streaming file, now, --workers ${WORKERS}`, 'streamingWorkers'],
] as const;
const table = [
  `gopo eval throughput, sessions/s on one core except the --workers row (best of ${REPEATS} interleaved runs; ${N.toLocaleString('en-US')} synthetic sessions streamed, ${verbose.inMemorySessions.toLocaleString('en-US')} for the in-memory rows; ${metrics.length} metrics, node ${process.version}, ${results.cpus} cores, load average ${results.loadAverage.toFixed(1)})`,
  '',
  `path                                          verbose (${verbose.meanLineBytes.toFixed(0)} B/line)  compact (${compact.meanLineBytes.toFixed(0)} B/line)`,
  ...rows.map(
    ([label, key]) =>
      `${label.padEnd(45)} ${fmt(verbose.sessionsPerSecond[key])}            ${fmt(compact.sessionsPerSecond[key])}`,
  ),
  `${'streaming speed-up, now / before'.padEnd(45)} ${verbose.streamingSpeedup.toFixed(2).padStart(9)}x            ${compact.streamingSpeedup.toFixed(2).padStart(9)}x`,
  `${'streaming speed-up, scanner / JSON.parse'.padEnd(45)} ${verbose.scannerSpeedup.toFixed(2).padStart(9)}x            ${compact.scannerSpeedup.toFixed(2).padStart(9)}x`,
  '',
  `streaming ${N.toLocaleString('en-US')} sessions: score table ${compact.streamingTableMB.toFixed(1)} MB, peak RSS now ${verbose.streamingMaxRssMB.toFixed(0)} MB (verbose) / ${compact.streamingMaxRssMB.toFixed(0)} MB (compact), before ${verbose.streamingMaxRssMBBefore.toFixed(0)} / ${compact.streamingMaxRssMBBefore.toFixed(0)} MB`,
  `bootstrap, ${RESAMPLES} resamples of ${bootRows.toLocaleString('en-US')} sessions: ${tBoot.toFixed(2)} s`,
  `target 100,000 sessions/s: score only ${results.target.scoreOnlyMet ? 'met' : 'NOT met'}, full streaming path ${results.target.streamingMet ? 'met' : 'NOT met'}; JSON.parse alone ${results.target.jsonParseAloneMet ? 'reaches' : 'does NOT reach'} it`,
].join('\n');

const outDir = path.join(import.meta.dirname, '..', 'bench-results');
await writeJsonAtomic(path.join(outDir, 'eval.json'), results);
await writeFileAtomic(path.join(outDir, 'eval.txt'), `${table}\n`);
console.log(table);
