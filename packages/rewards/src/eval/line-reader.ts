import { open } from 'node:fs/promises';
import type { ByteRange } from '@gopo/core';

// The lines themselves are read by @gopo/core's readLineBatches: one line definition for every reader.
export type { ByteRange } from '@gopo/core';

/**
 * Cuts a file of `size` bytes into up to `parts` ranges that start at line starts, of about equal
 * size, in file order (fewer when lines are long).
 */
export async function lineAlignedRanges(file: string, size: number, parts: number): Promise<ByteRange[]> {
  const fh = await open(file, 'r');
  try {
    const cuts = [0];
    const probe = Buffer.alloc(64 * 1024);
    for (let p = 1; p < parts; p++) {
      let pos = Math.max(Math.floor((size * p) / parts), cuts[cuts.length - 1]!);
      let cut = size;
      while (pos < size) {
        const { bytesRead } = await fh.read(probe, 0, probe.length, pos);
        if (bytesRead === 0) break;
        const nl = probe.subarray(0, bytesRead).indexOf(10);
        if (nl >= 0) {
          cut = pos + nl + 1;
          break;
        }
        pos += bytesRead;
      }
      if (cut >= size) break;
      if (cut > cuts[cuts.length - 1]!) cuts.push(cut);
    }
    cuts.push(size);
    return cuts.slice(1).map((end, i) => ({ start: cuts[i]!, end }));
  } finally {
    await fh.close();
  }
}
