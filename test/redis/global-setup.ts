import { startService } from '../support/service-lifecycle.js';

/** vitest globalSetup: a real Redis 7 for test/redis; see scripts/services/redis.sh. */
export default function setup(): Promise<() => Promise<void>> {
  return startService('redis');
}
