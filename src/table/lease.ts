import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Window } from '../core/delivery.js';
import { OPTION_DEFAULTS, optionSpec } from '../options/table.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { formatTime } from '../core/time.js';
import type { Storage } from '../storage/storage.js';
import { joinKey } from '../storage/storage.js';

/**
 * Leases: who is writing a table now. A lease names its holder by host, boot, pid and the process's
 * start time, so a pid reused by another process (or pid 1 in every container) is never mistaken
 * for the holder; it expires unless renewed, so a holder on another machine that died frees it too.
 *
 * Correctness never rests on a lease: commits are put-if-absent and refuse overlaps, and a run
 * whose lease looks dead is fenced in the log before anything of its own is deleted (recovery.ts).
 * A lease is a hint: it keeps runs from wasting work on the same range ("table busy", exit 75),
 * and tells a run which other run to fence and which files that run was making visible.
 */

export interface Holder {
  host: string;
  /** The kernel's boot id: pids and start times mean something only within one boot. */
  boot: string;
  /** The pid namespace (`/proc/self/ns/pid`): containers on one host, with one hostname, have their own. */
  pidns?: string;
  pid: number;
  /** The process's start time in clock ticks since boot (`/proc/<pid>/stat`, field 22). */
  start: string;
  /** Random, once per process. */
  nonce: string;
}

export interface LeaseRecord {
  run: string;
  holder: Holder;
  purpose: 'export' | 'replay' | 'compact' | 'vacuum' | 'reset';
  window?: Window | undefined;
  acquiredAt: number;
  renewedAt: number;
  ttlMs: number;
  /** Data files (paths in the table) this run is making visible for its next commit. */
  promoting?: string[];
  /** Data files its next commit removes, deleted once it is in. */
  retiring?: string[];
  /** Given up with that work unfinished: no longer live, whoever holds it. */
  released?: boolean;
}

export const LEASE_DIR = '_zde/leases';
const TTL = optionSpec('leaseTtlMs');

/** A lease's time to live: 2 minutes, or `ZENDESK_ETL_LEASE_TTL_MS` (tests, and storage slow to answer). */
function ttlFromEnv(): number {
  const v = Number(process.env[TTL.env!]);
  return Number.isInteger(v) && v >= TTL.min! ? v : OPTION_DEFAULTS.leaseTtlMs;
}

/** Clocks of two machines may differ: a lease is taken for dead this long after it expires (at most 30 s). */
function skewMs(ttlMs: number): number {
  return Math.min(30_000, Math.floor(ttlMs / 4));
}

let self: Holder | undefined;

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return 'unknown';
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses). */
function startTicks(stat: string): string | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19];
}

/** This process, as a lease holder. */
export function currentHolder(): Holder {
  if (!self) {
    const stat = readText('/proc/self/stat');
    self = {
      host: hostname(),
      boot: readText('/proc/sys/kernel/random/boot_id') ?? 'unknown',
      pidns: pidNamespace(),
      pid: process.pid,
      start: (stat && startTicks(stat)) ?? String(Date.now() - Math.round(process.uptime() * 1000)),
      nonce: randomBytes(8).toString('hex'),
    };
  }
  return self;
}

/**
 * Whether a holder still runs: 'me' (this very process), 'alive', 'dead' (provably: same host and
 * boot, and its pid is gone, reused, a zombie or has SIGKILL pending), or 'unknown' (another host).
 */
export async function holderState(h: Holder): Promise<'me' | 'alive' | 'dead' | 'unknown'> {
  const me = currentHolder();
  if (h.nonce === me.nonce) return 'me';
  // Pids and start times can be checked only in this process's own pid namespace, on this boot.
  if (h.host !== me.host || h.boot !== me.boot || me.boot === 'unknown' || h.pidns !== me.pidns || me.pidns === 'unknown') return 'unknown';
  if (h.pid === me.pid) return 'dead'; // this pid is this process now, so the holder is gone
  let stat: string;
  try {
    stat = await readFile(`/proc/${h.pid}/stat`, 'utf8');
  } catch {
    return 'dead';
  }
  if (startTicks(stat) !== h.start) return 'dead';
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X' || state === 'x') return 'dead';
  if ((Number(fields[6]) & 0x4) !== 0) return 'dead'; // PF_EXITING: on its way out (kill -9 delivered)
  const status = await readFile(`/proc/${h.pid}/status`, 'utf8').catch(() => '');
  for (const field of ['SigPnd', 'ShdPnd']) {
    const m = new RegExp(`^${field}:\\s*([0-9a-f]+)`, 'm').exec(status);
    if (m && (BigInt(`0x${m[1]}`) & (1n << 8n)) !== 0n) return 'dead'; // SIGKILL (9) pending
  }
  return 'alive';
}

/** A lease is live while renewed within its time to live, unless its holder is provably gone. */
export async function isLive(r: LeaseRecord, now = Date.now()): Promise<boolean> {
  if (r.released) return false;
  const state = await holderState(r.holder);
  if (state === 'dead') return false;
  if (state === 'me') return true;
  return now <= r.renewedAt + r.ttlMs + skewMs(r.ttlMs);
}

export function describeHolder(h: Holder): string {
  return `pid ${h.pid} on ${h.host}`;
}

/** A lease record as stored, with its key and whether it is live. */
export interface StoredLease {
  key: string;
  record: LeaseRecord;
  live: boolean;
}

