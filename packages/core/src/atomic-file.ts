import { randomBytes } from 'node:crypto';
import * as fsSync from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes `data` to `file` so that readers see either the old file or the complete new one, never a
 * partial write: write a temporary file in the same directory, fsync it, then rename over the target.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  fsSync.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  try {
    const fd = fsSync.openSync(tmp, 'w');
    try {
      fsSync.writeFileSync(fd, data);
      fsSync.fsyncSync(fd);
    } finally {
      fsSync.closeSync(fd);
    }
    fsSync.renameSync(tmp, file);
  } catch (e) {
    fsSync.rmSync(tmp, { force: true });
    throw e;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A file written in pieces that appears at its path only when `commit()` is called. Until then the
 * data lives in a temporary sibling; `abort()` (or a crash) leaves the target untouched.
 */
export class AtomicFileWriter {
  private readonly tmp: string;
  private readonly stream: fsSync.WriteStream;
  private done = false;

  constructor(readonly file: string) {
    fsSync.mkdirSync(path.dirname(file), { recursive: true });
    this.tmp = tempPathFor(file);
    this.stream = fsSync.createWriteStream(this.tmp, { flags: 'w' });
  }

  /** Resolves once the chunk is buffered; waits for drain so memory stays bounded. */
  async write(chunk: string | Uint8Array): Promise<void> {
    if (this.done) throw new Error(`write after commit/abort: ${this.file}`);
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
    await new Promise<void>((resolve, reject) => {
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
    const handle = await fs.open(this.tmp, 'r+');
    await handle.sync();
    await handle.close();
    await fs.rename(this.tmp, this.file);
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await new Promise<void>((resolve) => this.stream.end(() => resolve()));
    await fs.rm(this.tmp, { force: true });
  }
}
