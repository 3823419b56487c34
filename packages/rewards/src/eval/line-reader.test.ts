import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readLineBatches } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { lineAlignedRanges } from './line-reader.js';

describe('lineAlignedRanges', () => {
  it('covers the file, and the ranges together read the same lines', async () => {
    const text = ['{"a":1}', '', 'ß€ 😀', 'x'.repeat(100), 'last'].join('\n');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lines-')), 'f.txt');
    writeFileSync(file, text);
    const size = Buffer.byteLength(text);
    for (const parts of [1, 2, 3, 5, 50]) {
      const ranges = await lineAlignedRanges(file, size, parts);
      expect(ranges[0]!.start).toBe(0);
      expect(ranges.at(-1)!.end).toBe(size);
      const lines: string[] = [];
      for (const range of ranges)
        for await (const b of readLineBatches(file, { chunkBytes: 4, range })) lines.push(...b.lines);
      expect(lines).toEqual(text.split('\n'));
    }
  });
});
