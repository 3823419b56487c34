// Regression: a mutated log (found by bad-input-property.test.ts, fast-check seed 1853946611) made
// the WASM scanner trap ("memory access out of bounds": its last line is a session cut short with no
// \n; fixed in assembly/session-scan.ts, see rewards' session-scan.test.ts). gopo eval must answer
// exactly as the JSON reader does: a line error and exit 2, never an internal error.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './bad-input/harness.js';

const log = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'wasm-trap-log.jsonl');

describe('gopo eval on a log that traps the WASM scanner', () => {
  it('gives the JSON reader answer with either reader and one or two workers', async () => {
    const runs = [];
    for (const reader of ['json', 'wasm'])
      for (const workers of ['1', '2'])
        runs.push(
          await runCli([
            'eval',
            log,
            '--reader',
            reader,
            '--workers',
            workers,
            '--resamples',
            '20',
            '--quiet',
          ]),
        );
    for (const r of runs) {
      expect(r.code, r.stderr.join('\n')).toBe(2);
      expect(r.stderr.join('\n')).toMatch(/wasm-trap-log\.jsonl:4 .*invalid JSON/);
      expect(r.stderr.join('\n')).not.toMatch(/internal error|memory access/);
    }
  }, 120_000);
});
