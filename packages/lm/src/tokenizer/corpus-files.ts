import * as path from 'node:path';
import { checkInputFile, FileFormatError, readJsonl, readLineBatches } from '@gopo/core';
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

/**
 * Reads training text from files: plain text files a batch of lines at a time (lines as @gopo/core
 * defines them: UTF-8, at most MAX_LINE_BYTES, a bad line is an error naming it), JSONL files as the
 * "text"/"content" strings of each record (a record without any is an error naming its line).
 */
export async function* readCorpusFiles(
  files: readonly string[],
  format: CorpusFormat = 'auto',
): AsyncGenerator<string> {
  for (const file of files) {
    checkInputFile(file);
    if (resolveFormat(file, format) === 'text') {
      for await (const { lines, faults } of readLineBatches(file)) {
        const fault = faults[0];
        if (fault) throw new FileFormatError({ file, line: fault.line }, fault.message);
        yield `${lines.join('\n')}\n`;
      }
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
