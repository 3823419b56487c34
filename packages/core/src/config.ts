import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, MissingFileError } from './errors.js';

type Path = (string | number)[];

/** 1-based line of the node at `fieldPath` in a YAML/JSON document, or of its nearest existing parent. */
function lineOf(text: string, fieldPath: Path): number | undefined {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  let node: unknown = doc.contents;
  let offset: number | undefined = (doc.contents as Node | null)?.range?.[0];
  for (const key of fieldPath) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => String((p.key as { value?: unknown })?.value ?? p.key) === String(key),
      );
      if (!pair) break;
      offset = (pair.key as Node | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset === undefined ? undefined : counter.linePos(offset).line;
}

/** Parses YAML or JSON text (JSON is valid YAML, but JSON files get JSON's stricter parser). */
export function parseConfigText(text: string, file: string): unknown {
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ConfigError({ file }, `invalid JSON: ${(e as Error).message}`);
    }
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    throw new ConfigError(
      { file, line: err.linePos?.[0]?.line },
      `invalid YAML: ${err.message.split('\n')[0]}`,
    );
  }
  return doc.toJS() ?? {};
}

/** Validates `raw` with `schema`, turning the first zod issue into a ConfigError naming file, line and field. */
export function validateConfig<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  file: string,
  text?: string,
): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const fieldPath = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const line = text !== undefined ? lineOf(text, fieldPath) : undefined;
  const more = result.error.issues.length > 1 ? ` (+${result.error.issues.length - 1} more)` : '';
  throw new ConfigError({ file, line, path: fieldPath }, issue.message + more);
}

/** Sets `a.b.c=value` style overrides into a plain object (values parsed as YAML scalars). */
export function applyOverrides(
  base: Record<string, unknown>,
  overrides: readonly string[],
): Record<string, unknown> {
  const out = structuredClone(base);
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new ConfigError({ file: '(command line)' }, `override "${o}" is not key=value`);
    const keys = o.slice(0, eq).split('.');
    const value = parseDocument(o.slice(eq + 1)).toJS();
    let cur: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) {
      const next = cur[k];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {};
      cur = cur[k] as Record<string, unknown>;
    }
    cur[keys[keys.length - 1]!] = value;
  }
  return out;
}

export interface LoadConfigOptions {
  /** `key.path=value` overrides applied after the file is read. */
  readonly overrides?: readonly string[];
}

/** Loads a YAML or JSON config file and validates it; defaults come from the schema only. */
export async function loadConfig<S extends z.ZodType>(
  file: string,
  schema: S,
  options: LoadConfigOptions = {},
): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new MissingFileError(file, 'config file');
  }
  const raw = parseConfigText(text, path.basename(file) === file ? file : file);
  const merged =
    options.overrides && options.overrides.length > 0
      ? applyOverrides((raw ?? {}) as Record<string, unknown>, options.overrides)
      : raw;
  return validateConfig(schema, merged, file, text);
}

/** Validates an in-memory config (for example built from CLI flags); `source` names it in errors. */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, source = '(config)'): z.infer<S> {
  return validateConfig(schema, raw, source);
}
