import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { siblingModule, startModuleWorker } from './module-worker.js';

describe('module workers', () => {
  it('siblingModule picks the .ts module from source and the .js one from dist', () => {
    expect(siblingModule('file:///p/src/pool.ts', 'worker').href).toBe('file:///p/src/worker.ts');
    expect(siblingModule('file:///p/dist/pool.js', 'worker').href).toBe('file:///p/dist/worker.js');
  });

  it('startModuleWorker runs a TypeScript module with its workerData', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gopo-worker-'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    const file = join(dir, 'double.ts');
    writeFileSync(
      file,
      "import { parentPort, workerData } from 'node:worker_threads';\nconst n: number = workerData.n;\nparentPort!.postMessage(n * 2);\n",
    );
    const w = startModuleWorker(pathToFileURL(file), { workerData: { n: 21 } });
    const answer = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(answer).toBe(42);
    await w.terminate();
  });
});