/** Every lease record of a table (a torn one, left by a crash mid-write, is deleted). */
export async function readLeases(storage: Storage, table: string): Promise<StoredLease[]> {
  const out: StoredLease[] = [];
  for await (const obj of storage.list(joinKey(table, LEASE_DIR) + '/')) {
    if (!obj.key.endsWith('.json')) continue;
    const body = await storage.get(obj.key);
    if (!body) continue;
    let record: LeaseRecord;
    try {
      record = JSON.parse(body.toString('utf8')) as LeaseRecord;
    } catch {
      await storage.delete(obj.key);
      continue;
    }
    out.push({ key: obj.key, record, live: await isLive(record) });
  }
  return out;
}

function windowsOverlap(a: Window | undefined, b: Window | undefined): boolean {
  if (!a || !b) return false;
  const aEnd = a.end ?? Number.POSITIVE_INFINITY;
  const bEnd = b.end ?? Number.POSITIVE_INFINITY;
  return a.start < bEnd && b.start < aEnd;
}

function describeWindow(w: Window | undefined): string {
  if (!w) return 'the table';
  return `[${formatTime(w.start)}, ${w.end === undefined ? 'open' : formatTime(w.end)})`;
}

/** A held lease, renewed in the background until released. */
export class Lease {
  readonly record: LeaseRecord;
  readonly #storage: Storage;
  readonly #key: string;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> = Promise.resolve();

  private constructor(storage: Storage, key: string, record: LeaseRecord) {
    this.#storage = storage;
    this.#key = key;
    this.record = record;
  }

  /**
   * Take a lease on a table for a run. Refuses (ZDE_LEASE_HELD) when a live lease of another run
   * conflicts: an export, replay or reset whose window overlaps, or another compaction or vacuum.
   */
  static async acquire(storage: Storage, table: string, opts: { run: string; purpose: LeaseRecord['purpose']; window?: Window | undefined; ttlMs?: number }): Promise<Lease> {
    const now = Date.now();
    const record: LeaseRecord = { run: opts.run, holder: currentHolder(), purpose: opts.purpose, window: opts.window, acquiredAt: now, renewedAt: now, ttlMs: opts.ttlMs ?? ttlFromEnv() };
    for (const { record: other, live } of await readLeases(storage, table)) {
      if (!live || other.run === record.run) continue;
      const exclusive = (p: LeaseRecord['purpose']): boolean => p === 'compact' || p === 'vacuum' || p === 'reset';
      const clash =
        (exclusive(record.purpose) && exclusive(other.purpose)) ||
        record.purpose === 'reset' ||
        other.purpose === 'reset' ||
        (!exclusive(record.purpose) && !exclusive(other.purpose) && windowsOverlap(record.window, other.window));
      if (clash) {
        const self = (await holderState(other.holder)) === 'me';
        throw new ZendeskEtlError(
          ErrorCodes.LEASE_HELD,
          `${storage.url}/${table} is being written by another run (${other.purpose} of ${describeWindow(other.window)}, ${self ? 'in this very process' : describeHolder(other.holder)}, renewed ${Math.round((now - other.renewedAt) / 1000)} s ago); wait for it to finish, or stop it. A lease of a run that died on another machine expires ${Math.round(other.ttlMs / 1000)} s after its last renewal`,
          { path: `${storage.url}/${table}` },
        );
      }
    }
    const key = joinKey(table, LEASE_DIR, `${opts.run}.json`);
    await storage.put(key, JSON.stringify(record));
    const lease = new Lease(storage, key, record);
    lease.#timer = setInterval(() => lease.#renew(), Math.max(1000, Math.floor(record.ttlMs / 6)));
    lease.#timer.unref();
    return lease;
  }

  #renew(): void {
    this.#renewing = this.#renewing.then(async () => {
      const renewedAt = Date.now();
      try {
        await this.#storage.put(this.#key, JSON.stringify({ ...this.record, renewedAt }));
        this.record.renewedAt = renewedAt;
      } catch {
        // A missed renewal only makes this run look stopped: another run may fence it, and then
        // this run commits nothing more. Nothing is lost either way.
      }
    });
  }

  /**
   * Record the files a commit is about to make visible and remove, before it does: if this run dies
   * in the middle, the next run knows which files were its own and cleans them up.
   */
  async note(work: { promoting?: string[]; retiring?: string[] }): Promise<void> {
    await this.#renewing;
    const next: LeaseRecord = { ...this.record, renewedAt: Date.now() };
    if (work.promoting?.length) next.promoting = work.promoting;
    else delete next.promoting;
    if (work.retiring?.length) next.retiring = work.retiring;
    else delete next.retiring;
    const written = this.#storage.put(this.#key, JSON.stringify(next)).then(() => {
      Object.assign(this.record, next);
      if (!next.promoting) delete this.record.promoting;
      if (!next.retiring) delete this.record.retiring;
    });
    this.#renewing = written.catch(() => undefined);
    await written;
  }

  /**
   * Give the lease up. With work still noted (a commit that failed half-way), the record stays,
   * marked released, so the next run's cleanup finishes that work.
   */
  async release(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#renewing;
    if (this.record.promoting?.length || this.record.retiring?.length) {
      await this.#storage.put(this.#key, JSON.stringify({ ...this.record, released: true })).catch(() => undefined);
      return;
    }
    await this.#storage.delete(this.#key).catch(() => undefined);
  }
}
