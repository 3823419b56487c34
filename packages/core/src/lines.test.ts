import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readLines } from './lines.js';

async function collect(text: string | Buffer, chunkBytes: number): Promise<[number, string | undefined][]> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'lines-')), 'f.txt');
  writeFileSync(file, text);
  const out: [number, string | undefined][] = [];
  for await (const l of readLines(file, { chunkBytes })) out.push([l.line, l.text]);
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

  it('agrees with String#split on \\n on random text and chunk sizes (a lone \\r stays in its line)', async () => {
    const piece = fc.oneof(
      fc.constantFrom('\n', '\r\n', '\r', 'ß', '€', '😀', '{"a":1}'),
      fc.string({ maxLength: 6 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 30 }),
        fc.integer({ min: 1, max: 16 }),
        async (parts, chunk) => {
          const text = parts.join('');
          const expected = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
          if (text.endsWith('\n') || text === '') expected.pop();
          expect(await collect(text, chunk)).toEqual(expected.map((l, i) => [i + 1, l]));
        },
      ),
      { numRuns: 150 },
    );
  });
});
