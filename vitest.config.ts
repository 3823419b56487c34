import { defineConfig } from 'vitest/config';

// One run over every package: each package folder is a vitest project with its own config.
export default defineConfig({
  test: {
    projects: ['packages/*', 'examples'],
    reporters: ['default'],
  },
});
