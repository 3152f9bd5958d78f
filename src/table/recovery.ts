import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { Storage } from '../storage/storage.js';
import { joinKey } from '../storage/storage.js';
import { LOG_DIR, type Snapshot } from './delta-log.js';
import { readLeases, type StoredLease } from './lease.js';

/**
 * What a table does about runs that stopped writing it: which of them to fence, and, once the log
 * fences them, what of theirs to delete. Nothing here decides from a lease's age or a clock what is
 * deleted: a lease that looks dead only makes a run a candidate for a fence. The fence is a commit
 * (put-if-absent, the next version) naming the run; a fenced run never commits again, so once the
 * fence is in the log, what the log does not hold of that run is safe to delete. A run that won the
 * race and committed before the fence has its files in the log, and they are kept.
 */

const DATA_FILE = /\.(parquet|ndjson|ndjson\.gz)$/;

/** True for a data file's path in a table (not the log, leases or anything else). */
export function isDataFilePath(rel: string): boolean {
  return !rel.startsWith('_') && DATA_FILE.test(rel);
}

/** The run that wrote a data file, from its name (`part-<run>-<seq>.<ext>`). */
export function runOfDataFile(rel: string): string | undefined {
  return /(?:^|\/)part-(\d{8}T\d{6}Z-[0-9a-f]{6})-\d+\./.exec(rel)?.[1];
}

/** What to do about the leases of a table: the runs to fence first, and the leases to clean up after. */
export interface RecoveryPlan {
  /** Runs whose lease is no longer live and whom the log does not fence yet. */
  fence: string[];
  /** Leases whose runs will commit nothing more, once `fence` is in the log: released, or fenced. */
  cleanUp: StoredLease[];
}

/** Pure: which runs to fence and which leases to clean up, from the leases and the log. */
export function planRecovery(leases: readonly StoredLease[], s: Pick<Snapshot, 'fenced'>): RecoveryPlan {
  const plan: RecoveryPlan = { fence: [], cleanUp: [] };
  for (const l of leases) {
    if (l.live) continue;
    // A released lease is the run's own word that it commits nothing more; any other needs a fence.
    if (!l.record.released && !s.fenced.has(l.record.run)) plan.fence.push(l.record.run);
    plan.cleanUp.push(l);
  }
  return plan;
}

/**
 * A folder with data files but no table log: refused, unless every file is a dead run's first file
 * (named by its lease, or, in object storage, named for a run), which the table recovers from.
 */
export async function refuseForeignFolder(storage: Storage, table: string, leases: readonly StoredLease[]): Promise<void> {
  const named = new Set(leases.flatMap((l) => l.record.promoting ?? []));
  const runs = new Set(leases.map((l) => l.record.run));
  for await (const obj of storage.list(`${table}/`)) {
    const rel = obj.key.slice(table.length + 1);
    if (!isDataFilePath(rel) || named.has(rel)) continue;
    const run = runOfDataFile(rel);
    // In object storage a run's files are at their keys from their first byte, before any commit.
    if (run !== undefined && (runs.has(run) || storage.publishes === 'upload')) continue;
    throw new ZendeskEtlError(
      ErrorCodes.TABLE_SETTINGS,
      `${storage.url}/${table} holds data files (${rel}, ...) but no table log (${LOG_DIR}/), and no run's lease names them: it was written by zendesk-etl 0.1 or by something else. Export into a new folder, or move these files away`,
      { path: `${storage.url}/${table}` },
    );
  }
}

/**
 * Delete what runs that commit nothing more left behind, as the log (read after their fences)
 * says: files they were making visible that the log does not hold, files their last commit removed
 * (in a folder), their staging, and their lease. Each lease is read again first: a fenced run that
 * was only slow may have noted more files since.
 */
export async function cleanUpAfter(storage: Storage, table: string, s: Snapshot, leases: readonly StoredLease[], log: Logger = silentLogger): Promise<number> {
  let deleted = 0;
  const fresh = new Map((await readLeases(storage, table)).map((l) => [l.key, l]));
  for (const old of leases) {
    const record = fresh.get(old.key)?.record ?? old.record;
    if (!record.released && !s.fenced.has(record.run)) continue; // never on a guess
    if (record.promoting?.length || record.retiring?.length) {
      log.info('cleaning up after a run that commits nothing more', { table: `${storage.url}/${table}`, run: record.run, fenced: s.fenced.has(record.run), uncommitted_files: record.promoting?.length ?? 0, files_to_retire: record.retiring?.length ?? 0 });
    }
    for (const p of record.promoting ?? []) {
      if (s.files.has(p)) continue;
      await storage.delete(joinKey(table, p));
      deleted++;
    }
    if (storage.publishes === 'rename') {
      for (const p of record.retiring ?? []) {
        if (!s.removed.has(p)) continue;
        await storage.delete(joinKey(table, p));
        deleted++;
      }
      await storage.delete(joinKey('_staging', table, record.run)).catch(() => undefined);
    }
    await storage.delete(old.key);
  }
  return deleted;
}
