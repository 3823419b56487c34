import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA_FILES, type DataFileSpec, type DatasetName } from './data-manifest.js';
import { MissingFileError } from './errors.js';

/** Environment variable that points at the data directory. */
export const DATA_DIR_ENV = 'GOPO_DATA_DIR';

function ancestors(start: string): string[] {
  const out: string[] = [];
  let cur = path.resolve(start);
  for (;;) {
    out.push(cur);
    const parent = path.dirname(cur);
    if (parent === cur) return out;
    cur = parent;
  }
}

/**
 * Where the public data lives: an explicit directory, else $GOPO_DATA_DIR, else the nearest
 * `shared/data` beside an ancestor of the working directory or of this package (a checkout next to
 * ../shared). Returns undefined when none exists.
 */
export function resolveDataDir(explicit?: string): string | undefined {
  if (explicit) return path.resolve(explicit);
  const fromEnv = process.env[DATA_DIR_ENV];
  if (fromEnv) return path.resolve(fromEnv);
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const start of [process.cwd(), here]) {
    for (const dir of ancestors(start)) {
      const candidate = path.join(dir, 'shared', 'data');
      if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    }
  }
  return undefined;
}

/** Like resolveDataDir but throws a clear error explaining how to point at the data. */
export function requireDataDir(explicit?: string): string {
  const dir = resolveDataDir(explicit);
  if (!dir || !existsSync(dir)) {
    throw new MissingFileError(
      dir ?? '(none found)',
      `data directory (pass --data-dir or set ${DATA_DIR_ENV}; run \`gopo data\` to see what it must hold)`,
    );
  }
  return dir;
}

/** Absolute path of a file in the data directory, with a clear error if it is missing. */
export function dataFile(relative: string, explicitDir?: string): string {
  const file = path.join(requireDataDir(explicitDir), relative);
  if (!existsSync(file)) throw new MissingFileError(file, 'data file');
  return file;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export type DataFileStatus = 'ok' | 'missing' | 'mismatch';

export interface DataCheckRow extends DataFileSpec {
  readonly status: DataFileStatus;
  readonly actual?: string;
}

/** Checks every expected file of the data directory (optionally of some data sets) by sha256. */
export async function checkDataDir(dir: string, datasets?: readonly DatasetName[]): Promise<DataCheckRow[]> {
  const rows: DataCheckRow[] = [];
  for (const spec of DATA_FILES) {
    if (datasets && !datasets.includes(spec.dataset)) continue;
    const file = path.join(dir, spec.path);
    if (!existsSync(file)) {
      rows.push({ ...spec, status: 'missing' });
      continue;
    }
    const actual = await sha256File(file);
    rows.push({ ...spec, status: actual === spec.sha256 ? 'ok' : 'mismatch', actual });
  }
  return rows;
}
