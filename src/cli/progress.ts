import type { ExportStats } from '../stats.js';
import { formatTime } from '../time.js';

/**
 * Progress on stderr: a one-line bar on a TTY, a log line every `intervalMs` otherwise. Shows pages,
 * tickets, tickets/s, the generated_timestamp reached (as a date) and an ETA to now.
 */
export class Progress {
  readonly #stats: ExportStats;
  readonly #out: NodeJS.WriteStream | NodeJS.WritableStream;
  readonly #tty: boolean;
  #startWatermark: number;
  #firstAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastLen = 0;

  constructor(stats: ExportStats, out: NodeJS.WriteStream | NodeJS.WritableStream, opts: { intervalMs?: number; startWatermark?: number } = {}) {
    this.#stats = stats;
    this.#out = out;
    this.#tty = 'isTTY' in out && out.isTTY === true;
    this.#startWatermark = opts.startWatermark ?? -1;
    this.#timer = setInterval(() => this.tick(), opts.intervalMs ?? (this.#tty ? 250 : 10_000));
    this.#timer.unref();
  }

  line(): string {
    const s = this.#stats;
    const secs = Math.max(0.001, s.elapsedMs() / 1000);
    const rate = s.tickets / secs;
    const parts = [`pages ${s.pages}`, `tickets ${s.tickets.toLocaleString('en-US')}`, `${Math.round(rate).toLocaleString('en-US')}/s`];
    if (s.watermark >= 0) {
      parts.push(`reached ${formatTime(s.watermark)}`);
      if (this.#startWatermark < 0) {
        // A new export: measure progress from the first timestamp seen.
        this.#startWatermark = s.watermark;
        this.#firstAt = s.elapsedMs() / 1000;
      }
      const now = Date.now() / 1000;
      const covered = s.watermark - this.#startWatermark;
      const left = now - s.watermark;
      const spent = secs - this.#firstAt;
      if (covered > 0 && left > 0 && spent > 0) parts.push(`ETA ${duration((left / covered) * spent)} to now`);
      if (this.#tty && covered + left > 0) parts.unshift(bar(covered / (covered + left)));
    }
    if (s.retries > 0) parts.push(`retries ${s.retries}`);
    if (s.rateLimited > 0) parts.push(`429s ${s.rateLimited}`);
    if (s.rejects > 0) parts.push(`rejects ${s.rejects}`);
    parts.push(`committed ${s.rowsWritten.toLocaleString('en-US')} rows in ${s.filesCommitted} files`);
    return parts.join(' | ');
  }

  tick(): void {
    const text = this.line();
    if (this.#tty) {
      const pad = Math.max(0, this.#lastLen - text.length);
      this.#out.write(`\r${text}${' '.repeat(pad)}`);
      this.#lastLen = text.length;
    } else {
      this.#out.write(`progress: ${text}\n`);
    }
  }

  /** A log line that does not collide with the live line on a terminal. */
  log(message: string): void {
    if (this.#tty && this.#lastLen > 0) {
      this.#out.write(`\r${' '.repeat(this.#lastLen)}\r${message}\n`);
      this.#lastLen = 0;
      this.tick();
    } else this.#out.write(`${message}\n`);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty && this.#lastLen > 0) this.#out.write('\n');
  }
}

/** `[######--------------] 31%`: how far the export has come from its first timestamp to now. */
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
