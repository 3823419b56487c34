import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineAlignedRanges, readLineBatches, readLines } from './line-reader.js';

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

  it('agrees with String#split on random text and chunk sizes (ASCII and multi-byte chunks)', async () => {
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

  it('line-aligned ranges cover the file and together read the same lines', async () => {
    const text = ['{"a":1}', '', 'ß€ 😀', 'x'.repeat(100), 'last'].join('\n');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lines-')), 'f.txt');
    writeFileSync(file, text);
    const size = Buffer.byteLength(text);
    for (const parts of [1, 2, 3, 5, 50]) {
      const ranges = await lineAlignedRanges(file, size, parts);
      expect(ranges[0]!.start).toBe(0);
      expect(ranges.at(-1)!.end).toBe(size);
      const lines: string[] = [];
      for (const r of ranges) for await (const b of readLineBatches(file, 4, r)) lines.push(...b.lines);
      expect(lines).toEqual(text.split('\n'));
    }
  });
});
