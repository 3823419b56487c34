import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('../packages/', import.meta.url));

export default defineProject({
  resolve: { alias: [{ find: /^@gopo\/([a-z-]+)$/, replacement: `${packagesDir}$1/src/index.ts` }] },
  test: {
    name: 'examples',
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 300_000,
  },
});
