import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { redisUrl } from '../support/services.js';

/**
 * A connection to the suite's Redis for a test file to look into it with: opened (and pinged) before
 * the file's tests, closed after them. Call at the top of the file; use the getter inside tests.
 */
export function redisForFile(): () => Redis {
  let redis: Redis | undefined;
  beforeAll(async () => {
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    await redis.ping();
  });
  afterAll(async () => {
    await redis?.quit();
  });
  return () => {
    if (!redis) throw new Error('the Redis connection is opened in beforeAll: use it inside tests');
    return redis;
  };
}
