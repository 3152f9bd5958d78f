import { compare, contains, frontier, type ExportRange, type Frontier } from '../core/delivery.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { ExportPosition, PaginationMode } from '../core/position.js';

/**
 * The pure core of the incremental export: which request comes next, which record versions of a
 * page are delivered, and when a range is finished. No I/O; the stream shell (`ticket-source.ts`)
 * feeds it pages. What counts as delivered is decided with the frontiers of `delivery.ts`.
 */

export type { ExportPosition, PaginationMode } from '../core/position.js';

export interface PageMeta {
  end_of_stream?: unknown;
  end_time?: unknown;
  after_cursor?: unknown;
  count?: unknown;
  next_page?: unknown;
}

export interface PaginatorOptions {
  mode: PaginationMode;
  range: ExportRange;
  /** What to do when time-based pagination would ask for the same start_time forever. */
  onStuck?: 'cursor' | 'error';
  /** Clock, Unix seconds (a window end far enough in the past is closed at the end of the stream). */
  now?: () => number;
}

export interface PageRequest {
  endpoint: 'time' | 'cursor';
  startTime?: number;
  cursor?: string;
}

export type PageOutcome = 'next' | 'done' | 'switched-to-cursor';

/** Zendesk leaves out changes from the last minute; past two, a window end is safe to close. */
const SETTLED_SECONDS = 120;

/** The range left to export from a position (to resume it). */
export function rangeFrom(pos: ExportPosition): ExportRange {
  return { from: pos.reached, to: pos.to, cursor: pos.cursor };
}

export class Paginator {
  readonly #from: Frontier;
  readonly #to: Frontier | undefined;
  readonly #onStuck: 'cursor' | 'error';
  readonly #now: () => number;
  #mode: PaginationMode;
  #cursor: string | undefined;
  /** Time mode: the next start_time (the previous page's end_time). */
  #startTime: number;
  #reachedAt: number;
  #reachedIds: Set<number>;
  #done = false;
  /** The end of the range was passed: everything up to it was delivered. */
  #closed = false;
  /** What was delivered when the page in progress started: its retries skip what this holds. */
  #pageStart: { at: number; ids: Set<number> };
  /** Versions delivered from the page in progress (a retry of that page skips them). */
  #page = new Set<string>();
  #pageNew = 0;
  #pastWindow = false;
  #request: PageRequest | undefined;

  constructor(opts: PaginatorOptions) {
    const r = opts.range;
    this.#from = r.from;
    this.#to = r.to;
    this.#onStuck = opts.onStuck ?? 'cursor';
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.#mode = opts.mode;
    this.#cursor = opts.mode === 'cursor' ? r.cursor : undefined;
    this.#startTime = r.from.at;
    this.#reachedAt = r.from.at;
    this.#reachedIds = new Set(r.from.ids);
    this.#pageStart = { at: this.#reachedAt, ids: new Set(this.#reachedIds) };
    if (this.#to && !(compare(this.#from, this.#to) < 0)) {
      this.#done = true; // an empty range
      this.#closed = true;
    }
  }

  get done(): boolean {
    return this.#done;
  }

  get mode(): PaginationMode {
    return this.#mode;
  }

  /** The largest version timestamp delivered so far (or where the range starts). */
  get watermark(): number {
    return this.#reachedAt;
  }

