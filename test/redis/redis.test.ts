/**
 * What the real Redis (started by test/redis/global-setup.ts) gives the rate limiter: ioredis works, and
 * bottleneck's Redis clustering makes two limiter instances share one schedule.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisHostPort, redisUrl } from '../support/services.js';

let redis: Redis;

beforeAll(async () => {
  redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});

afterAll(async () => {
  await redis.quit();
});

describe('Redis', () => {
  it('ioredis round-trips a key', async () => {
    const key = `zde:test:${randomUUID()}`;
    expect(await redis.set(key, 'value é ✓', 'PX', 60_000)).toBe('OK');
    expect(await redis.get(key)).toBe('value é ✓');
    expect(await redis.del(key)).toBe(1);
    expect(await redis.get(key)).toBeNull();
  });

  it('is Redis 7', async () => {
    const info = await redis.info('server');
    expect(info).toMatch(/redis_version:7\./);
  });
});

describe('bottleneck clustering over Redis', () => {
  it('two limiter instances with one id share minTime and maxConcurrent', async () => {
    const minTime = 200;
    const perLimiter = 5;
    const { host, port } = redisHostPort();
    const id = `zde-test-${randomUUID()}`;
    const make = (): Bottleneck =>
      new Bottleneck({
        datastore: 'ioredis',
        Redis,
        clientOptions: { host, port },
        id,
        minTime,
        maxConcurrent: 1,
        // Redis keys of this limiter go away a minute after the test.
        timeout: 60_000,
      });
    const limiters = { A: make(), B: make() };
    try {
      await Promise.all([limiters.A.ready(), limiters.B.ready()]);

      interface Run {
        who: 'A' | 'B';
        n: number;
        start: number;
        end: number;
      }
      const runs: Run[] = [];
      let running = 0;
      let maxRunning = 0;
      const job = async (who: 'A' | 'B', n: number): Promise<void> => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        const start = performance.now();
        await sleep(30);
        running -= 1;
        runs.push({ who, n, start, end: performance.now() });
      };

      const scheduled: Promise<void>[] = [];
      for (let n = 0; n < perLimiter; n += 1) {
        scheduled.push(limiters.A.schedule(() => job('A', n)));
        scheduled.push(limiters.B.schedule(() => job('B', n)));
      }
      await Promise.all(scheduled);

      // Every job ran once.
      expect(runs).toHaveLength(2 * perLimiter);
      const byStart = [...runs].sort((x, y) => x.start - y.start);
      // Both instances got slots from the shared schedule.
      expect(new Set(runs.map((r) => r.who))).toEqual(new Set(['A', 'B']));
      // Each instance runs its own jobs in submission order.
      for (const who of ['A', 'B'] as const) {
        expect(byStart.filter((r) => r.who === who).map((r) => r.n)).toEqual([0, 1, 2, 3, 4]);
      }
      // maxConcurrent 1 across both instances: never two jobs at once, each starts after the last ended.
      expect(maxRunning).toBe(1);
      for (let i = 1; i < byStart.length; i += 1) {
        const prev = byStart[i - 1];
        const cur = byStart[i];
        if (!prev || !cur) throw new Error('unreachable');
        expect(cur.start).toBeGreaterThanOrEqual(prev.end);
      }
      // minTime across both instances: 10 starts need at least 9 gaps of 200 ms (generous lower bound).
      const first = byStart[0];
      const last = byStart[byStart.length - 1];
      if (!first || !last) throw new Error('unreachable');
      expect(last.start - first.start).toBeGreaterThanOrEqual((2 * perLimiter - 1) * minTime * 0.75);

      // The shared state lives in Redis under the limiter's id.
      expect(await redis.exists(`b_${id}_settings`)).toBe(1);
    } finally {
      await Promise.all([limiters.A.disconnect(), limiters.B.disconnect()]);
    }
  });
});
