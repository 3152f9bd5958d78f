import Bottleneck from 'bottleneck';
import type { Redis } from 'ioredis';
import { invalidOption } from '../core/errors.js';
import { redisError, redisTarget, type RedisTarget } from '../redis/redis-url.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { StreamName } from '../streams.js';
import type { PaginationMode } from '../core/position.js';

/**
 * The gate every export request passes: one request per slot, slots spaced to stay under Zendesk's
 * limit. Locally a Bottleneck in this process; with Redis, a bottleneck cluster keyed per account
 * (origin) and limit family, so every process on any machine that exports the account shares one
 * budget, and a 429 pauses them all.
 */
export interface RequestGate {
  /** True when the budget is shared through Redis. */
  readonly shared: boolean;
  /** The spacing of slots, ms. */
  readonly minTime: number;
  /** Wait for a slot to send one request. */
  take(signal?: AbortSignal): Promise<void>;
  /** A 429 said "Retry-After ms": hold every process sharing this budget that long (shared only). */
  pause(ms: number): Promise<void>;
  /** Give back what the gate holds (Redis connections). */
  close(): Promise<void>;
}

/**
 * Zendesk's limits: the incremental exports share one per account; the cursor-based user export has
 * its own.
 */
export type LimitFamily = 'incremental-exports' | 'users-cursor';

export function limitFamily(stream: StreamName, mode: PaginationMode): LimitFamily {
  return stream === 'users' && mode === 'cursor' ? 'users-cursor' : 'incremental-exports';
}

/** Slots 1% wider than the limit, so a sliding window on Zendesk's side never sees one request too many. */
export function localMinTime(rate: number): number {
  return Math.ceil((60_000 / rate) * 1.01);
}

/**
 * Across processes a request leaves a few ms to ~90 ms after its slot (event loops under load,
 * measured with three processes); each slot gets that much more room on top of the 1%.
 */
export const SHARED_JITTER_MS = 100;

export function sharedMinTime(rate: number): number {
  return localMinTime(rate) + SHARED_JITTER_MS;
}

/**
 * A slot held by a process that dies (kill -9) is freed this long after it was granted: a slot is
 * granted at most `minTime` before it is used, and the job that holds it ends at once.
 */
export const SLOT_EXPIRATION_EXTRA_MS = 5_000;

/** How often each process's limiter looks at the shared state (and so finds expired slots). */
export const SHARED_HEARTBEAT_MS = 1_000;

/** The limiter's keys in Redis go away after this long unused (so do stricter settings left behind). */
export const SHARED_IDLE_TIMEOUT_MS = 10 * 60_000;

export interface GateOptions {
  /** Requests per minute, > 0. */
  rate: number;
  /** The account: `https://acme.zendesk.com`. */
  origin: string;
  family: LimitFamily;
  /** Redis URL: share the budget with every process using the same Redis. */
  redis?: string | undefined;
  /** A caller's own local limiter (shared between the streams of one process). Wins over `redis`. */
  limiter?: Bottleneck | undefined;
  log?: Logger | undefined;
}

/** The gate for one source. */
export function createRequestGate(o: GateOptions): RequestGate {
  if (o.limiter) return new LocalGate(o.limiter, 0);
  if (!(o.rate > 0) || !Number.isFinite(o.rate)) throw invalidOption('rateLimit', 'a number of requests per minute above 0 for a rate limit gate', o.rate);
  if (o.redis !== undefined) return new SharedGate(redisTarget(o.redis), o);
  const minTime = localMinTime(o.rate);
  return new LocalGate(new Bottleneck({ maxConcurrent: 1, minTime }), minTime);
}

class LocalGate implements RequestGate {
  readonly shared = false;
  readonly #limiter: Bottleneck;
  readonly minTime: number;

  constructor(limiter: Bottleneck, minTime: number) {
    this.#limiter = limiter;
    this.minTime = minTime;
  }

  async take(): Promise<void> {
    await this.#limiter.schedule(() => Promise.resolve());
  }

  /** One process: the source itself waits Retry-After; nothing else to tell. */
  async pause(): Promise<void> {}

