import { isAscii, isUtf8 } from 'node:buffer';
import { createReadStream, promises as fs } from 'node:fs';
import { FileFormatError } from './errors.js';

/*
 * The one definition of a line that every reader of the project uses (JSONL logs, corpora, SFT data,
 * the eval scanner):
 *   - a line ends at \n; a \r just before the \n is dropped (so \r\n files read the same);
 *   - a lone \r is not a line break: it stays in the line (JSON treats it as whitespace between
 *     tokens, and rejects it inside a string);
 *   - the last line needs no \n;
 *   - a line is UTF-8: invalid bytes are an error naming the line, never replaced by U+FFFD;
 *   - a line holds at most MAX_LINE_BYTES bytes (its \n excluded): a longer one is an error naming
 *     the line, read past without being held in memory.
 */

/** The longest line any reader accepts, in bytes (16 MiB). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** Bytes [start, end) of a file; a range that starts after a \n has its lines numbered from 1. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** A line that cannot be read as text, with its 1-based number. */
export interface LineFault {
  readonly line: number;
  readonly message: string;
}

/** Consecutive lines of a file: `lines[i]` is line number `first + i` (1-based). */
export interface LineBatch {
  readonly first: number;
  /** The lines' text; a line listed in `faults` is '' here. */
  readonly lines: readonly string[];
  /** Lines of the batch that are too long or not UTF-8, in line order (usually none). */
  readonly faults: readonly LineFault[];
  /** Bytes of the file (or range) read so far, for progress. */
  readonly bytesRead: number;
}

export interface ReadLinesOptions {
  /** Bytes read at a time (default 1 MiB; never more than maxLineBytes). */
  readonly chunkBytes?: number;
  /** Read only these bytes of the file. */
  readonly range?: ByteRange | null;
  /** Longest accepted line in bytes (default MAX_LINE_BYTES). */
  readonly maxLineBytes?: number;
}

/** The message of a line over the length limit. */
export function lineTooLongMessage(maxLineBytes: number): string {
  return `line longer than ${maxLineBytes} bytes (the limit of every reader; is this a JSON Lines file?)`;
}

export const INVALID_UTF8_MESSAGE = 'invalid UTF-8 (the file must be UTF-8 text)';

/**
 * Bytes of whole lines as text. Logs are mostly ASCII, which decodes as latin1 about 3x faster than
 * through the UTF-8 decoder (the check itself runs at memory speed); the result is the same.
 * Returns null when the bytes are not valid UTF-8.
 */
export function decodeLines(buf: Uint8Array): string | null {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (isAscii(b)) return b.toString('latin1');
  return isUtf8(b) ? b.toString('utf8') : null;
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

/**
 * Splits `bytes` (whole lines, ending with \n) into `out`, checking UTF-8 line by line: only called
 * for a region that failed the whole-region check, so the per-line cost does not matter. `out[0]` is
 * line `first`.
 */
function splitCheckedLines(bytes: Uint8Array, first: number, out: string[], faults: LineFault[]): void {
  let start = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl + 1;
    const text = decodeLines(bytes.subarray(start, end));
    if (text === null) {
      faults.push({ line: first + out.length, message: INVALID_UTF8_MESSAGE });
      out.push('');
    } else splitLines(text.endsWith('\n') ? text : `${text}\n`, out);
    start = end;
  }
}

/** Appends the lines of `bytes` (ending with \n) to `out` (whose `out[0]` is line `first`); invalid UTF-8 becomes a fault. */
function pushLines(bytes: Uint8Array, first: number, out: string[], faults: LineFault[]): void {
  const text = decodeLines(bytes);
  if (text === null) splitCheckedLines(bytes, first, out, faults);
  else splitLines(text, out);
}

/**
 * The lines of a UTF-8 file in batches (one per chunk read), by the definition at the top of this
 * file. Each batch's complete lines are decoded with one call and cut with String#indexOf, so the
 * per-line cost is a substring; a caller scoring a million lines awaits once per chunk rather than
 * once per line. Memory is one chunk plus the longest accepted line.
 */
