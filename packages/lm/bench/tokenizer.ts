// Tokenizer micro-benchmark: BPE training time per MB, and encode/decode throughput of our encoder
// against @huggingface/tokenizers on the same tokenizer.json, measured in one run.
// Run: pnpm --filter @gopo/lm run bench  (writes bench-results/tokenizer.json and tokenizer.md)
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveDataDir, writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { BpeEncoder, generateShopCorpus, loadHfTokenizer, trainBpe } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, '..', 'bench-results');

/** Real dialogue text when the shared data is there: MultiWOZ validation utterances (about 1 MB). */
async function multiwozUtterances(): Promise<string[] | undefined> {
  const dir = resolveDataDir();
  if (!dir) return undefined;
  const file = path.join(dir, 'multiwoz', 'val.json');
  try {
    const raw = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, { log: { text: string }[] }>;
    return Object.values(raw).flatMap((d) => d.log.map((t) => t.text));
  } catch {
    return undefined;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void, reps: number): number {
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return median(ts);
}

const mb = (lines: string[]) => Buffer.byteLength(lines.join('\n')) / 1e6;

interface Row {
  corpus: string;
  megabytes: number;
  vocabSize: number;
  trainSeconds: number;
  trainSecondsPerMB: number;
  merges: number;
  tokensEncoded: number;
  bytesPerToken: number;
  oursTokensPerSec: number;
  hfTokensPerSec: number;
  oursOverHf: number;
  oursColdTokensPerSec: number;
  hfColdTokensPerSec: number;
  oursDecodeTokensPerSec: number;
  hfDecodeTokensPerSec: number;
  mismatches: number;
}

function benchCorpus(name: string, lines: string[], vocabSize: number): Row {
  const split = Math.floor(lines.length * 0.8);
  const train = lines.slice(0, split);
  const held = lines.slice(split);
  const t0 = performance.now();
  const trained = trainBpe(train, { vocabSize, minFrequency: 2 });
  const trainSeconds = (performance.now() - t0) / 1000;
  const json = trained.tokenizerJson;

  // Cold: fresh instances, first pass (word caches empty).
  const oursCold = new BpeEncoder(json);
  const hfCold = loadHfTokenizer(json);
  let tokens = 0;
  const coldOurs = time(() => {
    for (const l of held) tokens += oursCold.encode(l).length;
  }, 1);
  const coldHf = time(() => {
    for (const l of held) hfCold.encode(l, { add_special_tokens: false });
  }, 1);

  const ours = new BpeEncoder(json);
  const hf = loadHfTokenizer(json);
  let mismatches = 0;
  const encoded: number[][] = [];
  for (const l of held) {
    const a = ours.encode(l);
    const b = hf.encode(l, { add_special_tokens: false }).ids;
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) mismatches++;
    encoded.push(a);
  }
  const reps = 9;
  const warmOurs = time(() => {
    for (const l of held) ours.encode(l);
  }, reps);
  const warmHf = time(() => {
    for (const l of held) hf.encode(l, { add_special_tokens: false });
  }, reps);
  const nonEmpty = encoded.filter((e) => e.length > 0);
  const decOurs = time(() => {
    for (const e of nonEmpty) ours.decode(e);
  }, reps);
  const decHf = time(() => {
    for (const e of nonEmpty) hf.decode(e);
  }, reps);
  const megabytes = mb(train);
  return {
    corpus: name,
    megabytes: +megabytes.toFixed(3),
    vocabSize: trained.parts.vocab.length,
    trainSeconds: +trainSeconds.toFixed(3),
    trainSecondsPerMB: +(trainSeconds / megabytes).toFixed(3),
    merges: trained.stats.merges,
    tokensEncoded: tokens,
    bytesPerToken: +(Buffer.byteLength(held.join('')) / tokens).toFixed(2),
    oursTokensPerSec: Math.round(tokens / warmOurs),
    hfTokensPerSec: Math.round(tokens / warmHf),
    oursOverHf: +(warmHf / warmOurs).toFixed(2),
    oursColdTokensPerSec: Math.round(tokens / coldOurs),
    hfColdTokensPerSec: Math.round(tokens / coldHf),
    oursDecodeTokensPerSec: Math.round(tokens / decOurs),
    hfDecodeTokensPerSec: Math.round(tokens / decHf),
    mismatches,
  };
}

const rows: Row[] = [];
const woz = await multiwozUtterances();
if (woz) rows.push(benchCorpus('multiwoz-val utterances', woz, 4096));
else console.warn('MultiWOZ data not found (set GOPO_DATA_DIR); benchmarking the generated corpus only');
const shop = generateShopCorpus(1, 5_000_000).flatMap((d) => d.split('\n'));
rows.push(benchCorpus('generated shop dialogues', shop, 8192));

const result = {
  benchmark: 'tokenizer',
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  notes:
    'train: byte-level BPE on 80% of the lines (min frequency 2); encode/decode: the other 20%, one call per line; ' +
    'warm = median of 9 passes after a first pass (word caches filled), cold = first pass on fresh instances',
  rows,
};
await writeJsonAtomic(path.join(resultsDir, 'tokenizer.json'), result);

const header =
  '| corpus | train MB | vocab | train s/MB | bytes/token | encode ours tok/s | encode HF tok/s | ours/HF | cold ours | cold HF | decode ours tok/s | decode HF tok/s | mismatches |';
const table = [
  header,
  `|${header
    .split('|')
    .slice(1, -1)
    .map(() => '---')
    .join('|')}|`,
  ...rows.map(
    (r) =>
      `| ${r.corpus} | ${r.megabytes} | ${r.vocabSize} | ${r.trainSecondsPerMB} | ${r.bytesPerToken} | ${r.oursTokensPerSec.toLocaleString('en')} | ${r.hfTokensPerSec.toLocaleString('en')} | ${r.oursOverHf} | ${r.oursColdTokensPerSec.toLocaleString('en')} | ${r.hfColdTokensPerSec.toLocaleString('en')} | ${r.oursDecodeTokensPerSec.toLocaleString('en')} | ${r.hfDecodeTokensPerSec.toLocaleString('en')} | ${r.mismatches} |`,
  ),
].join('\n');
await writeFileAtomic(
  path.join(resultsDir, 'tokenizer.md'),
  `# Tokenizer benchmark\n\n${result.date}, Node ${result.node}, ${result.cpu} (${result.cores} cores)\n\n${table}\n\n${result.notes}\n`,
);
console.log(table);
