import { Redis, type RedisOptions } from 'ioredis';
import { redisError, type RedisTarget } from './redis-url.js';

/** How long the first connection may take before the run gives up (Redis down, wrong host). */
export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A connected ioredis client, or a coded error within `CONNECT_TIMEOUT_MS`: a run never hangs on a
 * Redis that is not there. Once connected it reconnects on its own; a command fails after a few
 * reconnection attempts instead of waiting forever (`maxRetriesPerRequest`), unless `extra` says otherwise.
 */
export async function connectRedis(target: RedisTarget, doing: string, extra: RedisOptions = {}): Promise<Redis> {
  const client = new Redis({
    ...target.options,
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 3,
    retryStrategy: (times: number) => Math.min(times * 200, 2_000),
    ...extra,
  });
  // Errors also reach the caller through commands; the event only keeps ioredis from printing them.
  client.on('error', () => undefined);
  try {
    await withTimeout(client.connect(), CONNECT_TIMEOUT_MS + 1_000);
  } catch (err) {
    client.disconnect();
    throw redisError(target, `connecting ${doing}`, err);
  }
  return client;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
