import type { CliContext } from './cli-spec.js';
import { silentLogger } from './logger.js';

/** A command context for tests: silent logger, CPU, and every line the command prints kept in `output`. */
export function testCliContext(overrides: Partial<CliContext> = {}): { ctx: CliContext; output: string[] } {
  const output: string[] = [];
  const ctx: CliContext = {
    logger: silentLogger(),
    seed: 1,
    device: 'cpu',
    given: new Set(),
    configFile: undefined,
    overrides: [],
    dataDir: undefined,
    quiet: true,
    out: (t) => output.push(t),
    ...overrides,
  };
  return { ctx, output };
}
