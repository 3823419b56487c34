import { promises as fs } from 'node:fs';
import type { z } from 'zod';
import { AtomicFileWriter } from './atomic-file.js';
import { FileFormatError } from './errors.js';
import { assertNotJsonArray, readLines } from './lines.js';
import { checkInputFile, resolveOutputFile } from './paths.js';

/** One validated record and the 1-based line it came from. */
export interface JsonlRecord<T> {
  readonly line: number;
  readonly value: T;
}

/** A line that failed to parse or validate. */
export interface JsonlIssue {
  readonly line: number;
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export interface ReadJsonlOptions {
  /** Skip invalid lines instead of throwing; each is passed to `onInvalid`. */
  readonly skipInvalid?: boolean;
  readonly onInvalid?: (issue: JsonlIssue) => void;
}

/** Parses and validates one JSONL line; returns the value or every problem found on that line. */
export function parseJsonlLine<S extends z.ZodType>(
  text: string,
  line: number,
  schema?: S,
): { ok: true; value: z.infer<S> } | { ok: false; issues: JsonlIssue[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, issues: [{ line, path: [], message: `invalid JSON (${(e as Error).message})` }] };
  }
  if (!schema) return { ok: true, value: raw as z.infer<S> };
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    issues: result.error.issues.map((i) => ({
      line,
      path: i.path.filter((p): p is string | number => typeof p !== 'symbol'),
      message: i.message,
    })),
  };
}

/**
 * Streams a JSON Lines file, validating each non-blank line with `schema`. Lines are those of
 * lines.ts (\n, \r\n; UTF-8; at most MAX_LINE_BYTES), so an overlong or non-UTF-8 line is a line
 * error like invalid JSON. Memory stays bounded by the longest line. An invalid line throws a
 * FileFormatError naming file, line and field path, unless `skipInvalid` is set. A folder, a missing
 * file and a file holding one JSON array are errors whatever the options.
 */
export async function* readJsonl<S extends z.ZodType>(
  file: string,
  schema?: S,
  options: ReadJsonlOptions = {},
): AsyncGenerator<JsonlRecord<z.infer<S>>> {
  checkInputFile(file);
  await assertNotJsonArray(file);
  for await (const l of readLines(file)) {
    const line = l.line;
    if (l.text !== undefined && l.text.trim() === '') continue;
    const parsed: ReturnType<typeof parseJsonlLine<S>> =
      l.text === undefined
        ? { ok: false, issues: [{ line, path: [], message: l.fault }] }
        : parseJsonlLine(l.text, line, schema);
    if (parsed.ok) {
      yield { line, value: parsed.value };
      continue;
    }
    if (options.skipInvalid) {
      for (const issue of parsed.issues) options.onInvalid?.(issue);
      continue;
    }
    const first = parsed.issues[0]!;
    const more = parsed.issues.length > 1 ? ` (+${parsed.issues.length - 1} more issue(s) on this line)` : '';
    throw new FileFormatError({ file, line, path: first.path }, first.message + more);
  }
}

/** Reads a whole JSONL file into memory (small files only). */
export async function readJsonlAll<S extends z.ZodType>(
  file: string,
  schema?: S,
  options?: ReadJsonlOptions,
): Promise<z.infer<S>[]> {
  const out: z.infer<S>[] = [];
  for await (const rec of readJsonl(file, schema, options)) out.push(rec.value);
  return out;
}

/**
 * Writes JSON Lines atomically: records go to a temporary file that replaces `file` on `close()`.
 * If the writer is aborted or the process dies, an existing `file` is left as it was.
 */
export class JsonlWriter<T = unknown> {
  private readonly writer: AtomicFileWriter;
  count = 0;

  constructor(
    readonly file: string,
    private readonly schema?: z.ZodType<T>,
  ) {
    this.writer = new AtomicFileWriter(file);
  }

  async write(record: T): Promise<void> {
    if (this.schema) {
      const r = this.schema.safeParse(record);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        throw new FileFormatError(
          {
            file: this.file,
            line: this.count + 1,
            path: issue.path.filter((p) => typeof p !== 'symbol') as (string | number)[],
          },
          `refusing to write invalid record: ${issue.message}`,
        );
      }
    }
    this.count++;
    await this.writer.write(`${JSON.stringify(record)}\n`);
  }

  close(): Promise<void> {
    return this.writer.commit();
  }

  abort(): Promise<void> {
    return this.writer.abort();
  }
}

/**
 * Appends one record to a JSONL log (metrics, events); creates the file and its folder. A folder or
 * device at the path is refused (resolveOutputFile).
 */
export async function appendJsonl(file: string, record: unknown): Promise<void> {
  await fs.appendFile(resolveOutputFile(file), `${JSON.stringify(record)}\n`);
}
