import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Agent, request, type Dispatcher } from 'undici';
import type { Credentials } from '../auth.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { redactUrl } from '../core/url.js';
import { VERSION } from '../version.js';
import { OPTION_DEFAULTS } from '../options/table.js';

/**
 * HTTP for the exporter: undici `request()` on one keep-alive agent, with connect, headers and
 * body-idle timeouts, gzip, and every failure turned into a coded error that says whether to retry.
 */

export interface HttpTimeouts {
  /** Connecting (TCP + TLS), ms. Default 10 s. */
  connect?: number;
  /** Waiting for the response headers, ms. Default 120 s (big export pages are slow to start). */
  headers?: number;
  /** The longest silence while the body streams, ms. Default 60 s. */
  bodyIdle?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The decoded body. Read it, or destroy it. */
  body: Readable;
  url: string;
}

const USER_AGENT = `zendesk-stream-etl/${VERSION} (+https://www.npmjs.com/package/zendesk-stream-etl)`;

export class ZendeskHttp {
  readonly origin: string;
  readonly #credentials: Credentials;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;

  constructor(origin: string, credentials: Credentials, timeouts: HttpTimeouts = {}, dispatcher?: Dispatcher) {
    this.origin = origin;
    this.#credentials = credentials;
    this.#ownsDispatcher = dispatcher === undefined;
    this.#dispatcher =
      dispatcher ??
      new Agent({
        connect: { timeout: timeouts.connect ?? OPTION_DEFAULTS['timeouts.connect'] },
        headersTimeout: timeouts.headers ?? OPTION_DEFAULTS['timeouts.headers'],
        bodyTimeout: timeouts.bodyIdle ?? OPTION_DEFAULTS['timeouts.bodyIdle'],
        keepAliveTimeout: 30_000,
        connections: 4,
      });
  }

  /** GET `pathAndQuery` on the configured origin. Non-2xx answers throw coded errors. */
  async get(pathAndQuery: string, signal?: AbortSignal): Promise<HttpResponse> {
    const url = new URL(pathAndQuery, this.origin);
    if (url.origin !== this.origin) throw new ZendeskEtlError(ErrorCodes.FOREIGN_ORIGIN, `refusing a request off the configured origin ${this.origin}`, { url: redactUrl(url.toString()) });
    const shown = redactUrl(url.toString());
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'GET',
        dispatcher: this.#dispatcher,
        signal,
        headers: {
          authorization: this.#credentials.authorization(),
          accept: 'application/json',
          'accept-encoding': 'gzip',
          'user-agent': USER_AGENT,
        },
      });
    } catch (err) {
      throw this.networkError(err, shown);
    }
    const headers = res.headers;
    const encoding = String(headers['content-encoding'] ?? '').toLowerCase();
    let body: Readable = res.body;
    if (encoding === 'gzip') {
      const gunzip = createGunzip();
      // pipeline() forwards a failure of either side to the other; the reader sees it on `body`.
      pipeline(res.body, gunzip).catch(() => undefined);
      body = gunzip;
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      const type = String(headers['content-type'] ?? '');
      if (type !== '' && !/json/i.test(type)) {
        const sample = await readSome(body, 200);
        throw new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `expected a JSON page, got ${type} (${JSON.stringify(sample)}); a proxy or maintenance page answered`, { url: shown, status: res.statusCode });
      }
      return { status: res.statusCode, headers, body, url: shown };
    }
    const text = await readSome(body, 2000);
    throw this.#statusError(res.statusCode, headers, text, shown);
  }

  /** Turn a transport failure into a retriable, coded error (or pass our own errors through). */
  networkError(err: unknown, url: string): ZendeskEtlError {
    if (err instanceof ZendeskEtlError) return err;
    const e = err as { code?: string; message?: string; name?: string };
    const what = e.code ?? e.name ?? 'error';
    const message = this.#credentials.redact(e.message ?? String(err));
    return new ZendeskEtlError(ErrorCodes.NETWORK, `network failure on ${url}: ${what}: ${message}`, { url }, { cause: err });
  }

  #statusError(status: number, headers: Record<string, string | string[] | undefined>, body: string, url: string): ZendeskEtlError {
    const detail = this.#credentials.redact(body.replace(/\s+/g, ' ').trim().slice(0, 300));
    if (status === 429) {
      const retryAfter = Number(headers['retry-after']);
      const ms = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined;
      return new ZendeskEtlError(ErrorCodes.RATE_LIMITED, `rate limited (429) on ${url}${ms === undefined ? ', with no Retry-After' : `, retry after ${retryAfter} s`}`, { url, status, ...(ms === undefined ? {} : { retryAfterMs: ms }) });
    }
    if (status === 401) return new ZendeskEtlError(ErrorCodes.UNAUTHORIZED, `Zendesk refused the credentials (401) on ${url}. Check ZENDESK_EMAIL with ZENDESK_API_TOKEN, or ZENDESK_OAUTH_TOKEN. Zendesk said: ${detail}`, { url, status });
    if (status === 403) return new ZendeskEtlError(ErrorCodes.FORBIDDEN, `Zendesk answered 403 on ${url}: the incremental export endpoints are for admins only. Zendesk said: ${detail}`, { url, status });
    if (status === 404) return new ZendeskEtlError(ErrorCodes.NOT_FOUND, `nothing at ${url} (404): is the subdomain or base URL right? Zendesk said: ${detail}`, { url, status });
    if (status >= 500) return new ZendeskEtlError(ErrorCodes.SERVER_ERROR, `server error ${status} on ${url}: ${detail}`, { url, status });
    if (status === 400 && /InvalidCursor|cursor/i.test(body)) return new ZendeskEtlError(ErrorCodes.INVALID_CURSOR, `Zendesk refused the cursor (400) on ${url}: ${detail}`, { url, status });
    return new ZendeskEtlError(ErrorCodes.CLIENT_ERROR, `Zendesk answered ${status} on ${url}: ${detail}`, { url, status });
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}

async function readSome(body: Readable, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      parts.push(chunk);
      n += chunk.length;
      if (n >= max) break;
    }
  } catch {
    // The error body is only for the message.
  } finally {
    body.destroy();
  }
  return Buffer.concat(parts).toString('utf8').slice(0, max);
}

/** Read a whole small JSON response (ticket_fields and the like). */
export async function getJson(http: ZendeskHttp, pathAndQuery: string, signal?: AbortSignal): Promise<unknown> {
  const res = await http.get(pathAndQuery, signal);
  const parts: Buffer[] = [];
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) parts.push(chunk);
  } catch (err) {
    throw http.networkError(err, res.url);
  }
  const text = Buffer.concat(parts).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `expected JSON from ${res.url}, got ${JSON.stringify(text.slice(0, 200))}`, { url: res.url }, { cause: err });
  }
}
