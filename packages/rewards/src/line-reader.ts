import { isAscii } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** Bytes [start, end) of a file; a range that starts after a \n has its lines numbered from 1. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** Consecutive lines of a file: `lines[i]` is line number `first + i` (1-based). */
export interface LineBatch {
  readonly first: number;
  readonly lines: readonly string[];
  /** Bytes of the file (or range) read so far, for progress. */
  readonly bytesRead: number;
}

/**
 * The lines of a UTF-8 file in batches (one per chunk read), split on \n with a trailing \r
 * dropped. Each batch's complete lines are decoded with one call and cut with String#indexOf, so the
 * per-line cost is a substring (no per-line Buffer decode, promise or tuple); a caller scoring a
 * million lines awaits once per chunk rather than once per line. Memory is one chunk plus the
 * longest line.
 */
export async function* readLineBatches(
  file: string,
  chunkBytes = 1 << 20,
  range: ByteRange | null = null,
): AsyncGenerator<LineBatch> {
  if (range && range.end <= range.start) return;
  let carry: Buffer | null = null;
  let line = 1;
  const stream = createReadStream(file, {
    highWaterMark: chunkBytes,
    ...(range ? { start: range.start, end: range.end - 1 } : {}),
  });
  let bytesRead = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    const lines: string[] = [];
    let start = 0;
    if (carry) {
      // Only the line that straddles the chunk boundary is copied to join it.
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        carry = Buffer.concat([carry, chunk]);
        continue;
      }
      splitLines(decode(Buffer.concat([carry, chunk.subarray(0, nl + 1)])), lines);
      start = nl + 1;
    }
    // Decode only up to the last \n: a multi-byte character can straddle the chunk's end.
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl >= start) splitLines(decode(chunk.subarray(start, lastNl + 1)), lines);
    const rest = Math.max(start, lastNl + 1);
    carry = rest < chunk.length ? chunk.subarray(rest) : null;
    if (lines.length === 0) continue;
    yield { first: line, lines, bytesRead };
    line += lines.length;
  }
  if (carry && carry.length > 0) {
    const text = decode(carry);
    yield {
      first: line,
      lines: [text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text],
      bytesRead,
    };
  }
}

/**
 * Bytes of a log as text. Logs are mostly ASCII, which decodes as latin1 about 3x faster than
 * through the UTF-8 decoder (the check itself runs at memory speed); the result is the same.
 */
export function decode(buf: Buffer): string {
  return isAscii(buf) ? buf.toString('latin1') : buf.toString('utf8');
}

/** Appends the \n-terminated lines of `text` (which ends with \n) to `out`, dropping a trailing \r. */
function splitLines(text: string, out: string[]): void {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return;
    const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    out.push(text.slice(start, end));
    start = nl + 1;
  }
}

/** Lines of a UTF-8 file with their 1-based numbers (see readLineBatches). */
export async function* readLines(
  file: string,
  chunkBytes = 1 << 20,
): AsyncGenerator<[line: number, text: string]> {
  for await (const { first, lines } of readLineBatches(file, chunkBytes))
    for (let i = 0; i < lines.length; i++) yield [first + i, lines[i]!];
}

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
