#!/usr/bin/env node
// The project's test command: lint, typecheck, then every package's vitest project in one run.
// Ends with one line `N passed, N failed, N skipped` over all packages (lint and typecheck count as a
// failure each when they fail), also written to .reports/totals.txt for .ci/run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const reports = '.reports';
mkdirSync(reports, { recursive: true });
const vitestJson = `${reports}/vitest.json`;
rmSync(vitestJson, { force: true });

function stage(name, cmd, args) {
  process.stdout.write(`\n== ${name}: ${cmd} ${args.join(' ')}\n`);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: process.env });
  const ok = r.status === 0;
  process.stdout.write(
    `== ${name}: ${ok ? 'ok' : `FAILED (exit ${r.status ?? r.signal})`} in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`,
  );
  return ok;
}

const bin = (name) => `node_modules/.bin/${name}`;
const lintOk = stage('lint', bin('biome'), ['check', '.']);
const typecheckOk = stage('typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
const testsOk = stage('tests', bin('vitest'), [
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${vitestJson}`,
]);

let passed = 0;
let failed = (lintOk ? 0 : 1) + (typecheckOk ? 0 : 1);
let skipped = 0;
if (existsSync(vitestJson)) {
  const r = JSON.parse(readFileSync(vitestJson, 'utf8'));
  passed = r.numPassedTests;
  skipped = r.numPendingTests + r.numTodoTests;
  failed += r.numFailedTests;
  // A test file that fails to load has no failed tests of its own: count the file.
  for (const file of r.testResults ?? []) {
    if (file.status === 'failed' && !(file.assertionResults ?? []).some((a) => a.status === 'failed'))
      failed++;
  }
} else {
  failed++;
}
if (!testsOk && failed === 0) failed = 1;

const totals = `${passed} passed, ${failed} failed, ${skipped} skipped`;
writeFileSync(`${reports}/totals.txt`, `${totals}\n`);
process.stdout.write(`\n${totals}\n`);
process.exitCode = failed === 0 && testsOk ? 0 : 1;
