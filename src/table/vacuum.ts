import { resolveOptions } from '../options/normalize.js';
import { openStorage } from '../storage/open-storage.js';
import type { Storage } from '../storage/storage.js';
import { LOG_DIR } from './delta-log.js';
import { LakeTable, isDataFilePath, runOfDataFile, type TableStep } from './lake-table.js';
import { LEASE_DIR, readLeases } from './lease.js';

export interface VacuumOptions {
  /** The lake: a folder, or a storage. */
  out: string | Storage;
  /** The table. Default 'tickets'. */
  table?: string;
  /** Keep files no longer in the table for this long (readers of older versions may still read them). Default 168 (7 days). */
  retentionHours?: number;
  /** List what would go, delete nothing. */
  dryRun?: boolean;
  /** For crash-injection and pause tests: called after each step of a commit (a fence). */
  onCommitStep?: ((step: TableStep) => void) | undefined;
}

export interface VacuumResult {
  /** Paths in the table deleted (or, with dryRun, that would be). */
  deleted: string[];
  bytes: number;
  /** Unfinished multipart uploads aborted (object storage). */
  abortedUploads: number;
}

/**
 * Delete what the table no longer holds: files a compaction or reset removed, and orphans a crashed
 * run left (uploaded or renamed, never committed), once older than the retention period, and never
 * a file of a run whose lease is live. Delta readers never see either kind; a plain glob reader
 * sees them until this runs. Unfinished multipart uploads older than the retention go too.
 *
 * An orphan's run might only be paused, and commit its file later: so the runs whose orphans go
 * are fenced in the log first (one commit), and a fenced run never commits. What a run committed
 * before its fence is in the log, and stays.
 */
export async function vacuumTable(opts: VacuumOptions): Promise<VacuumResult> {
  const r = resolveOptions('vacuum', { retentionHours: opts.retentionHours, dryRun: opts.dryRun, table: opts.table });
  const hours = r.retentionHours;
  const storage: Storage = typeof opts.out === 'string' ? await openStorage(opts.out) : opts.out;
  const name = opts.table ?? 'tickets';
  const table = await LakeTable.open({ storage, name, onStep: opts.onCommitStep });
  const result: VacuumResult = { deleted: [], bytes: 0, abortedUploads: 0 };
  try {
    await table.begin('vacuum');
    const live = new Set((await readLeases(storage, name)).filter((l) => l.live).map((l) => l.record.run));
    await table.refresh();
    const s = table.snapshot;
    const retentionMs = hours * 3_600_000;
    const cutoff = Date.now() - retentionMs;
    const doomed: { key: string; rel: string; size: number }[] = [];
    for await (const obj of storage.list(`${name}/`)) {
      const rel = obj.key.slice(name.length + 1);
      if (rel.startsWith(`${LOG_DIR}/`) || rel.startsWith(`${LEASE_DIR.split('/')[0]}/`) || !isDataFilePath(rel)) continue;
      if (s.files.has(rel)) continue;
      const run = runOfDataFile(rel);
      if (run !== undefined && live.has(run)) continue;
      const since = s.removed.get(rel) ?? obj.modified;
      if (since > cutoff) continue;
      doomed.push({ key: obj.key, rel, size: obj.size });
    }
    if (!opts.dryRun) {
      // Orphans (never added) of runs the log does not fence yet: fence those runs first.
      const runs = doomed.filter((d) => !s.removed.has(d.rel)).map((d) => runOfDataFile(d.rel));
      await table.fence(runs.filter((r): r is string => r !== undefined));
    }
    const now = table.snapshot;
    for (const d of doomed) {
      if (now.files.has(d.rel)) continue; // committed before its run's fence: it stays
      const run = runOfDataFile(d.rel);
      if (!now.removed.has(d.rel) && run !== undefined && !now.fenced.has(run) && !opts.dryRun) continue; // a table with no log yet takes no fence
      if (!opts.dryRun) await storage.delete(d.key);
      result.deleted.push(d.rel);
      result.bytes += d.size;
    }
    // Never a live run's upload in progress, whatever the retention.
    const keep = (key: string): boolean => live.has(runOfDataFile(key.slice(name.length + 1)) ?? '');
    if (!opts.dryRun && storage.abortStaleUploads) result.abortedUploads = await storage.abortStaleUploads(`${name}/`, retentionMs, { keep });
    return result;
  } finally {
    await table.close();
  }
}
