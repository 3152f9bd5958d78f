import { ErrorCodes, ZendeskEtlError } from '../errors.js';

/**
 * The pure core of the incremental export: which request comes next, which ticket versions are new,
 * and when the export is done. No I/O. The stream shell (`ticket-source.ts`) feeds it pages.
 */

export type PaginationMode = 'cursor' | 'time';

/** Where an export stands. Saved in the state file after each committed checkpoint. */
export interface ExportPosition {
  mode: PaginationMode;
  /** Cursor mode: the `after_cursor` of the last page read. Opaque: never built or parsed. */
  cursor?: string | undefined;
  /** Time mode: the next `start_time`. Cursor mode: where the first request starts. */
  startTime: number;
  /** The largest `generated_timestamp` delivered so far (-1 before the first ticket). */
  watermark: number;
  /** Ids delivered with `generated_timestamp == watermark`: they come again on an inclusive restart. */
  boundary: number[];
  /** True once the end of the stream (or of the window) was reached. */
  done: boolean;
}

export interface PageMeta {
  end_of_stream?: unknown;
  end_time?: unknown;
  after_cursor?: unknown;
  count?: unknown;
  next_page?: unknown;
}

export interface PaginatorOptions {
  mode: PaginationMode;
  startTime: number;
  /** Exclusive: versions with `generated_timestamp >= endTime` belong to the next window. */
  endTime?: number | undefined;
  /** What to do when time-based pagination would ask for the same start_time forever. */
  onStuck?: 'cursor' | 'error';
}

export interface PageRequest {
  endpoint: 'time' | 'cursor';
  startTime?: number;
  cursor?: string;
}

export type PageOutcome = 'next' | 'done' | 'switched-to-cursor';

export function initialPosition(opts: PaginatorOptions): ExportPosition {
  return { mode: opts.mode, startTime: opts.startTime, watermark: -1, boundary: [], done: false };
}

export class Paginator {
  readonly #endTime: number | undefined;
  readonly #onStuck: 'cursor' | 'error';
  #mode: PaginationMode;
  #cursor: string | undefined;
  #startTime: number;
  #watermark: number;
  #boundary: Set<number>;
  #done: boolean;
  /** Versions delivered from the page in progress: a retry of that page skips them. */
  #page = new Set<string>();
  #pageNew = 0;
  #pastWindow = false;
  #request: PageRequest | undefined;

  constructor(opts: PaginatorOptions, from?: ExportPosition) {
    const pos = from ?? initialPosition(opts);
    this.#endTime = opts.endTime;
    this.#onStuck = opts.onStuck ?? 'cursor';
    this.#mode = pos.mode;
    this.#cursor = pos.cursor;
    this.#startTime = pos.startTime;
    this.#watermark = pos.watermark;
    this.#boundary = new Set(pos.boundary);
    // An open-ended export is never finished for good: a saved `done` means "up to date then", and a
    // new run looks for changes since. A bounded window that was finished stays finished.
    this.#done = this.#endTime !== undefined && pos.done;
    if (this.#endTime !== undefined && this.#startTime >= this.#endTime) this.#done = true;
  }

  get done(): boolean {
    return this.#done;
  }

  get mode(): PaginationMode {
    return this.#mode;
  }

  /** Where the export stands between pages. */
  position(): ExportPosition {
    const pos: ExportPosition = { mode: this.#mode, startTime: this.#startTime, watermark: this.#watermark, boundary: [...this.#boundary], done: this.#done };
    if (this.#cursor !== undefined) pos.cursor = this.#cursor;
    return pos;
  }

  /** The request for the next page. The same value is returned until the page completes (retries). */
  nextRequest(): PageRequest {
    if (this.#request) return this.#request;
    if (this.#mode === 'cursor' && this.#cursor !== undefined) this.#request = { endpoint: 'cursor', cursor: this.#cursor };
    else this.#request = { endpoint: this.#mode, startTime: this.#startTime };
    return this.#request;
  }

  /**
   * Decide whether a ticket version from the current page is delivered. Skips versions already
   * delivered (page boundaries, retries of a page, inclusive restarts) and versions past the window.
   */
  accept(id: number, generatedTimestamp: number): boolean {
    if (this.#endTime !== undefined && generatedTimestamp >= this.#endTime) {
      this.#pastWindow = true;
      return false;
    }
    if (generatedTimestamp === this.#watermark && this.#boundary.has(id)) return false;
    const key = `${id}:${generatedTimestamp}`;
    if (this.#page.has(key)) return false;
    this.#page.add(key);
    this.#pageNew++;
    if (generatedTimestamp > this.#watermark) {
      this.#watermark = generatedTimestamp;
      this.#boundary.clear();
    }
    if (generatedTimestamp === this.#watermark) this.#boundary.add(id);
    return true;
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
      if (this.#watermark >= 0) this.#startTime = Math.max(this.#startTime, this.#watermark);
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
      // Finish by another route: the cursor endpoint from this timestamp. The boundary set skips what
      // was already delivered at this timestamp.
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
    this.#cursor = undefined;
    if (this.#watermark >= 0) this.#startTime = this.#watermark;
  }

  #finish(endOfStream: boolean): PageOutcome {
    if (endOfStream || this.#pastWindow || (this.#endTime !== undefined && this.#mode === 'time' && this.#startTime >= this.#endTime)) {
      this.#done = true;
      return 'done';
    }
    return 'next';
  }
}

function malformed(key: string, value: unknown): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `malformed page: expected ${key} in the envelope, got ${JSON.stringify(value) ?? 'nothing'}`);
}
