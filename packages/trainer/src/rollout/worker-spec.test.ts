import { describe, expect, it } from 'vitest';
import { DEFAULT_WARM_START_DIR } from '../gopo/run.js';
import { buildWorkerRoles, RolloutWorkerSpecSchema } from './worker-spec.js';

describe('buildWorkerRoles', () => {
  it.each([
    { sopMasking: undefined, masked: true },
    { sopMasking: false, masked: false },
    { sopMasking: true, masked: true },
  ])(
    "a worker's Expert Agent is unmasked exactly when the spec says so (sopMasking $sopMasking)",
    async ({ sopMasking, masked }) => {
      const spec = RolloutWorkerSpecSchema.parse({
        policy: {
          kind: 'expert',
          dir: DEFAULT_WARM_START_DIR,
          ...(sopMasking === undefined ? {} : { sopMasking }),
        },
      });
      const built = await buildWorkerRoles(spec);
      try {
        expect(built.agent!.masked).toBe(masked);
        expect(built.roles.strategy.masked ?? true).toBe(masked);
      } finally {
        await built.reply.close();
      }
    },
  );
});
