import type { Logger } from '../core/log.js';
import type { ExportStats } from '../core/stats.js';
import { formatTime } from '../core/time.js';

export interface ProgressOptions {
  intervalMs?: number;
  /** The generated_timestamp the run starts from (-1: measure from the first one seen). */
  startWatermark?: number;
  /** The window's end: the bar and the ETA measure toward it (default: now). */
  endTime?: number | undefined;
  /** What the records are called (`tickets`, `users`, ...). */
  records?: string;
  /** Log lines as JSON (no live bar). */
  json?: boolean;
  /** Where progress goes when there is no live bar. */
  log?: Logger;
}

/**
 * Progress on stderr: a one-line bar on a terminal (text logs), a log line every `intervalMs`
 * otherwise. Shows pages, records, records/s, the generated_timestamp reached and an ETA to the
 * window's end (or to now for an open-ended run).
 */
export class Progress {
  readonly live: boolean;
  readonly #stats: ExportStats;
  readonly #out: NodeJS.WritableStream;
  readonly #o: ProgressOptions;
  #startWatermark: number;
  #firstAt = 0;
  /** Seconds into the run when the first record came (the rate is measured from there, not from the start). */
  #firstRecordAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastLen = 0;

  constructor(stats: ExportStats, out: NodeJS.WritableStream, opts: ProgressOptions = {}) {
    this.#stats = stats;
    this.#out = out;
    this.#o = opts;
    this.live = 'isTTY' in out && out.isTTY === true && opts.json !== true;
    this.#startWatermark = opts.startWatermark ?? -1;
    this.#timer = setInterval(() => this.tick(), opts.intervalMs ?? (this.live ? 250 : 10_000));
    this.#timer.unref();
  }

  /** Where the run stands: fields for a JSON line, and the fraction done (undefined: unknown yet). */
  figures(): { fields: Record<string, number | string>; fraction: number | undefined; eta: number | undefined } {
    const s = this.#stats;
    const secs = Math.max(0.001, s.elapsedMs() / 1000);
    const records = this.#o.records ?? 'tickets';
    if (this.#firstRecordAt === undefined && s.tickets > 0) this.#firstRecordAt = secs;
    const fields: Record<string, number | string> = { pages: s.pages, [records]: s.tickets };
    // A rate once a page is complete, over the time records have been coming: the seconds spent
    // connecting and reading the field catalog before the first one are not the export's pace.
    const streaming = this.#firstRecordAt === undefined ? 0 : secs - this.#firstRecordAt;
    if (s.pages > 0 && streaming > 0) fields.per_second = Math.round(s.tickets / streaming);
    let fraction: number | undefined;
    let eta: number | undefined;
    if (s.watermark >= 0) {
      fields.reached = formatTime(s.watermark);
      if (this.#startWatermark < 0) {
        // A new export: measure progress from the first timestamp seen.
        this.#startWatermark = s.watermark;
        this.#firstAt = secs;
      }
      const end = Math.min(this.#o.endTime ?? Number.POSITIVE_INFINITY, Date.now() / 1000);
      const covered = s.watermark - this.#startWatermark;
      const left = Math.max(0, end - s.watermark);
      const spent = secs - this.#firstAt;
      if (covered + left > 0) fraction = covered / (covered + left);
      if (covered > 0 && left > 0 && spent > 0) eta = (left / covered) * spent;
      if (eta !== undefined) fields.eta_seconds = Math.round(eta);
    }
    if (s.retries > 0) fields.retries = s.retries;
    if (s.rateLimited > 0) fields.rate_limited_429 = s.rateLimited;
    if (s.rejects > 0) fields.rejects = s.rejects;
    fields.committed_rows = s.rowsWritten;
    fields.committed_files = s.filesCommitted;
    return { fields, fraction, eta };
  }

  line(): string {
    const { fields, fraction, eta } = this.figures();
    const records = this.#o.records ?? 'tickets';
    const count = Number(fields[records]).toLocaleString('en-US');
    // Before the first page is complete there is no page and no pace to speak of yet.
    const parts = fields.pages === 0 ? [count === '0' ? 'waiting for the first page' : `first page: ${count} ${records} so far`] : [`pages ${fields.pages}`, `${records} ${count}`];
    if (fields.per_second !== undefined) parts.push(`${Number(fields.per_second).toLocaleString('en-US')}/s`);
    if (fields.reached !== undefined) parts.push(`reached ${fields.reached}`);
    if (eta !== undefined) parts.push(`ETA ${duration(eta)} to ${this.#o.endTime !== undefined ? formatTime(this.#o.endTime) : 'now'}`);
    if (this.live && fraction !== undefined) parts.unshift(bar(fraction));
    if (fields.retries !== undefined) parts.push(`retries ${fields.retries}`);
    if (fields.rate_limited_429 !== undefined) parts.push(`429s ${fields.rate_limited_429}`);
    if (fields.rejects !== undefined) parts.push(`rejects ${fields.rejects}`);
    parts.push(`committed ${Number(fields.committed_rows).toLocaleString('en-US')} rows in ${fields.committed_files} files`);
    return parts.join(' | ');
  }

  tick(): void {
    if (this.live) {
      const text = this.line();
      const pad = Math.max(0, this.#lastLen - text.length);
      this.#out.write(`\r${text}${' '.repeat(pad)}`);
      this.#lastLen = text.length;
    } else if (this.#o.json) this.#o.log?.info('progress', this.figures().fields);
    else if (this.#o.log) this.#o.log.info(`progress: ${this.line()}`);
    else this.#out.write(`progress: ${this.line()}\n`);
  }

  /** A log line that does not collide with the live line on a terminal. */
  print(message: string): void {
    if (this.live && this.#lastLen > 0) {
      this.#out.write(`\r${' '.repeat(this.#lastLen)}\r${message}\n`);
      this.#lastLen = 0;
      this.tick();
    } else this.#out.write(`${message}\n`);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.live && this.#lastLen > 0) this.#out.write('\n');
    this.#lastLen = 0;
  }
}

/** `[######--------------] 31%`: how far the run has come toward the window's end. */
export function bar(fraction: number, width = 20): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${Math.floor(f * 100)}%`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  return h < 48 ? `${h}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.round(h / 24)}d`;
}
