import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const distWeb = fileURLToPath(new URL('./dist/web', import.meta.url));

// One config for the web app (issue 7) and the test suite. The app is built with root=web
// (scripts/build-web.mjs passes it); the test section keeps the repository root.
export default defineConfig({
  root: '.',
  // Relative URLs: dist/web works from any path of any static server.
  base: './',
  build: {
    outDir: distWeb,
    emptyOutDir: true,
    target: 'es2022',
    // The worker bundle holds v86 (about 0.5 MB); that is expected, not a warning.
    chunkSizeWarningLimit: 1500,
  },
  // Module workers: the guest worker imports v86 and the agent protocol as ES modules.
  worker: { format: 'es' },
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
