import { defineConfig } from 'vitest/config';

// One config for the web app (issue 7) and the test suite.
export default defineConfig({
  root: '.',
  test: {
    include: ['test/**/*.test.ts', 'shared/**/*.test.ts', 'backend-*/**/*.test.ts', 'cli/**/*.test.ts'],
    // Integration tests start real containers; each file gets its own process.
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
