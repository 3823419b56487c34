import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FileFormatError, MissingFileError, readJsonl } from '@gopo/core';
import { z } from 'zod';

export const CorpusFormatSchema = z
  .enum(['auto', 'text', 'jsonl'])
  .describe(
    'input format: plain UTF-8 text, JSON Lines (every "text"/"content" string), or auto by extension',
  );
export type CorpusFormat = z.infer<typeof CorpusFormatSchema>;

function resolveFormat(file: string, format: CorpusFormat): 'text' | 'jsonl' {
  if (format !== 'auto') return format;
  return ['.jsonl', '.ndjson'].includes(path.extname(file).toLowerCase()) ? 'jsonl' : 'text';
}

/** Every string under a "text" or "content" key, depth first (turns[].text of a dialogue log, for one). */
function collectTexts(value: unknown, out: string[]): void {
  if (Array.isArray(value)) {
    for (const v of value) collectTexts(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'text' || k === 'content') && typeof v === 'string') out.push(v);
      else collectTexts(v, out);
    }
  }
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 strictly; an invalid byte sequence is reported with its 1-based line. */
function decodeUtf8(file: string, bytes: Uint8Array): string {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i === bytes.length || bytes[i] === 0x0a) {
        try {
          fatalDecoder.decode(bytes.subarray(start, i));
        } catch {
          throw new FileFormatError({ file, line }, 'invalid UTF-8');
        }
        line++;
        start = i + 1;
      }
    }
    throw new FileFormatError({ file }, 'invalid UTF-8');
  }
}

/**
 * Reads training text from files: plain text files whole, JSONL files as the "text"/"content"
 * strings of each record (a record without any is an error naming its line).
 */
export async function* readCorpusFiles(
  files: readonly string[],
  format: CorpusFormat = 'auto',
): AsyncGenerator<string> {
  for (const file of files) {
    let stat: Awaited<ReturnType<typeof fs.stat>>;
    try {
      stat = await fs.stat(file);
    } catch {
      throw new MissingFileError(file, 'input file');
    }
    if (!stat.isFile()) throw new FileFormatError({ file }, 'not a regular file');
    if (resolveFormat(file, format) === 'text') {
      yield decodeUtf8(file, await fs.readFile(file));
      continue;
    }
    for await (const rec of readJsonl(file)) {
      const texts: string[] = [];
      collectTexts(rec.value, texts);
      if (texts.length === 0) {
        throw new FileFormatError({ file, line: rec.line }, 'no "text" or "content" string in this record');
      }
      // Records are separate documents; a newline keeps words of adjacent records apart.
      yield `${texts.join('\n')}\n`;
    }
  }
}
