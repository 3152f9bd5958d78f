import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The sample pipelines import the package by name, as a user's project would; here that is the source.
  resolve: { alias: [{ find: /^zendesk-stream-etl$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }] },
  test: {
    include: ['test/**/*.test.ts'],
    // Suites that need a real S3 or Redis server, and the long kill -9 runs, have scripts of their own
    // (npm run test:s3, test:redis, test:crash).
    exclude: ['**/node_modules/**', '**/.git/**', 'test/s3/**', 'test/redis/**', 'test/crash/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Two cores: forks in parallel, each test file its own process.
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
