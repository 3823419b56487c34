import type { z } from 'zod';

/*
 * Reading a zod schema's structure: which keys an object at some path accepts, so that config errors
 * and --set overrides can list the valid keys, and tests can prove every config object is strict.
 */

interface Def {
  readonly type: string;
  readonly innerType?: Node;
  readonly in?: Node;
  readonly shape?: Readonly<Record<string, Node>>;
  readonly catchall?: Node;
  readonly valueType?: Node;
  readonly element?: Node;
  readonly items?: readonly Node[];
  readonly rest?: Node | null;
  readonly options?: readonly Node[];
  readonly left?: Node;
  readonly right?: Node;
  readonly getter?: () => Node;
}
interface Node {
  readonly _zod: { readonly def: Def };
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/** The schema under optional/nullable/default/prefault/pipe/lazy wrappers. */
function unwrap(schema: Node): Node {
  let node = schema;
  for (;;) {
    const def = node._zod.def;
    if (WRAPPERS.has(def.type) && def.innerType) node = def.innerType;
    else if (def.type === 'pipe' && def.in) node = def.in;
    else if (def.type === 'lazy' && def.getter) node = def.getter();
    else return node;
  }
}

/** The object schemas a value at this node may be (several for a union). */
function objectsOf(schema: Node): Node[] {
  const node = unwrap(schema);
  const def = node._zod.def;
  if (def.type === 'object') return [node];
  if (def.type === 'union' && def.options) return def.options.flatMap(objectsOf);
  if (def.type === 'intersection' && def.left && def.right)
    return [...objectsOf(def.left), ...objectsOf(def.right)];
  return [];
}

/** The keys an object at this node accepts (null when it takes any key: a record or a loose object). */
function keysOf(schema: Node): string[] | null {
  const node = unwrap(schema);
  const def = node._zod.def;
  if (def.type === 'record') return null;
  const objects = objectsOf(node);
  if (objects.some((o) => o._zod.def.catchall && o._zod.def.catchall._zod.def.type !== 'never')) return null;
  return [...new Set(objects.flatMap((o) => Object.keys(o._zod.def.shape ?? {})))];
}

/** The schema of the value at `key` under this node, or undefined when no such key exists. */
function child(schema: Node, key: string | number): Node | undefined {
  const node = unwrap(schema);
  const def = node._zod.def;
  const index = typeof key === 'number' ? key : /^\d+$/.test(key) ? Number(key) : undefined;
  if (def.type === 'record') return def.valueType;
  if (def.type === 'array') return index === undefined ? undefined : def.element;
  if (def.type === 'tuple')
    return index === undefined ? undefined : (def.items?.[index] ?? def.rest ?? undefined);
  for (const o of objectsOf(node)) {
    const field = o._zod.def.shape?.[String(key)];
    if (field && Object.hasOwn(o._zod.def.shape!, String(key))) return field;
    const catchall = o._zod.def.catchall;
    if (catchall && catchall._zod.def.type !== 'never') return catchall;
  }
  return undefined;
}

/** Where a key path leaves the schema: the keys valid at that point, or null when the path exists. */
export interface SchemaPathMiss {
  /** Length of the prefix of the path that exists. */
  readonly depth: number;
  /** Keys the object at that prefix accepts (empty when the prefix is not an object). */
  readonly valid: readonly string[];
}

/** Checks that every key of `path` names a field of `schema` (records and arrays take any key/index). */
export function findSchemaPath(schema: z.ZodType, path: readonly (string | number)[]): SchemaPathMiss | null {
  let node = schema as unknown as Node;
  for (let depth = 0; depth < path.length; depth++) {
    const next = child(node, path[depth]!);
    if (!next) return { depth, valid: keysOf(node) ?? [] };
    node = next;
  }
  return null;
}

/** The keys accepted by the object at `path` of `schema` (null: any key, or no object there). */
export function validKeysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] | null {
  let node = schema as unknown as Node;
  for (const key of path) {
    const next = child(node, key);
    if (!next) return null;
    node = next;
  }
  return keysOf(node);
}

/**
 * Paths of every object in `schema` that accepts keys it does not name (a plain z.object strips them
 * silently, a loose one keeps them). A config schema should have none: a typo must be an error.
 */
export function nonStrictObjectPaths(schema: z.ZodType): string[] {
  const out: string[] = [];
  const seen = new Set<Node>();
  const visit = (s: Node, where: string) => {
    const node = unwrap(s);
    if (seen.has(node)) return;
    seen.add(node);
    const def = node._zod.def;
    if (def.type === 'object') {
      if (def.catchall?._zod.def.type !== 'never') out.push(where || '(root)');
      for (const [k, v] of Object.entries(def.shape ?? {})) visit(v, where ? `${where}.${k}` : k);
    } else if (def.type === 'record' && def.valueType) visit(def.valueType, `${where}.*`);
    else if (def.type === 'array' && def.element) visit(def.element, `${where}[]`);
    else if (def.type === 'tuple')
      for (const [i, item] of (def.items ?? []).entries()) visit(item, `${where}[${i}]`);
    else if (def.type === 'union') for (const o of def.options ?? []) visit(o, where);
    else if (def.type === 'intersection' && def.left && def.right) {
      visit(def.left, where);
      visit(def.right, where);
    }
  };
  visit(schema as unknown as Node, '');
  return out;
}