  /** What was delivered when the page in progress started (for the raw archive's page records). */
  pageStart(): Frontier {
    return frontier(this.#pageStart.at, this.#pageStart.ids);
  }

  /** Where the range stands between pages. */
  position(): ExportPosition {
    const reached = this.#closed && this.#to ? this.#to : frontier(this.#reachedAt, this.#reachedIds);
    const pos: ExportPosition = { mode: this.#mode, from: this.#from, reached, done: this.#done };
    if (this.#to) pos.to = this.#to;
    // A cursor past the range's end is no place to go on from: the next range starts at the end.
    if (this.#cursor !== undefined && !this.#pastWindow) pos.cursor = this.#cursor;
    return pos;
  }

  /** The request for the next page. The same value is returned until the page completes (retries). */
  nextRequest(): PageRequest {
    if (this.#request) return this.#request;
    this.#pageStart = { at: this.#reachedAt, ids: new Set(this.#reachedIds) };
    if (this.#mode === 'cursor' && this.#cursor !== undefined) this.#request = { endpoint: 'cursor', cursor: this.#cursor };
    else this.#request = { endpoint: this.#mode, startTime: this.#startTime };
    return this.#request;
  }

  /**
   * Decide whether a version from the current page is delivered. It is not when it lies before the
   * range, was delivered by an earlier page (an inclusive start_time brings the boundary again) or
   * by an earlier attempt at this page (a retry), or lies past the range's end.
   */
  accept(id: number, g: number): boolean {
    if (this.#to && !contains(this.#to, id, g)) {
      this.#pastWindow = true;
      return false;
    }
    if (contains(this.#from, id, g)) return false;
    // Everything up to where this page started was delivered: the boundary (an inclusive start_time
    // brings it again), and any version behind it that a page repeats. Every retry of this page
    // starts from there too, however far a failed attempt had gone.
    if (g < this.#pageStart.at || (g === this.#pageStart.at && this.#pageStart.ids.has(id))) return false;
    const key = `${id}:${g}`;
    if (this.#page.has(key)) return false;
    this.#page.add(key);
    this.#pageNew++;
    if (g > this.#reachedAt) {
      this.#reachedAt = g;
      this.#reachedIds = new Set([id]);
    } else if (g === this.#reachedAt) this.#reachedIds.add(id);
    return true;
  }

  /** Whether a version lies past the range's end (`accept` refuses it for that, not as a duplicate). */
  pastEnd(id: number, g: number): boolean {
    return this.#to !== undefined && !contains(this.#to, id, g);
  }

  /** The page completed: take its pagination keys and move on. */
  completePage(meta: PageMeta, perPage: number): PageOutcome {
    const req = this.nextRequest();
    const endOfStream = meta.end_of_stream === true;
    this.#request = undefined;
    this.#page.clear();
    const delivered = this.#pageNew;
    this.#pageNew = 0;
    if (req.endpoint === 'cursor') {
      if (typeof meta.after_cursor !== 'string' || meta.after_cursor === '') {
        if (!endOfStream) throw malformed('after_cursor', meta.after_cursor);
      } else {
        if (!endOfStream && meta.after_cursor === req.cursor && delivered === 0) {
          throw new ZendeskEtlError(ErrorCodes.PAGINATION_LOOP, `loop detected in pagination: after_cursor did not move and the page brought nothing new (cursor ${req.cursor})`);
        }
        this.#cursor = meta.after_cursor;
      }
      this.#mode = 'cursor';
      this.#startTime = Math.max(this.#startTime, this.#reachedAt);
      return this.#finish(endOfStream);
    }
    const endTime = meta.end_time;
    if (typeof endTime !== 'number' || !Number.isInteger(endTime)) throw malformed('end_time', endTime);
    const start = req.startTime ?? this.#startTime;
    if (endTime < start) {
      throw new ZendeskEtlError(ErrorCodes.PAGINATION_LOOP, `end_time ${endTime} is before the start_time ${start} that was asked for`);
    }
    const stuck = !endOfStream && endTime === start && (delivered === 0 || (typeof meta.count === 'number' && meta.count >= perPage));
    this.#startTime = endTime;
    if (stuck && !this.#pastWindow) {
      if (this.#onStuck === 'error') {
        throw new ZendeskEtlError(ErrorCodes.PAGINATION_LOOP, `loop detected in pagination: more tickets share generated_timestamp ${start} than a page holds, and Zendesk keeps answering end_time=${endTime}. Use --pagination cursor, which has no such limit.`);
      }
      // Finish by another route: the cursor endpoint from this timestamp. What was already delivered
      // at this timestamp is skipped (the next page starts from the frontier reached).
      this.#mode = 'cursor';
      this.#cursor = undefined;
      return 'switched-to-cursor';
    }
    return this.#finish(endOfStream);
  }

  /** Time mode: Zendesk refused a start_time that is too recent (422). Nothing new yet. */
  tooRecent(): void {
    this.#request = undefined;
    this.#page.clear();
    this.#pageNew = 0;
    this.#done = true;
  }

  /** Cursor mode: the cursor was refused. Fall back to start_time at the last delivered timestamp. */
  cursorRejected(): void {
    this.#request = undefined;
    this.#page.clear();
    this.#pageNew = 0;
    this.#cursor = undefined;
    this.#startTime = this.#reachedAt;
  }

  #finish(endOfStream: boolean): PageOutcome {
    const to = this.#to;
    const passed = this.#pastWindow || (to !== undefined && this.#mode === 'time' && (this.#startTime > to.at || (this.#startTime === to.at && to.ids.length === 0)));
    if (passed || endOfStream) {
      this.#done = true;
      // A window's end is closed once passed, or at the end of the stream when it lies far enough
      // in the past that no new version can appear before it.
      this.#closed = to !== undefined && (passed || to.at <= this.#now() - SETTLED_SECONDS);
      return 'done';
    }
    return 'next';
  }
}

function malformed(key: string, value: unknown): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `malformed page: expected ${key} in the envelope, got ${JSON.stringify(value) ?? 'nothing'}`);
}
