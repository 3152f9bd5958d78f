import { invalidOption } from '../core/errors.js';
import type { OptionValues } from '../options/normalize.js';
import type { StreamName } from '../streams.js';
import { formatTime } from '../core/time.js';
import { ACCOUNT_NAME, type FleetAccount } from './fleet-file.js';

/** What one job exports: one account, one stream, one window. Names of variables, never secrets. */
export interface FleetJobData {
  /** The shape's version. */
  v: 1;
  account: string;
  stream: StreamName;
  origin: string;
  out: string;
  /** Unix seconds; `end` exclusive, absent for the open last window of a fleet without `endTime`. */
  window: { start: number; end?: number };
  /** Window `index` (1-based) of `of`. */
  part: { index: number; of: number };
  /** ZENDESK_* variable -> the variable that holds it on the workers. */
  env: Record<string, string>;
  /** Export options by library name, checked when enqueued and again by the worker. */
  options: OptionValues;
}

export interface PlannedJob {
  /** Deterministic: the same fleet file gives the same ids, so enqueuing twice adds nothing. */
  id: string;
  data: FleetJobData;
}

const RUN_LABEL = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The jobs of a fleet: per account, per stream, `windows` windows splitting [startTime, endTime), or
 * [startTime, now) with the last window left open (it runs to the end of the stream, so nothing
 * generated between enqueuing and running is missed).
 *
 * Ids are `[run.]account.stream.start-end.IofN` (`end` is `now` when the fleet gives no endTime): they
 * do not depend on the clock, hold no ':' (BullMQ refuses it), and change when the fleet file changes
 * the account's windows.
 */
export function planJobs(accounts: readonly FleetAccount[], opts: { now: number; run?: string | undefined }): PlannedJob[] {
  if (opts.run !== undefined && !RUN_LABEL.test(opts.run)) throw invalidOption('run', '1 to 64 letters, digits, - or _ (it is part of job ids, which cannot hold ":")', opts.run);
  const jobs: PlannedJob[] = [];
  for (const a of accounts) {
    if (!ACCOUNT_NAME.test(a.name)) throw invalidOption('name', '1 to 64 letters, digits, - or _', a.name);
    const windows = splitWindow(a.startTime, a.endTime, a.windows, opts.now, a.name);
    for (const stream of a.streams) {
      windows.forEach((window, i) => {
        const part = { index: i + 1, of: windows.length };
        const id = [opts.run, a.name, stream, `${a.startTime}-${a.endTime ?? 'now'}`, `${part.index}of${part.of}`].filter((x) => x !== undefined).join('.');
        jobs.push({ id, data: { v: 1, account: a.name, stream, origin: a.origin, out: a.out, window, part, env: { ...a.env }, options: { ...a.options } } });
      });
    }
  }
  return jobs;
}

/** [start, end ?? now) in `n` windows of whole seconds; the last one open when `end` is not given. */
export function splitWindow(start: number, end: number | undefined, n: number, now: number, account: string): { start: number; end?: number }[] {
  const to = end ?? now;
  if (to - start < n) {
    const span = end === undefined ? `[${formatTime(start)}, now)` : `[${formatTime(start)}, ${formatTime(end)})`;
    throw invalidOption(`windows (account ${account})`, `at most the number of seconds in ${span} (${Math.max(0, to - start)})`, n);
  }
  const out: { start: number; end?: number }[] = [];
  for (let i = 0; i < n; i++) {
    const s = start + Math.floor(((to - start) * i) / n);
    const e = start + Math.floor(((to - start) * (i + 1)) / n);
    out.push(i === n - 1 && end === undefined ? { start: s } : { start: s, end: e });
  }
  return out;
}
