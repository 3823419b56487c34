import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLines } from './line-reader.js';

async function collect(text: string | Buffer, chunk: number): Promise<[number, string][]> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'lines-')), 'f.txt');
  writeFileSync(file, text);
  const out: [number, string][] = [];
  for await (const l of readLines(file, chunk)) out.push(l);
  return out;
}

describe('readLines', () => {
  it.each([1, 2, 3, 7, 1024])(
    'splits on \\n across chunk boundaries of %i bytes, drops \\r, keeps multi-byte characters',
    async (chunk) => {
      const text = 'a\r\n\nß€ 😀 line\nlast';
      expect(await collect(text, chunk)).toEqual([
        [1, 'a'],
        [2, ''],
        [3, 'ß€ 😀 line'],
        [4, 'last'],
      ]);
      expect(await collect('x\n', chunk)).toEqual([[1, 'x']]);
      expect(await collect('', chunk)).toEqual([]);
    },
  );
});
