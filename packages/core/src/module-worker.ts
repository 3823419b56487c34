/**
 * Worker threads on a module of the calling package, started the same way from TypeScript sources
 * (tests, benches and dev runs under the `@gopo/source` condition) and from the built dist.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Module `stem` beside the caller: `stem.ts` when the caller runs from its source, else `stem.js`. */
export function siblingModule(callerUrl: string, stem: string): URL {
  return new URL(`./${stem}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`, callerUrl);
}

/**
 * Starts a worker thread on the module at `url`. Plain Node cannot load a .ts module: that one is
 * started through tsx's loader, with the @gopo/source condition, from a small bootstrap script.
 */
export function startModuleWorker(url: URL, options: Pick<WorkerOptions, 'workerData'> = {}): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  // tsx's ESM entry (require.resolve finds the CJS twin beside it).
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { ...options, eval: true, execArgv: ['--conditions=@gopo/source'] });
}
