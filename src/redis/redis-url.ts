import type { RedisOptions } from 'ioredis';
import { ErrorCodes, ZendeskEtlError, invalidOption } from '../core/errors.js';

/** A Redis server named by a URL: the options ioredis takes, and the URL fit for logs (no password). */
export interface RedisTarget {
  /** `redis://host:port/db`, without user info: safe to log and to put in errors. */
  shown: string;
  options: RedisOptions;
  /** True when the URL carries a password (then it belongs in ZENDESK_ETL_REDIS_URL, not in argv). */
  hasPassword: boolean;
}

const EXPECTED = 'a redis:// or rediss:// URL such as redis://127.0.0.1:6379 (a database as /N; a password as redis://:PASSWORD@host, best given in ZENDESK_ETL_REDIS_URL)';

/**
 * Read a Redis URL (`redis://[user[:password]@]host[:port][/db]`, `rediss://` for TLS). Errors name
 * `option` and show the URL without its user info.
 */
export function redisTarget(url: string, option = 'redis'): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidOption(option, EXPECTED, '(not a URL)');
  }
  const shown = `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw invalidOption(option, EXPECTED, shown);
  if (u.hostname === '') throw invalidOption(option, EXPECTED, shown);
  if (u.search !== '' || u.hash !== '') throw invalidOption(option, `${EXPECTED}, without a query`, shown);
  const db = u.pathname === '' || u.pathname === '/' ? 0 : Number(u.pathname.slice(1));
  if (!Number.isInteger(db) || db < 0 || db > 1_000_000) throw invalidOption(option, `${EXPECTED}; the database is a whole number`, shown);
  const port = u.port === '' ? 6379 : Number(u.port);
  const options: RedisOptions = {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return { shown, options, hasPassword: u.password !== '' };
}

/** A Redis error (or any error met talking to Redis) as a coded, retriable error naming the server. */
export function redisError(target: RedisTarget, doing: string, err: unknown): ZendeskEtlError {
  if (err instanceof ZendeskEtlError) return err;
  const e = err as NodeJS.ErrnoException;
  const why = e.code ?? e.message ?? String(err);
  return new ZendeskEtlError(ErrorCodes.NETWORK, `Redis at ${target.shown} (--redis or ZENDESK_ETL_REDIS_URL) failed while ${doing}: ${why}`, { url: target.shown }, { cause: err });
}
