import { defineConfig } from 'vitest/config';

// Tests against a real server that scripts/services/ starts and stops (see test/redis/global-setup.ts).
// Kept out of the main suite; run with `npm run test:redis`.
export default defineConfig({
  test: {
    include: ['test/redis/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts', 'test/redis/global-setup.ts'],
    testTimeout: 180_000,
    // The first fetch downloads the server's Debian packages.
    hookTimeout: 600_000,
    teardownTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
