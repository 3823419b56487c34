/**
 * Throughput of `gopo eval`: sessions scored per second through (1) the score-only path over
 * validated sessions in memory, (2) JSON.parse + schema validation (+ scoring) of in-memory lines,
 * (3) the full streaming path from a JSONL file on disk (scoreFile: read, split, parse, validate,
 * score into the table), for two session profiles (verbose texts and "ok" texts, same structure), and
 * the time the bootstrap takes on the table. Target: at least 100,000 sessions/s on one core.
 *
 *   pnpm --filter @gopo/rewards bench [-- --sessions 200000 --resamples 1000]
 */

import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseJsonlLine, Rng, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { type Session, SessionSchema } from '@gopo/dialogue';
import {
  bootstrapTable,
  defaultMetricsConfig,
  ScoreTable,
  scoreFile,
  scoreSessions,
  scoringContext,
  selectMetrics,
} from '../src/index.js';
import { syntheticSession } from './synthetic.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

// Child mode: stream one file through scoreFile in a fresh process, so its peak RSS is the
// streaming path's own (the parent holds in-memory copies for the other measurements).
const streamOnly = process.argv.indexOf('--stream-only');
if (streamOnly >= 0) {
  const cfg = defaultMetricsConfig();
  const t0 = process.hrtime.bigint();
  const scored = await scoreFile(process.argv[streamOnly + 1]!, selectMetrics(cfg), scoringContext(cfg));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(
    JSON.stringify({
      seconds: secs,
      rows: scored.table.rows,
      tableMB: scored.table.bytes() / 2 ** 20,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
    }),
  );
  process.exit(0);
}

const N = arg('sessions', 200_000);
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
  const [, tScore] = seconds(() => scoreSessions(sessions, metrics, ctx));
  const [, tJson] = seconds(() => {
    for (const l of lines) JSON.parse(l);
  });
  const [, tParse] = seconds(() => {
    for (let i = 0; i < lines.length; i++) parseJsonlLine(lines[i]!, i + 1, SessionSchema);
  });
  const [, tAll] = seconds(() => {
    const valid: Session[] = [];
    for (let i = 0; i < lines.length; i++) {
      const p = parseJsonlLine(lines[i]!, i + 1, SessionSchema);
      if (p.ok) valid.push(p.value);
    }
    return scoreSessions(valid, metrics, ctx);
  });
  const child = JSON.parse(
    execFileSync(process.execPath, [...process.execArgv, import.meta.filename, '--stream-only', file], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    }),
  ) as { seconds: number; rows: number; tableMB: number; maxRssMB: number };
  const tFile = child.seconds;
  rmSync(file);
  const scored = scoreSessions(sessions, metrics, ctx);
  return {
    profile: name,
    sessions: N,
    meanLineBytes: bytes / N,
    sessionsPerSecond: {
      scoreOnly: inMemory / tScore,
      jsonParseOnly: inMemory / tJson,
      parseAndValidate: inMemory / tParse,
      parseValidateScore: inMemory / tAll,
      streamingFile: N / tFile,
    },
    streamingMBPerSecond: bytes / 2 ** 20 / tFile,
    streamingTableMB: child.tableMB,
    streamingMaxRssMB: child.maxRssMB,
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
  },
};

const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(10);
const rows = [
  ['score only (validated, in memory)', 'scoreOnly'],
  ['JSON.parse only', 'jsonParseOnly'],
  ['JSON.parse + validate', 'parseAndValidate'],
  ['parse + validate + score (in memory)', 'parseValidateScore'],
  ['streaming file (scoreFile)', 'streamingFile'],
] as const;
const table = [
  `gopo eval throughput, sessions/s on one core (${N.toLocaleString('en-US')} synthetic sessions, ${metrics.length} metrics, node ${process.version}, load average ${results.loadAverage.toFixed(1)})`,
  '',
  `path                                   verbose (${verbose.meanLineBytes.toFixed(0)} B/line)  compact (${compact.meanLineBytes.toFixed(0)} B/line)`,
  ...rows.map(
    ([label, key]) =>
      `${label.padEnd(38)} ${fmt(verbose.sessionsPerSecond[key])}            ${fmt(compact.sessionsPerSecond[key])}`,
  ),
  '',
  `streaming ${N.toLocaleString('en-US')} sessions: score table ${compact.streamingTableMB.toFixed(1)} MB, peak RSS ${verbose.streamingMaxRssMB.toFixed(0)} MB (verbose) / ${compact.streamingMaxRssMB.toFixed(0)} MB (compact)`,
  `bootstrap, ${RESAMPLES} resamples of ${bootRows.toLocaleString('en-US')} sessions: ${tBoot.toFixed(2)} s`,
  `target 100,000 sessions/s: score only ${results.target.scoreOnlyMet ? 'met' : 'NOT met'}, full streaming path ${results.target.streamingMet ? 'met' : 'NOT met'}`,
].join('\n');

const outDir = path.join(import.meta.dirname, '..', 'bench-results');
await writeJsonAtomic(path.join(outDir, 'eval.json'), results);
await writeFileAtomic(path.join(outDir, 'eval.txt'), `${table}\n`);
console.log(table);
