import { checkDataDir, defineCommand, resolveDataDir } from '@gopo/core';
import { z } from 'zod';

/**
 * `gopo demo`: the main job on a small embedded default. It grows with the project: today it checks the
 * data directory; the GOPO issues extend it into simulate -> train -> evaluate.
 */
export const demoCommand = defineCommand({
  path: ['demo'],
  describe: 'run the main job on a small embedded default and print its result',
  options: z.object({
    scenarios: z.number().int().min(1).default(200).describe('scenarios to simulate per policy'),
  }),
  async run(_args, ctx) {
    const dir = resolveDataDir(ctx.dataDir);
    const rows = dir ? await checkDataDir(dir) : [];
    ctx.out(
      `data directory: ${dir ?? '(none)'}: ${rows.filter((r) => r.status === 'ok').length}/${rows.length} files ok`,
    );
    return 0;
  },
});
