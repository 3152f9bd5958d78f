import type Bottleneck from 'bottleneck';
import pRetry from 'p-retry';
import type { Credentials } from '../auth.js';
import { Checkpoint, SideloadRecord, type Item } from '../core/checkpoint.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { ExportStats } from '../core/stats.js';
import { silentLogger, type Logger } from '../core/log.js';
import { resolveOptions } from '../options/normalize.js';
import type { ResolvedOptions } from '../options/table.js';
import { createRequestGate, limitFamily, type RequestGate } from './limiter.js';
import { ZendeskHttp, type HttpTimeouts } from './http-client.js';
import { PullSource } from './pull-source.js';
import { createPageParser, type PageEvent, type ParserKind } from './page-parser.js';
import { Paginator, rangeFrom, type ExportPosition, type PageMeta, type PageRequest, type PaginationMode } from './pagination.js';
import type { RawArchive, RawPage } from './raw-archive.js';
import { frontier, type ExportRange } from '../core/delivery.js';
import type { ZendeskTicket } from '../schema/zendesk-ticket.js';
import { streamSpec, type StreamName, type StreamSpec } from '../streams.js';

export type { ZendeskTicket };

export interface TicketSourceOptions {
  /** Which incremental export. Default 'tickets'. */
  stream?: StreamName;
  /** `https://acme.zendesk.com`, or the stand-in's URL. See `resolveOrigin()`. */
  origin: string;
  credentials: Credentials;
  /** Default 'cursor' (Zendesk's recommendation); 'time' is the seed's endpoint. */
  pagination?: PaginationMode;
  /**
   * The ranges to export, in order (from `LakeTable.plan()`: what a table still lacks). When given,
   * `startTime`, `endTime` and `position` are ignored.
   */
  ranges?: readonly ExportRange[];
  /** Unix seconds. Ignored when `position` or `ranges` is given. Default 0. */
  startTime?: number;
  /** Unix seconds, exclusive: stop before versions generated at or after it. */
  endTime?: number;
  /** Resume from a saved position (a checkpoint's) instead of `startTime`. */
  position?: ExportPosition;
  /** 1 to 1000. Default 1000. */
  perPage?: number;
  /** Default 'all', so tickets handled by AI agents are not silently missing. */
  supportTypeScope?: 'agent' | 'ai_agent' | 'all';
  excludeDeleted?: boolean;
  /** Sideloads (`users`, `groups`, ...). Their rows come out as `SideloadRecord`s. */
  include?: readonly string[];
  /** Export requests per minute. Default 10 (Zendesk's limit); 30 with High Volume; 0 turns it off. */
  rateLimit?: number;
  /** Share one limiter between the streams of one account. Overrides `rateLimit` and `redis`. */
  limiter?: Bottleneck;
  /**
   * A Redis URL: share the rate limit with every process, on any machine, that exports the same account
   * through this Redis (per origin and limit family; a 429 pauses them all). Default: this process only.
   */
  redis?: string;
  /** Retries of one page before the run stops. Default 8. */
  retries?: number;
  /** The longest time spent retrying one page, ms. Default 15 minutes. */
  maxRetryTimeMs?: number;
  /** First backoff delay, ms. Default 1000. Doubles each time, up to `maxRetryDelayMs`. */
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  timeouts?: HttpTimeouts;
  /** What to do when time-based pagination is stuck on a timestamp. Default 'cursor'. */
  onStuck?: 'cursor' | 'error';
  /** 'scan' (default: byte scanner + JSON.parse per element) or 'stream-json'. */
  parser?: ParserKind;
  stats?: ExportStats;
  /** Keep each page's raw bytes, gzipped, in this archive (a bronze layer for `zendesk-etl replay`). */
  raw?: RawArchive;
  /** Clock, Unix seconds (the 1-minute floor on start_time). */
  now?: () => number;
  /** Where retries, 429 waits and fallbacks are told (at info). Default: silent. */
  log?: Logger;
}


/**
 * A pull-based `Readable` in object mode: ticket versions, with a `Checkpoint` after each page. It
 * reads the HTTP body only as fast as downstream consumes, fetches pages under a rate limiter, and
 * retries failures without delivering a version twice. `stop()` ends it after the page in progress.
 */