  async close(): Promise<void> {}
}

/** The Redis keys of an account's budget. */
export function sharedLimitKeys(origin: string, family: LimitFamily): { limiter: string; pause: string } {
  return { limiter: `zendesk-etl:limit:${origin}:${family}`, pause: `zendesk-etl:pause:${origin}:${family}` };
}

// Set the pause unless a longer one is already set: two 429s never shorten a pause.
const PAUSE_SCRIPT = `local left = redis.call('pttl', KEYS[1])
if left < tonumber(ARGV[1]) then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[1]) return 1 end
return 0`;

class SharedGate implements RequestGate {
  readonly shared = true;
  readonly minTime: number;
  readonly #target: RedisTarget;
  readonly #opts: GateOptions;
  readonly #keys: { limiter: string; pause: string };
  #ready: Promise<SharedLimiter> | undefined;
  #closed = false;

  constructor(target: RedisTarget, o: GateOptions) {
    this.#target = target;
    this.#opts = o;
    this.minTime = sharedMinTime(o.rate);
    this.#keys = sharedLimitKeys(o.origin, o.family);
  }

  get #log(): Logger {
    return this.#opts.log ?? silentLogger;
  }

  /** Connect on first use: a source that never sends a request never opens a connection. */
  #open(): Promise<SharedLimiter> {
    if (this.#closed) return Promise.reject(new Error('the rate limit gate is closed'));
    this.#ready ??= acquireLimiter(this.#target, this.#keys.limiter, this.minTime, this.#opts);
    const ready = this.#ready;
    // A failed setup is tried again on the next request (the page is retried with backoff).
    ready.catch(() => {
      if (this.#ready === ready) this.#ready = undefined;
    });
    return ready;
  }

  async take(signal?: AbortSignal): Promise<void> {
    try {
      const { conn, limiter } = await this.#open();
      for (;;) {
        await this.#waitWhilePaused(conn.client, signal);
        await untilAborted(limiter.schedule({ expiration: this.minTime + SLOT_EXPIRATION_EXTRA_MS }, () => Promise.resolve()), signal);
        // A 429 may have come while this process waited for its slot: then the slot is given up,
        // and a new one taken after the pause, so the processes do not all send the moment it ends.
        if ((await conn.client.pttl(this.#keys.pause)) <= 0) return;
      }
    } catch (err) {
      if (signal?.aborted) throw err;
      throw redisError(this.#target, 'waiting for a slot of the shared rate limit', err);
    }
  }

  async #waitWhilePaused(client: Redis, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      const left = await client.pttl(this.#keys.pause);
      if (left <= 0) return;
      this.#log.debug('another process of this account was told to wait (429): waiting too', { account: this.#opts.origin, wait_ms: left });
      await sleep(left, signal);
    }
  }

  async pause(ms: number): Promise<void> {
    if (ms <= 0) return;
    try {
      const { conn } = await this.#open();
      await conn.client.eval(PAUSE_SCRIPT, 1, this.#keys.pause, String(Math.ceil(ms)));
    } catch (err) {
      // This process waits Retry-After anyway; the others will meet the 429 themselves.
      this.#log.warn('could not tell the other processes of this account to wait (429)', { error: redisError(this.#target, 'pausing the shared rate limit', err).message });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const ready = this.#ready;
    if (!ready) return;
    let shared: SharedLimiter;
    try {
      shared = await ready;
    } catch {
      return;
    }
    await releaseLimiter(shared);
  }
}

/**
 * One Redis connection pair per URL in a process, and on it one bottleneck per account and limit
 * family (bottleneck keys its subscriptions by limiter id, so two limiters with one id on one connection
 * would steal each other's messages). Gates share them, and the last to close closes them.
 */
interface SharedConnection {
  key: string;
  client: Redis;
  bottleneck: Bottleneck.IORedisConnection;
  limiters: Map<string, Promise<SharedLimiter>>;
  refs: number;
  closed: boolean;
}

interface SharedLimiter {
  id: string;
  conn: SharedConnection;
  limiter: Bottleneck;
  minTime: number;
  refs: number;
  closed: boolean;
}

const connections = new Map<string, Promise<SharedConnection>>();

async function acquireConnection(target: RedisTarget): Promise<SharedConnection> {
  const key = JSON.stringify(target.options);
  let pending = connections.get(key);
  if (!pending) {
    pending = (async () => {
      // ioredis is loaded only by runs that share a limit: loading it costs every run ~6 MB of RSS and ~40 ms.
      const { connectRedis } = await import('../redis/redis-client.js');
      const client = await connectRedis(target, 'for the shared rate limit');
      // bottleneck subscribes on a duplicate of this client, which must connect by itself.
      client.options.lazyConnect = false;
      const bottleneck = new Bottleneck.IORedisConnection({ client });
      bottleneck.on('error', () => undefined);
      return { key, client, bottleneck, limiters: new Map(), refs: 0, closed: false };
    })();
    connections.set(key, pending);
    pending.catch(() => connections.delete(key));
  }
  const conn = await pending;
  // Closed by its last user while this one waited: open a new one.
  if (conn.closed) return acquireConnection(target);
  conn.refs++;
  return conn;
}

async function releaseConnection(conn: SharedConnection): Promise<void> {
  if (--conn.refs > 0) return;
  conn.closed = true;
  connections.delete(conn.key);
  await conn.bottleneck.disconnect(true).catch(() => conn.client.disconnect());
}

async function acquireLimiter(target: RedisTarget, id: string, minTime: number, o: GateOptions): Promise<SharedLimiter> {
  const conn = await acquireConnection(target);
  const log = o.log ?? silentLogger;
  try {
    let pending = conn.limiters.get(id);
    if (!pending) {
      pending = (async () => {
        // The limiter holds a reference to the connection of its own, given back in releaseLimiter.
        conn.refs++;
        try {
          const limiter = new Bottleneck({ id, datastore: 'ioredis', connection: conn.bottleneck, maxConcurrent: 1, minTime, timeout: SHARED_IDLE_TIMEOUT_MS, heartbeatInterval: SHARED_HEARTBEAT_MS });
          limiter.on('error', (err: unknown) => log.warn('the shared rate limiter reported an error', { redis: target.shown, error: String(err) }));
          await limiter.ready();
          return { id, conn, limiter, minTime: 0, refs: 0, closed: false };
        } catch (err) {
          await releaseConnection(conn);
          throw err;
        }
      })();
      conn.limiters.set(id, pending);
      pending.catch(() => conn.limiters.delete(id));
    }
    const shared = await pending;
    if (shared.closed) {
      await releaseConnection(conn);
      return acquireLimiter(target, id, minTime, o);
    }
    shared.refs++;
    try {
      // Processes that share an account share the strictest spacing any of them asked for.
      const stored = Number(await conn.client.hget(`b_${id}_settings`, 'minTime'));
      if (!(stored >= minTime)) await shared.limiter.updateSettings({ minTime });
      const spacing = Math.max(stored || 0, minTime);
      if (spacing !== shared.minTime) {
        shared.minTime = spacing;
        log.info('sharing the rate limit through Redis', { account: o.origin, limit: o.family, redis: target.shown, slot_ms: spacing, ...(spacing > minTime ? { note: 'another process asked for a stricter limit' } : {}) });
      }
    } catch (err) {
      await releaseLimiter(shared);
      throw err;
    }
    await releaseConnection(conn);
    return shared;
  } catch (err) {
    await releaseConnection(conn);
    throw redisError(target, 'setting up the shared rate limit', err);
  }
}

async function releaseLimiter(shared: SharedLimiter): Promise<void> {
  if (--shared.refs > 0) return;
  shared.closed = true;
  shared.conn.limiters.delete(shared.id);
  try {
    // With a shared connection this only unsubscribes (and returns no promise).
    await shared.limiter.disconnect(false);
  } catch {
    // closing anyway
  }
  await releaseConnection(shared.conn);
}

/** `p`, unless `signal` aborts first (a slot granted after that is simply not used). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
