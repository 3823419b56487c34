import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Vitest project settings shared by every package: workspace imports (`@gopo/x`) resolve to the
 * package's src/index.ts so tests never need a build.
 */
export function gopoProject(name: string, extra: UserWorkspaceConfig['test'] = {}) {
  return defineProject({
    resolve: {
      alias: [
        { find: /^@gopo\/([a-z-]+)\/testing$/, replacement: `${packagesDir}$1/src/testing.ts` },
        { find: /^@gopo\/([a-z-]+)$/, replacement: `${packagesDir}$1/src/index.ts` },
      ],
    },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      ...extra,
    },
  });
}