export class TicketSource extends PullSource<Item<ZendeskTicket>> {
  readonly stats: ExportStats;
  readonly #opts: TicketSourceOptions;
  /** The options with their defaults, from the option table. */
  readonly #resolved: ResolvedOptions;
  readonly #http: ZendeskHttp;
  readonly #gate: RequestGate | undefined;
  readonly #ranges: ExportRange[];
  readonly #mode: PaginationMode;
  readonly #onStuck: 'cursor' | 'error';
  #paginator: Paginator;
  #rangeIndex = 0;
  readonly #perPage: number;
  readonly #spec: StreamSpec;
  readonly #abort = new AbortController();
  #stopping = false;
  #rawPage: RawPage | undefined;

  constructor(opts: TicketSourceOptions) {
    super();
    const r = resolveOptions('export', { perPage: opts.perPage, pagination: opts.pagination, rateLimit: opts.rateLimit, retries: opts.retries, maxRetryTimeMs: opts.maxRetryTimeMs, minRetryDelayMs: opts.minRetryDelayMs, maxRetryDelayMs: opts.maxRetryDelayMs, supportTypeScope: opts.supportTypeScope, include: opts.include, parser: opts.parser, redis: opts.redis, startTime: opts.startTime });
    const perPage = r.perPage;
    const spec = streamSpec(opts.stream ?? r.stream);
    let mode = opts.position?.mode ?? opts.pagination ?? (spec.cursorPath ? 'cursor' : 'time');
    if (mode === 'cursor' && !spec.cursorPath) mode = 'time';
    if (mode === 'time' && !spec.timePath) mode = 'cursor';
    const rate = opts.rateLimit ?? spec.rateLimit[mode];
    this.#spec = spec;
    this.#opts = opts;
    this.#resolved = r;
    this.#perPage = perPage;
    this.stats = opts.stats ?? new ExportStats();
    this.#http = new ZendeskHttp(opts.origin, opts.credentials, opts.timeouts);
    // Space requests evenly, a little wider than the limit, so a sliding window on Zendesk's side never
    // sees one request too many (see limiter.ts; shared through Redis when asked).
    this.#gate = opts.limiter || rate > 0 ? createRequestGate({ rate, origin: opts.origin, family: limitFamily(spec.name, mode), redis: opts.redis, limiter: opts.limiter, log: opts.log }) : undefined;
    this.#onStuck = spec.cursorPath ? (opts.onStuck ?? 'cursor') : 'error';
    this.#mode = mode;
    this.#ranges = opts.ranges
      ? [...opts.ranges]
      : opts.position
        ? opts.position.done && opts.position.to !== undefined
          ? []
          : [rangeFrom(opts.position)]
        : [{ from: frontier(r.startTime), to: opts.endTime === undefined ? undefined : frontier(opts.endTime) }];
    if (this.#ranges.length === 0) this.#ranges.push({ from: opts.position?.reached ?? frontier(0), to: opts.position?.reached ?? frontier(0) });
    this.#paginator = this.#paginatorFor(this.#ranges[0]!);
  }

  #paginatorFor(range: ExportRange): Paginator {
    return new Paginator({ mode: this.#mode, range, onStuck: this.#onStuck, now: this.#opts.now });
  }

  /** True once every range is finished (the end of each, or the end of the stream). */
  get complete(): boolean {
    return this.#rangeIndex >= this.#ranges.length - 1 && this.#paginator.done;
  }

  /** Typed iteration: `for await (const item of source)` knows it is a row, a checkpoint or a sideload row. */
  override [Symbol.asyncIterator](): AsyncIterableIterator<Item<ZendeskTicket>> {
    return super[Symbol.asyncIterator]() as AsyncIterableIterator<Item<ZendeskTicket>>;
  }

  /** Where the source stands now in the range it exports (after the last page it read). */
  position(): ExportPosition {
    return this.#paginator.position();
  }

  /** The ranges this source exports, in order. */
  get ranges(): readonly ExportRange[] {
    return this.#ranges;
  }

  /** Finish the page in progress, emit its checkpoint, then end. */
  stop(): void {
    this.#stopping = true;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#abort.abort();
    this.release();
    Promise.allSettled([this.#http.close(), this.#gate?.close()]).then(
      () => callback(err),
      () => callback(err),
    );
  }

  protected override async produce(): Promise<void> {
    const now = this.#opts.now ?? (() => Math.floor(Date.now() / 1000));
    for (;;) {
      const p = this.#paginator;
      let pages = 0;
      while (!p.done && !this.#stopping && !this.destroyed) {
        const req = p.nextRequest();
        if (req.endpoint === 'time' && req.startTime !== undefined && req.startTime > now() - 61) {
          // Zendesk refuses a start_time less than a minute old (422): there is nothing new yet.
          p.tooRecent();
          break;
        }
        let outcome: 'next' | 'done' | 'switched-to-cursor';
        try {
          outcome = await this.#page(req);
        } catch (err) {
          this.#rawPage?.abort();
          this.#rawPage = undefined;
          if (err instanceof ZendeskEtlError && err.code === ErrorCodes.INVALID_CURSOR && req.endpoint === 'cursor' && req.cursor !== undefined) {
            p.cursorRejected();
            this.stats.notes.push(`the cursor was refused; resumed from start_time=${p.watermark} (the last delivered generated_timestamp)`);
            (this.#opts.log ?? silentLogger).info('the cursor was refused: going on from the last delivered generated_timestamp', { start_time: p.watermark });
            continue;
          }
          if (err instanceof ZendeskEtlError && err.code === ErrorCodes.CLIENT_ERROR && err.status === 422 && req.endpoint === 'time') {
            p.tooRecent();
            break;
          }
          throw err;
        }
        pages++;
        this.stats.pages++;
        this.stats.watermark = Math.max(this.stats.watermark, p.watermark);
        if (outcome === 'switched-to-cursor') {
          this.stats.notes.push(`more tickets share generated_timestamp ${p.watermark} than a time-based page holds; finished through the cursor endpoint from there`);
        }
        await this.deliver(new Checkpoint(this.#spec.name, p.position(), this.stats.pages));
      }
      if (pages === 0 && p.done) {
        // Nothing to fetch (the range is empty or the start is too recent): still say where it stands.
        await this.deliver(new Checkpoint(this.#spec.name, p.position(), this.stats.pages));
      }
      if (!p.done || this.#stopping || this.destroyed || this.#rangeIndex >= this.#ranges.length - 1) return;
      this.#paginator = this.#paginatorFor(this.#ranges[++this.#rangeIndex]!);
    }
  }

  #query(req: PageRequest): string {
    const o = this.#opts;
    const q = new URLSearchParams();
    if (req.cursor !== undefined) q.set('cursor', req.cursor);
    else q.set('start_time', String(req.startTime ?? 0));
    q.set('per_page', String(this.#perPage));
    if (this.#spec.ticketFilters) {
      q.set('support_type_scope', this.#resolved.supportTypeScope);
      if (o.excludeDeleted) q.set('exclude_deleted', 'true');
    }
    const include = o.include ?? this.#spec.defaultInclude;
    if (include && include.length > 0) q.set('include', include.join(','));
    const path = req.endpoint === 'cursor' ? this.#spec.cursorPath! : this.#spec.timePath!;
    return `${path}?${q.toString()}`;
  }

  /** Fetch, stream and complete one page, retrying as needed. */
  async #page(req: PageRequest): Promise<'next' | 'done' | 'switched-to-cursor'> {
    const r = this.#resolved;
    const url = this.#query(req);
    let attempt = 0;
    const meta = await pRetry(
      async () => {
        attempt++;
        return this.#attempt(url, attempt);
      },
      {
        retries: r.retries,
        maxRetryTime: r.maxRetryTimeMs,
        minTimeout: r.minRetryDelayMs,
        maxTimeout: r.maxRetryDelayMs,
        factor: 2,
        randomize: true,
        signal: this.#abort.signal,
        shouldRetry: ({ error }) => error instanceof ZendeskEtlError && error.retriable && !this.destroyed,
        // A 429 with Retry-After waits exactly that long (in onFailedAttempt), and no more.
        shouldConsumeRetry: ({ error }) => !(error instanceof ZendeskEtlError && error.code === ErrorCodes.RATE_LIMITED && error.retryAfterMs !== undefined),
        onFailedAttempt: async ({ error, retriesLeft }) => {
          if (!(error instanceof ZendeskEtlError) || !error.retriable || this.destroyed) return;
          this.stats.retries++;
          const log = this.#opts.log ?? silentLogger;
          if (error.code === ErrorCodes.RATE_LIMITED) {
            this.stats.rateLimited++;
            if (error.retryAfterMs !== undefined) {
              log.info('rate limited (429): waiting Retry-After', { url: error.url ?? url, wait_ms: error.retryAfterMs });
              const t0 = performance.now();
              // Tell the other processes of the account (shared limit) while waiting, not before.
              await Promise.all([this.#gate?.pause(error.retryAfterMs), sleep(error.retryAfterMs, this.#abort.signal)]);
              this.stats.rateWaitMs += performance.now() - t0;
              return;
            }
          }
          log.info('retrying a page', { url: error.url ?? url, attempt, retries_left: retriesLeft, cause: error.code, status: error.status, error: error.message });
        },
      },
    ).catch((err: unknown) => {
      if (err instanceof ZendeskEtlError && err.retriable) {
        throw new ZendeskEtlError(ErrorCodes.RETRIES_EXHAUSTED, `gave up on ${err.url ?? url} after ${attempt} attempts; last error: ${err.message}`, { url: err.url, status: err.status, attempt }, { cause: err });
      }
      throw err;
    });
    const p = this.#paginator;
    const from = p.pageStart();
    const outcome = p.completePage(meta, this.#perPage);
    const raw = this.#rawPage;
    this.#rawPage = undefined;
    if (raw) {
      const pos = p.position();
      await raw.publish({ from, to: pos.reached, range: { from: pos.from, to: pos.to } });
    }
    return outcome;
  }

  async #attempt(url: string, attempt: number): Promise<PageMeta> {
    const stats = this.stats;
    if (this.#gate) {
      const t0 = performance.now();
      await this.#gate.take(this.#abort.signal);
      stats.rateWaitMs += performance.now() - t0;
    }
    stats.requests++;
    const res = await this.#http.get(url, this.#abort.signal);
    const meta: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    let sawTickets = false;
    const p = this.#paginator;
    this.#rawPage?.abort();
    const raw = this.#opts.raw?.begin(p.pageStart().at);
    this.#rawPage = raw;
    const includes = new Set(this.#opts.include ?? []);
    const key = this.#spec.key;
    const pending: PageEvent[] = [];
    const parser = createPageParser(this.#resolved.parser, pending);
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        stats.bytes += chunk.length;
        if (raw) await raw.write(chunk);
        parser.write(chunk);
        for (let k = 0; k < pending.length; k++) {
          const ev = pending[k]!;
          if (ev.kind === 'member') {
            meta[ev.key] = ev.value;
            continue;
          }
          if (ev.kind === 'array') {
            if (ev.key === key) sawTickets = true;
            continue;
          }
          if (ev.key === key) {
            sawTickets = true;
            const t = ev.value as ZendeskTicket;
            const version = t !== null && typeof t === 'object' && !Array.isArray(t) ? this.#spec.version(t) : undefined;
            if (version === undefined || !Number.isInteger(t.id)) {
              throw new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `malformed page: element ${ev.index} of "${key}" is not a record with an integer id and a version timestamp: ${JSON.stringify(t)?.slice(0, 120)}`, { url: res.url, attempt });
            }
            if (p.accept(t.id, version)) {
              stats.tickets++;
              await this.deliver(t);
            } else if (p.pastEnd(t.id, version)) stats.beyondEnd++;
            else stats.duplicatesSkipped++;
          } else if (includes.has(ev.key) && ev.value !== null && typeof ev.value === 'object') {
            await this.deliver(new SideloadRecord(ev.key, ev.value as Record<string, unknown>));
          }
        }
        pending.length = 0;
      }
      parser.end();
      for (const ev of pending) if (ev.kind === 'member') meta[ev.key] = ev.value;
      pending.length = 0;
    } catch (err) {
      res.body.destroy();
      if (err instanceof ZendeskEtlError) {
        throw new ZendeskEtlError(err.code, `${err.message} on ${res.url}`, { url: res.url, attempt, status: res.status, byteOffset: err.byteOffset }, { cause: err.cause ?? err });
      }
      throw this.#http.networkError(err, res.url);
    }
    if (!sawTickets) {
      throw new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `malformed page: the envelope has no "${key}" array (keys: ${Object.keys(meta).join(', ') || 'none'}) on ${res.url}`, { url: res.url, attempt });
    }
    await raw?.end();
    return meta;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