export async function* readLineBatches(
  file: string,
  options: ReadLinesOptions = {},
): AsyncGenerator<LineBatch> {
  const range = options.range ?? null;
  if (range && range.end <= range.start) return;
  const maxLine = options.maxLineBytes ?? MAX_LINE_BYTES;
  // A line that fits in one chunk is then never over the limit: only lines carried across chunks
  // need their length counted.
  const chunkBytes = Math.max(1, Math.min(options.chunkBytes ?? 1 << 20, maxLine));
  const stream = createReadStream(file, {
    highWaterMark: chunkBytes,
    ...(range ? { start: range.start, end: range.end - 1 } : {}),
  });
  let carry: Buffer[] = [];
  let carryBytes = 0;
  // The current line passed the limit: its bytes are dropped up to its \n.
  let overlong = false;
  let line = 1;
  let bytesRead = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    const lines: string[] = [];
    const faults: LineFault[] = [];
    let start = 0;
    if (carryBytes > 0 || overlong) {
      const nl = chunk.indexOf(10);
      const upTo = nl < 0 ? chunk.length : nl;
      if (!overlong && carryBytes + upTo > maxLine + 1) {
        // +1: the line's own \r may be among the bytes counted.
        overlong = true;
        carry = [];
        carryBytes = 0;
      }
      if (nl < 0) {
        if (!overlong) {
          carry.push(chunk);
          carryBytes += chunk.length;
        }
        continue;
      }
      if (overlong) {
        faults.push({ line, message: lineTooLongMessage(maxLine) });
        lines.push('');
        overlong = false;
      } else {
        const joined = Buffer.concat([...carry, chunk.subarray(0, nl + 1)]);
        if (lineBytes(joined, true) > maxLine) {
          faults.push({ line, message: lineTooLongMessage(maxLine) });
          lines.push('');
        } else pushLines(joined, line, lines, faults);
      }
      carry = [];
      carryBytes = 0;
      start = nl + 1;
    }
    // Decode only up to the last \n: a multi-byte character can straddle the chunk's end.
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl >= start) pushLines(chunk.subarray(start, lastNl + 1), line, lines, faults);
    const rest = Math.max(start, lastNl + 1);
    if (rest < chunk.length) {
      carry = [chunk.subarray(rest)];
      carryBytes = chunk.length - rest;
    }
    if (lines.length === 0) continue;
    yield { first: line, lines, faults, bytesRead };
    line += lines.length;
  }
  if (overlong) {
    yield { first: line, lines: [''], faults: [{ line, message: lineTooLongMessage(maxLine) }], bytesRead };
  } else if (carryBytes > 0) {
    const last = Buffer.concat(carry);
    const text = lineBytes(last, false) > maxLine ? undefined : decodeLines(last);
    const fault = text === undefined ? lineTooLongMessage(maxLine) : INVALID_UTF8_MESSAGE;
    yield typeof text === 'string'
      ? { first: line, lines: [text.endsWith('\r') ? text.slice(0, -1) : text], faults: [], bytesRead }
      : { first: line, lines: [''], faults: [{ line, message: fault }], bytesRead };
  }
}

/** Length of a line's bytes without its \n (when `terminated`) and the \r before it. */
function lineBytes(buf: Uint8Array, terminated: boolean): number {
  let n = buf.length - (terminated ? 1 : 0);
  if (n > 0 && buf[n - 1] === 13) n--;
  return n;
}

/** One line of a file: its text, or why it could not be read. */
export type FileLine =
  | { readonly line: number; readonly text: string; readonly fault?: undefined }
  | { readonly line: number; readonly text?: undefined; readonly fault: string };

/** The lines of a file one by one (see readLineBatches), faults in place. */
export async function* readLines(file: string, options: ReadLinesOptions = {}): AsyncGenerator<FileLine> {
  for await (const { first, lines, faults } of readLineBatches(file, options)) {
    let f = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = first + i;
      if (f < faults.length && faults[f]!.line === line) yield { line, fault: faults[f++]!.message };
      else yield { line, text: lines[i]! };
    }
  }
}

/** The first line of a file with a problem, or null: for a whole-file check of a text file. */
export async function firstLineFault(file: string): Promise<LineFault | null> {
  for await (const { faults } of readLineBatches(file)) if (faults.length > 0) return faults[0]!;
  return null;
}

/**
 * Refuses a file that holds one JSON array (on one line or pretty-printed) where JSON Lines are
 * expected: without this, every line of it would be reported as a separate error. Looks at the first
 * non-whitespace byte of the first 64 KiB.
 */
export async function assertNotJsonArray(file: string): Promise<void> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    let line = 1;
    for (let i = 0; i < bytesRead; i++) {
      const c = buf[i]!;
      if (c === 10) line++;
      else if (c !== 32 && c !== 9 && c !== 13) {
        if (c === 0x5b)
          throw new FileFormatError(
            { file, line },
            'the file is a JSON array, not JSON Lines (one JSON object per line); convert it, e.g. with jq -c ".[]"',
          );
        return;
      }
    }
  } finally {
    await fh.close();
  }
}
