/** Counters a run keeps, shared by the stages and read by progress and the run summary. */
export class ExportStats {
  readonly startedAt = Date.now();
  pages = 0;
  /** Ticket versions delivered by the source (after dedupe). */
  tickets = 0;
  /** Versions skipped as already delivered (page boundaries, retried pages, restarts). */
  duplicatesSkipped = 0;
  /** Versions past the window's end (`--end-time`) that a page brought: not delivered, and no duplicates. */
  beyondEnd = 0;
  /** Versions dropped by --exclude-system-updates (counted, never silent). */
  systemUpdatesExcluded = 0;
  bytes = 0;
  requests = 0;
  retries = 0;
  rateLimited = 0;
  /** Time spent waiting for the rate limiter and Retry-After, ms. */
  rateWaitMs = 0;
  /** Values that did not fit their column: kept raw in `_rejects`, counted here. */
  rejects = 0;
  rowsWritten = 0;
  filesCommitted = 0;
  checkpointsCommitted = 0;
  /** The largest generated_timestamp delivered so far. */
  watermark = -1;
  /** Notes worth telling the user once (a switch of pagination mode, a fallback). */
  readonly notes: string[] = [];

  elapsedMs(): number {
    return Date.now() - this.startedAt;
  }

  /** The run's figures; the record count is named for the stream (`tickets`, `users`, ...). */
  summary(records = 'tickets'): Record<string, number> {
    return {
      pages: this.pages,
      [records]: this.tickets,
      rows_written: this.rowsWritten,
      files_committed: this.filesCommitted,
      duplicates_skipped: this.duplicatesSkipped,
      beyond_end: this.beyondEnd,
      system_updates_excluded: this.systemUpdatesExcluded,
      rejects: this.rejects,
      requests: this.requests,
      retries: this.retries,
      rate_limited_429: this.rateLimited,
      rate_wait_ms: Math.round(this.rateWaitMs),
      bytes: this.bytes,
      elapsed_ms: this.elapsedMs(),
      max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  }
}
