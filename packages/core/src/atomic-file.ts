import * as fsSync from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ensureDir, resolveOutputFile } from './paths.js';
import { tempPathFor, trackTempFile } from './temp-files.js';

/**
 * Writes `data` to `file` so that readers see either the old file or the complete new one, never a
 * partial write: write a temporary file in the same directory, fsync it, then rename over the target.
 * The target is checked first (resolveOutputFile): a folder or a device is refused, a symbolic link
 * to a regular file is written through (its target is replaced, the link stays). The temporary file
 * is named `.NAME.gopo-tmp-PID-RAND` and removed on failure, SIGINT or SIGTERM.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const target = resolveOutputFile(file);
  const tmp = tempPathFor(target);
  const release = trackTempFile(tmp);
  try {
    const handle = await fs.open(tmp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  } finally {
    release();
  }
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const target = resolveOutputFile(file);
  const tmp = tempPathFor(target);
  const release = trackTempFile(tmp);
  try {
    const fd = fsSync.openSync(tmp, 'wx');
    try {
      fsSync.writeFileSync(fd, data);
      fsSync.fsyncSync(fd);
    } finally {
      fsSync.closeSync(fd);
    }
    fsSync.renameSync(tmp, target);
  } catch (e) {
    fsSync.rmSync(tmp, { force: true });
    throw e;
  } finally {
    release();
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A file written in pieces that appears at its path only when `commit()` is called. Until then the
 * data lives in a temporary sibling (named and cleaned up as writeFileAtomic's); `abort()` (or a
 * crash) leaves the target untouched.
 */
export class AtomicFileWriter {
  private readonly target: string;
  private readonly tmp: string;
  private readonly stream: fsSync.WriteStream;
  private readonly release: () => void;
  private done = false;
  /** The stream's first error: kept, so that it fails the next write or commit instead of the process. */
  private failure: Error | null = null;

  constructor(readonly file: string) {
    this.target = resolveOutputFile(file);
    this.tmp = tempPathFor(this.target);
    this.release = trackTempFile(this.tmp);
    this.stream = fsSync.createWriteStream(this.tmp, { flags: 'wx' });
    this.stream.on('error', (e) => {
      this.failure ??= e;
    });
  }

  /** Resolves once the chunk is buffered; waits for drain so memory stays bounded. */
  async write(chunk: string | Uint8Array): Promise<void> {
    if (this.done) throw new Error(`write after commit/abort: ${this.file}`);
    if (this.failure) throw this.failure;
    if (!this.stream.write(chunk)) {
      // Remove both listeners whichever fires, so long writes do not pile up 'error' listeners.
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.stream.off('error', onError);
          resolve();
        };
        const onError = (err: Error) => {
          this.stream.off('drain', onDrain);
          reject(err);
        };
        this.stream.once('drain', onDrain);
        this.stream.once('error', onError);
      });
    }
  }

  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await new Promise<void>((resolve, reject) => {
        this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
      });
      if (this.failure) throw this.failure;
      const handle = await fs.open(this.tmp, 'r+');
      await handle.sync();
      await handle.close();
      await fs.rename(this.tmp, this.target);
    } catch (e) {
      await fs.rm(this.tmp, { force: true });
      throw e;
    } finally {
      this.release();
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await new Promise<void>((resolve) => this.stream.end(() => resolve()));
    await fs.rm(this.tmp, { force: true });
    this.release();
  }
}

/**
 * Writes several files into `dir` through a hidden staging folder inside it (named like a temporary
 * file, removed on failure, SIGINT or SIGTERM): `write` fills the folder and returns the names to
 * publish, which are then renamed into `dir` one by one, each rename atomic.
 */
export async function publishFiles(
  dir: string,
  write: (stage: string) => Promise<readonly string[]>,
): Promise<void> {
  ensureDir(dir);
  const stage = tempPathFor(path.join(dir, 'stage'));
  await fs.mkdir(stage);
  const release = trackTempFile(stage);
  try {
    for (const name of await write(stage)) await fs.rename(path.join(stage, name), path.join(dir, name));
  } finally {
    await fs.rm(stage, { recursive: true, force: true });
    release();
  }
}
