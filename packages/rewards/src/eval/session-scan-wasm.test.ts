import { describe, expect, it } from 'vitest';
import { compileSessionScan, sourceHash } from '../../scripts/session-scan-build.js';
import { SESSION_SCAN_SOURCE_SHA256, SESSION_SCAN_WASM_BASE64 } from './session-scan-wasm.js';

describe('the shipped session scanner', () => {
  it('was built from the current assembly/session-scan.ts (run `pnpm build:wasm` after editing it)', () => {
    expect(SESSION_SCAN_SOURCE_SHA256).toBe(sourceHash());
  });

  it('is what the compiler makes of that source today', async () => {
    const wasm = await compileSessionScan();
    expect(Buffer.from(wasm).toString('base64')).toBe(SESSION_SCAN_WASM_BASE64);
  });
});
