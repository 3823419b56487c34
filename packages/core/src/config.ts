import { promises as fs } from 'node:fs';
import { isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './errors.js';
import { decodeLines, firstLineFault } from './lines.js';
import { checkInputFile } from './paths.js';
import { findSchemaPath, validKeysAt } from './schema-walk.js';

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
  return yamlToJs(text, file) ?? {};
}

/**
 * Most aliases a YAML document may expand (yaml's own default, named here because it is what stops a
 * "billion laughs" document from taking all memory).
 */
export const MAX_YAML_ALIASES = 100;

function yamlToJs(text: string, file: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    throw new ConfigError(
      { file, line: err.linePos?.[0]?.line },
      `invalid YAML: ${err.message.split('\n')[0]}`,
    );
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    throw new ConfigError(
      { file },
      `invalid YAML: ${(e as Error).message} (aliases may expand at most ${MAX_YAML_ALIASES} times)`,
    );
  }
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
  let fieldPath = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    // Point at the first unknown key itself and list what would have been accepted there.
    const valid = validKeysAt(schema, fieldPath) ?? [];
    const names = issue.keys.map((k) => JSON.stringify(k)).join(', ');
    message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${names}; valid: ${valid.join(', ') || '(none)'}`;
    fieldPath = [...fieldPath, issue.keys[0]!];
  }
  const line = text !== undefined ? lineOf(text, fieldPath) : undefined;
  const more = result.error.issues.length > 1 ? ` (+${result.error.issues.length - 1} more)` : '';
  throw new ConfigError({ file, line, path: fieldPath }, message + more);
}

/** Keys that would reach an object's prototype instead of a field; never valid in a key path. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const COMMAND_LINE = '(command line)';

/** Splits `a.b.c=value` into checked keys and its value (parsed as a YAML scalar or flow value). */
function parseOverride(o: string, schema: z.ZodType | undefined): { keys: string[]; value: unknown } {
  const eq = o.indexOf('=');
  if (eq <= 0) throw new ConfigError({ file: COMMAND_LINE }, `--set "${o}" is not key.path=value`);
  const key = o.slice(0, eq);
  const keys = key.split('.');
  const fail = (why: string) => new ConfigError({ file: COMMAND_LINE }, `--set ${key}: ${why}`);
  if (keys.some((k) => k === '')) throw fail('empty key (write a.b, not a..b, .a or a.)');
  const bad = keys.find((k) => FORBIDDEN_KEYS.has(k));
  if (bad !== undefined) throw fail(`"${bad}" is not allowed as a key`);
  if (schema) {
    const miss = findSchemaPath(schema, keys);
    if (miss) {
      const under = miss.depth > 0 ? ` under ${keys.slice(0, miss.depth).join('.')}` : '';
      throw fail(
        `no key "${keys[miss.depth]}"${under}; valid: ${miss.valid.join(', ') || '(none: not an object)'}`,
      );
    }
  }
  return { keys, value: yamlToJs(o.slice(eq + 1), COMMAND_LINE) };
}

/**
 * Sets `a.b.c=value` style overrides into a copy of a plain object (values parsed as YAML scalars).
 * Empty keys (`a..b`) and `__proto__`, `constructor` or `prototype` are refused; with `schema`, so is
 * a path that names no field, with the valid keys listed.
 */
export function applyOverrides(
  base: Record<string, unknown>,
  overrides: readonly string[],
  schema?: z.ZodType,
): Record<string, unknown> {
  const out = structuredClone(base);
  for (const o of overrides) {
    const { keys, value } = parseOverride(o, schema);
    let cur: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) {
      const next = Object.hasOwn(cur, k) ? cur[k] : undefined;
      if (typeof next !== 'object' || next === null) cur[k] = {};
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
  const text = await readConfigText(file);
  const raw = parseConfigText(text, file);
  // A document that is a scalar or a list gets no overrides: the schema refuses it as it is.
  const merged =
    options.overrides && options.overrides.length > 0 && isRecord(raw)
      ? applyOverrides(raw, options.overrides, schema)
      : raw;
  return validateConfig(schema, merged, file, text);
}

/** A config file's text: it must be a UTF-8 file (a folder or invalid bytes are errors with the line). */
export async function readConfigText(file: string): Promise<string> {
  checkInputFile(file, 'config file');
  const text = decodeLines(await fs.readFile(file));
  if (text !== null) return text;
  const fault = await firstLineFault(file);
  throw new ConfigError({ file, line: fault?.line }, fault?.message ?? 'invalid UTF-8');
}

const isRecord = (raw: unknown): raw is Record<string, unknown> =>
  raw !== null && typeof raw === 'object' && !Array.isArray(raw);

/** Where a command's config comes from: the global --config file and --set overrides. */
export interface CommandConfigSource {
  readonly configFile: string | undefined;
  readonly overrides: readonly string[];
}

/**
 * A command's config: its --config file with the --set overrides applied, or, without a file, the
 * schema's defaults with the overrides applied (so --set never goes unheard).
 */
export async function resolveCommandConfig<S extends z.ZodType>(
  schema: S,
  source: CommandConfigSource,
): Promise<z.infer<S>> {
  if (source.configFile) return loadConfig(source.configFile, schema, { overrides: source.overrides });
  return validateConfig(schema, applyOverrides({}, source.overrides, schema), COMMAND_LINE);
}

/** Validates an in-memory config (for example built from CLI flags); `source` names it in errors. */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, source = '(config)'): z.infer<S> {
  return validateConfig(schema, raw, source);
}
