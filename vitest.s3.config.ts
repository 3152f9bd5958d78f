import { defineConfig } from 'vitest/config';

// Tests against a real server that scripts/services/ starts and stops (see test/s3/global-setup.ts).
// Kept out of the main suite; run with `npm run test:s3`.
export default defineConfig({
  test: {
    include: ['test/s3/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts', 'test/s3/global-setup.ts'],
    testTimeout: 180_000,
    // The first fetch downloads the server's Debian packages.
    hookTimeout: 600_000,
    teardownTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // The SDK warns once per worker that its 2027 releases need Node 22 (known: see infra.md).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
