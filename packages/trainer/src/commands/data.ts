import {
  checkDataDir,
  DATA_DIR_ENV,
  DATA_FILES,
  DATASET_SOURCES,
  type DatasetName,
  defineCommand,
  MissingFileError,
  OutputFormatSchema,
  resolveDataDir,
} from '@gopo/core';
import { z } from 'zod';

const DATASETS = Object.keys(DATASET_SOURCES) as [DatasetName, ...DatasetName[]];

/**
 * `gopo data [check [dir]]`: where the public data comes from, and whether a directory holds the
 * expected files (file list and sha256 against the manifest, with what is missing and where to get it).
 */
export const dataCommand = defineCommand({
  path: ['data'],
  describe: 'show where the public data sets come from and check a data directory (file list and sha256)',
  positionals: [
    { name: 'action', optional: true },
    { name: 'dir', optional: true },
  ],
  options: z.object({
    action: z
      .enum(['check'])
      .optional()
      .describe('check: check the directory given next (default: the data directory)'),
    dir: z
      .string()
      .optional()
      .describe('the directory to check (default: --data-dir, $GOPO_DATA_DIR or ../shared/data)'),
    dataset: z
      .array(z.enum(DATASETS))
      .optional()
      .describe(`only these data sets (${DATASETS.join(', ')})`),
    format: OutputFormatSchema,
  }),
  globals: [],
  examples: [
    ['gopo data', 'check the default data directory'],
    ['gopo data check ~/gopo-data', 'check a directory you provide: every file, its sha256, what is missing'],
    [
      'gopo data --data-dir ~/gopo-data --dataset taubench_retail',
      'check one data set in a directory you provide',
    ],
  ],
  async run(args, ctx) {
    const dir = args.dir ?? resolveDataDir(ctx.dataDir);
    const datasets = args.dataset ?? DATASETS;
    if (!dir && args.format === 'json') {
      const files = DATA_FILES.filter((f) => datasets.includes(f.dataset));
      ctx.out(JSON.stringify({ dir: null, ok: false, files }, null, 2));
    } else if (!dir) {
      ctx.out(`No data directory found. Pass --data-dir or set ${DATA_DIR_ENV}. It must hold:`);
      for (const ds of datasets) {
        ctx.out(`  ${ds}: ${DATASET_SOURCES[ds].upstream} [${DATASET_SOURCES[ds].license}]`);
        for (const f of DATA_FILES.filter((x) => x.dataset === ds))
          ctx.out(`    ${f.path}  sha256 ${f.sha256}`);
      }
    }
    if (!dir) throw new MissingFileError('(none)', 'data directory');
    const rows = await checkDataDir(dir, datasets);
    const bad = rows.filter((r) => r.status !== 'ok');
    if (args.format === 'json') {
      ctx.out(JSON.stringify({ dir, ok: bad.length === 0, files: rows }, null, 2));
    } else {
      ctx.out(`data directory: ${dir}`);
      for (const ds of datasets) {
        const dsRows = rows.filter((r) => r.dataset === ds);
        const okCount = dsRows.filter((r) => r.status === 'ok').length;
        ctx.out(
          `  ${ds.padEnd(16)} ${okCount}/${dsRows.length} ok   upstream: ${DATASET_SOURCES[ds].upstream}`,
        );
        for (const r of dsRows)
          if (args.action === 'check' || r.status !== 'ok')
            ctx.out(
              `    ${r.status.padEnd(8)} ${r.path}${r.status === 'mismatch' ? `  sha256 ${r.actual}, expected ${r.sha256}` : ''}`,
            );
        if (dsRows.some((r) => r.status !== 'ok'))
          ctx.out(`    get ${ds} from ${DATASET_SOURCES[ds].upstream} [${DATASET_SOURCES[ds].license}]`);
      }
      if (bad.length) ctx.out(`${bad.length} of ${rows.length} files missing or different`);
    }
    return bad.length === 0 ? 0 : 2;
  },
});
