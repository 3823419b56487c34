/**
 * Memento retrieval benchmark (issue 20): what one decision of the Memento baseline costs as its case
 * bank grows to 10^3, 10^4 and 10^5 cases, all measured in one run, ORT on one thread:
 *   - embedding a state (tokenizer + feature hashing), per state;
 *   - top-k search (k = 16) for one query and for a batch of 32 (one `decide` over 32 live
 *     dialogues), with the similarities from a loop in JavaScript and from one ONNX MatMul (the
 *     `auto` choice of FlatIndex uses the latter from ORT_MIN_WORK multiply-adds); both must find
 *     equally similar cases, rank by rank (near-ties may swap: the two round differently);
 *   - a whole `MementoPolicy.decide` over 32 states with a fitted scorer (embed, retrieve, score,
 *     choose), per decision;
 *   - writing the bank file and loading it back (loading re-embeds every case).
 * Cases are states of real shop dialogues (history agents, template replies), each filed with a
 * random admissible strategy, turn count and reward, so banks of every size hold distinct texts.
 * Writes bench-results/memento.{json,md}.
 *
 *   pnpm --filter @gopo/trainer bench   (BENCH_MEMENTO_SIZES=1000,10000,100000 to change the sizes)
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import type { AgentState, ScoredSession, SessionRewardFn } from '@gopo/dialogue';
import { historyStrategyPolicy, templateReplyPolicy } from '@gopo/envs';
import { loadDefaultTokenizer } from '@gopo/lm';
import { CaseBank, type MementoCase } from '../src/baselines/memento/case-bank.js';
import { agentCaseState } from '../src/baselines/memento/case-state.js';
import { MementoPolicy } from '../src/baselines/memento/memento-policy.js';
import { StateEmbedder } from '../src/baselines/memento/state-embedding.js';
import { GopoTrainConfigSchema } from '../src/gopo/config.js';
import { shopEnvFactory } from '../src/gopo/run.js';
import { trainingJobs } from '../src/gopo/scenarios.js';
import { InProcessPool } from '../src/rollout/worker-pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, '..', 'bench-results');
const sizes = (process.env.BENCH_MEMENTO_SIZES ?? '1000,10000,100000').split(',').map(Number);
const K = 16;
const BATCH = 32;
const loadBefore = os.loadavg();
const t00 = performance.now();

// --- real shop states ------------------------------------------------------------------------
const makeEnv = shopEnvFactory(GopoTrainConfigSchema.parse({}));
const states: AgentState[] = [];
const pool = new InProcessPool({ strategy: historyStrategyPolicy, reply: templateReplyPolicy }, makeEnv);
await pool.run(trainingJobs(1, 0, 40, 2), { onTurn: (t) => states.push(t.state) });
const strategies = historyStrategyPolicy.strategies;
const tokenizer = await loadDefaultTokenizer();
const embedder = new StateEmbedder(tokenizer);
console.log(`${states.length} decision states from 80 shop episodes`);

/** `n` cases over the real states: the state's own text with a random turn count and last strategy. */
function syntheticCases(n: number, rng: Rng): MementoCase[] {
  return Array.from({ length: n }, (_, i) => {
    const s = states[rng.int(states.length)]!;
    const admissible = s.admissible.flatMap((ok, a) => (ok ? [a] : []));
    const text = agentCaseState(s).replace(
      /agent turns: \d+\nlast strategy: .*$/,
      `agent turns: ${rng.int(12)}\nlast strategy: ${strategies[rng.int(strategies.length)]}`,
    );
    const episode = Math.floor(i / 6);
    return {
      episode: `ep-${episode}`,
      scenario: `sc-${episode % 200}`,
      turn: 2 * (i % 6) + 1,
      state: text,
      mask: [...s.admissible],
      strategy: strategies[admissible[rng.int(admissible.length)]!]!,
      reward: Math.round(((episode * 7919) % 1000) / 10) / 100 - 0.3,
      status: 'success',
    };
  });
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Milliseconds of `fn`, `reps` timed runs after one warm-up: median and best. */
async function time(
  reps: number,
  fn: () => Promise<unknown> | unknown,
): Promise<{ median: number; best: number }> {
  await fn();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return { median: median(ms), best: Math.min(...ms) };
}

const noReward: SessionRewardFn = {
  name: 'none',
  async score(): Promise<ScoredSession[]> {
    return [];
  },
};

const rng = Rng.fromSeed(20, 'bench-memento');
const queryStates = Array.from({ length: BATCH }, () => states[rng.int(states.length)]!);
const queryTexts = queryStates.map(agentCaseState);
const embedTime = await time(5, () => embedder.embedAll(queryTexts));
const queries = embedder.embedAll(queryTexts);
const one = queries.subarray(0, embedder.dim);
const root = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-bench-memento-'));

interface Row {
  cases: number;
  search1: { js: number; ort: number };
  search32: { js: number; ort: number };
  decide32: number;
  saveMs: number;
  loadMs: number;
  sameResults: boolean;
  simGap: number;
}
const rows: Row[] = [];
for (const n of sizes) {
  const bank = new CaseBank(strategies, embedder);
  const tAdd = performance.now();
  bank.add(syntheticCases(n, rng));
  const addMs = performance.now() - tAdd;
  const reps = n >= 100_000 ? 3 : 7;
  const s1js = await time(reps, () => bank.index.searchBatch(one, { k: K, scan: 'js' }));
  const s1ort = await time(reps, () => bank.index.searchBatch(one, { k: K, scan: 'ort' }));
  const sBjs = await time(reps, () => bank.index.searchBatch(queries, { k: K, scan: 'js' }));
  const sBort = await time(reps, () => bank.index.searchBatch(queries, { k: K, scan: 'ort' }));
  const a = await bank.index.searchBatch(queries, { k: K, scan: 'js' });
  const b = await bank.index.searchBatch(queries, { k: K, scan: 'ort' });
  // The two paths round differently (JavaScript sums float32 products in doubles, ORT in float32),
  // so near-ties may swap places: the results agree when their similarities agree rank by rank.
  const simGap = Math.max(
    ...a.flatMap((l, q) =>
      l.map((x, i) => Math.abs(x.similarity - (b[q]![i]?.similarity ?? Number.POSITIVE_INFINITY))),
    ),
  );
  const sameResults = simGap < 1e-5;
  const policy = await MementoPolicy.create({
    base: historyStrategyPolicy,
    reward: noReward,
    bank,
    config: { k: K, scorer: { stepsPerFit: 30, queriesPerFit: 128, threads: 1 } },
  });
  await policy.fitScorer();
  const uniforms = queryStates.map(() => 0.5);
  const decide = await time(reps, () => policy.decide(queryStates, { greedy: true, uniforms }));
  const file = path.join(root, `bank-${n}.jsonl`);
  const save = await time(1, () => bank.save(file));
  const load = await time(1, () => CaseBank.load(file, (h) => new StateEmbedder(tokenizer, h.embedding)));
  rows.push({
    cases: n,
    search1: { js: s1js.median, ort: s1ort.median },
    search32: { js: sBjs.median / BATCH, ort: sBort.median / BATCH },
    decide32: decide.median / BATCH,
    saveMs: save.median,
    loadMs: load.median,
    sameResults,
    simGap,
  });
  console.log(
    `${n} cases (filed in ${addMs.toFixed(0)} ms): search 1 query js ${s1js.median.toFixed(2)} / ort ${s1ort.median.toFixed(2)} ms; ` +
      `batch ${BATCH} js ${(sBjs.median / BATCH).toFixed(3)} / ort ${(sBort.median / BATCH).toFixed(3)} ms per query; ` +
      `decide ${(decide.median / BATCH).toFixed(3)} ms per decision; save ${save.median.toFixed(0)} ms, load ${load.median.toFixed(0)} ms; js and ort similarities agree to ${simGap.toExponential(1)}`,
  );
}
await fs.rm(root, { recursive: true, force: true });

const result = {
  date: new Date().toISOString(),
  machine: {
    cpus: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    loadBefore,
    loadAfter: os.loadavg(),
  },
  settings: { k: K, batch: BATCH, dim: embedder.dim, ortThreads: 1, decisionStates: states.length },
  embedMsPerState: embedTime.median / BATCH,
  rows,
  wallSeconds: (performance.now() - t00) / 1000,
};
const f = (x: number, d = 3) => x.toFixed(d);
const table = [
  `# Memento retrieval cost (${result.date.slice(0, 10)})`,
  '',
  `k = ${K}, embedding dim ${embedder.dim}, ORT 1 thread, ${os.availableParallelism()} cores, load average ${loadBefore.map((x) => x.toFixed(1)).join(' / ')} at the start. ` +
    `Embedding a state: ${f(result.embedMsPerState)} ms. Medians; ms per query (per decision for decide).`,
  '',
  '| cases | 1 query, js | 1 query, ort | batch 32, js | batch 32, ort | decide x32 (auto, scorer) | save (ms) | load (ms) | js = ort |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |',
  ...rows.map(
    (r) =>
      `| ${r.cases.toLocaleString('en-US')} | ${f(r.search1.js)} | ${f(r.search1.ort)} | ${f(r.search32.js)} | ${f(r.search32.ort)} | ${f(r.decide32)} | ${f(r.saveMs, 0)} | ${f(r.loadMs, 0)} | ${r.sameResults ? 'yes' : 'NO'} |`,
  ),
  '',
].join('\n');
await fs.mkdir(outDir, { recursive: true });
await writeJsonAtomic(path.join(outDir, 'memento.json'), result);
await writeFileAtomic(path.join(outDir, 'memento.md'), table);
console.log(table);
