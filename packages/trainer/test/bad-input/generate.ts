/**
 * The generated half of the bad-input corpus: files too large to commit (a line over the 16 MiB
 * limit), files whose bytes are the point (invalid UTF-8, control bytes, lone \r) and files derived
 * from the project's own outputs (a valid log, corrupt copies of the default tokenizer). The
 * committed half lives in ./corpus; README.md lists every case.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_LINE_BYTES } from '@gopo/core';
import { writeSessions } from '@gopo/dialogue';
import { ShopEnv, shopPolicies, simulate } from '@gopo/envs';
import { DEFAULT_TOKENIZER_PATH } from '@gopo/lm';

export const CORPUS_DIR = fileURLToPath(new URL('./corpus/', import.meta.url));

/** A tiny decoder that trains in a second with the default tokenizer (2048 ids). */
export const TINY_MODEL = {
  vocab_size: 2048,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  tie_word_embeddings: true,
};

interface TokenizerFile {
  added_tokens: { id: number; content: string }[];
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
}

/** The default tokenizer with one defect: a duplicate id, a gap in the ids, or a merge of unknown tokens. */
function corruptTokenizer(defect: 'duplicate-id' | 'id-gap' | 'bad-merge'): string {
  const t = JSON.parse(readFileSync(DEFAULT_TOKENIZER_PATH, 'utf8')) as TokenizerFile;
  const tokens = Object.keys(t.model.vocab);
  if (defect === 'duplicate-id') t.model.vocab[tokens[300]!] = t.model.vocab[tokens[301]!]!;
  else if (defect === 'id-gap') t.model.vocab[tokens.at(-1)!] = t.model.vocab[tokens.at(-1)!]! + 5;
  else t.model.merges.push('gopo-no-such-token another-one');
  return JSON.stringify(t);
}

/**
 * Writes every generated case (and a copy of the committed corpus) into `dir`; returns the path of
 * each file by case name.
 */
export async function writeBadInputs(dir: string): Promise<Record<string, string>> {
  mkdirSync(dir, { recursive: true });
  const at = (name: string) => path.join(dir, name);
  const files: Record<string, string> = {};
  for (const name of readdirSync(CORPUS_DIR)) {
    copyFileSync(path.join(CORPUS_DIR, name), at(name));
    files[name] = at(name);
  }
  // A valid log and lines from it to build the broken ones.
  files['logs.jsonl'] = at('logs.jsonl');
  await writeSessions(
    files['logs.jsonl'],
    simulate(shopPolicies.get('oracle'), { scenarios: 12, seed: 3 }, new ShopEnv()),
  );
  const [line1, line2] = readFileSync(files['logs.jsonl'], 'utf8').split('\n') as [string, string];
  const bytes = (...parts: (string | Buffer)[]) =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  const write = (name: string, content: string | Buffer) => {
    writeFileSync(at(name), content);
    files[name] = at(name);
  };
  // Line 2 is one byte over the limit; lines 1 and 3 are valid sessions.
  write('long-line.jsonl', bytes(`${line1}\n`, Buffer.alloc(MAX_LINE_BYTES + 1, 0x20), `\n${line2}\n`));
  const [head, tail] = line2.split('"text":"', 2) as [string, string];
  write('invalid-utf8.jsonl', bytes(`${line1}\n${head}"text":"`, Buffer.from([0xc3, 0x28]), `${tail}\n`));
  write('invalid-utf8.txt', bytes('a plain corpus line\n', Buffer.from([0x66, 0xff, 0x6f]), '\n'));
  write('invalid-utf8-corpus.jsonl', bytes('{"text": "ok"}\n{"text": "', Buffer.from([0xe2, 0x82]), '"}\n'));
  // Terminal escapes (colour, cursor up, clear line) where a JSON value should be.
  write('control-bytes.jsonl', `${line1}\n{"session_id": \x1b[31mred\x1b[0m\x1b[1A\x1b[2K}\n`);
  // A lone \r is whitespace inside a line: between JSON tokens it is harmless ...
  write('lone-cr-inside.jsonl', `${line1.replace('{"session_id"', '{\r"session_id"')}\n${line2}\n`);
  // ... and it does not end a line: two records joined by one are one invalid line.
  write('lone-cr-between.jsonl', `${line1}\r${line2}\n${line1}\n`);
  for (const defect of ['duplicate-id', 'id-gap', 'bad-merge'] as const) {
    const model = at(`model-${defect}`);
    mkdirSync(model);
    writeFileSync(path.join(model, 'tokenizer.json'), corruptTokenizer(defect));
    files[`model-${defect}`] = model;
  }
  write(
    'sft.jsonl',
    `${['hello', 'where is my order', 'thanks'].map((p) => JSON.stringify({ prompt: p, completion: ` ${p}!` })).join('\n')}\n`,
  );
  return files;
}
