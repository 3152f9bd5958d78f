import { defineConfig } from 'vitest/config';

/** The long kill -9 runs (npm run test:crash), kept out of npm test so that it stays quick. */
export default defineConfig({
  test: {
    include: ['test/crash/**/*.test.ts'],
    testTimeout: 600_000,
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
  },
});
