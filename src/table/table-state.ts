import { Ledger, type Segment } from '../core/delivery.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { Storage } from '../storage/storage.js';
import { settingKey } from './delta-log.js';
import { LakeTable, type TableChange, type TableStep } from './lake-table.js';
import type { Snapshot } from './delta-log.js';
import { readLeases } from './lease.js';
import { TableLog } from './table-log.js';

/** What a table holds and who is writing it, as its log says (`zendesk-etl state show`). */
export interface TableState {
  table: string;
  /** The last version; -1 for a table not created yet. */
  version: number;
  stream: string | undefined;
  settings: Record<string, string>;
  files: number;
  rows: number;
  bytes: number;
  /** What of the stream is committed: ranges of generated_timestamp, merged. */
  committed: { from: number; to: number; idsAtEnd: number; cursor: boolean }[];
  lastCommit: { version: number; at: string; operation: string; run?: string | undefined } | undefined;
  /** Runs writing the table now. */
  running: { run: string; purpose: string; window?: { start: number; end?: number | undefined } | undefined; holder: string; renewedAt: string }[];
}

function rowsOf(stats: string | undefined): number {
  try {
    return Number((JSON.parse(stats ?? '{}') as { numRecords?: unknown }).numRecords ?? 0);
  } catch {
    return 0;
  }
}

/** Read a table's state from its log. Changes nothing. */
export async function readTableState(storage: Storage, name: string): Promise<TableState> {
  const log = new TableLog(storage, name);
  await log.refresh();
  const s = log.snapshot;
  const files = [...s.files.values()];
  const last = s.history.at(-1);
  const segments: readonly Segment[] = new Ledger(s.segments).segments;
  return {
    table: `${storage.url}/${name}`,
    version: s.version,
    stream: s.metaData?.configuration[settingKey('stream')],
    settings: Object.fromEntries(Object.entries(s.metaData?.configuration ?? {}).map(([k, v]) => [k.replace(/^zendesk-etl\./, ''), v])),
    files: files.length,
    rows: files.reduce((n, f) => n + rowsOf(f.stats), 0),
    bytes: files.reduce((n, f) => n + f.size, 0),
    committed: segments.map((g) => ({ from: g.from.at, to: g.to.at, idsAtEnd: g.to.ids.length, cursor: g.cursor !== undefined })),
    lastCommit: last ? { version: last.version, at: new Date(last.commitInfo?.timestamp ?? 0).toISOString(), operation: last.commitInfo?.operation ?? 'unknown', run: last.commitInfo?.zendeskEtl?.run } : undefined,
    running: (await readLeases(storage, name))
      .filter((l) => l.live)
      .map((l) => ({ run: l.record.run, purpose: l.record.purpose, window: l.record.window, holder: `pid ${l.record.holder.pid} on ${l.record.holder.host}`, renewedAt: new Date(l.record.renewedAt).toISOString() })),
  };
}

/** The change that resets a table as it stands: remove every file it holds, forget every segment. */
function resetChange(s: Snapshot): TableChange {
  return { operation: 'DELETE', removes: [...s.files.keys()], reset: true, parameters: { predicate: '[]', reason: 'zendesk-etl state reset' } };
}

/**
 * Reset a table: one commit removes every file and forgets what of the stream it held, so the next
 * export starts over. The reset is a version of the log like any other (readers of older versions
 * still see the old rows); in a folder the removed files are deleted after the commit. A reset that
 * raced a write is built again from the table as it then stands, never sent stale.
 */
export async function resetTable(storage: Storage, name: string, opts: { onCommitStep?: ((step: TableStep) => void) | undefined } = {}): Promise<{ version: number; files: number; rows: number }> {
  const table = await LakeTable.open({ storage, name, onStep: opts.onCommitStep });
  try {
    if (!table.snapshot.metaData) throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${storage.url}/${name} is not a table (no ${name}/_delta_log/): nothing to reset`, { path: `${storage.url}/${name}` });
    await table.begin('reset');
    const removed = new Map<string, number>();
    const rederive = (s: Snapshot): TableChange => {
      removed.clear();
      for (const f of s.files.values()) removed.set(f.path, rowsOf(f.stats));
      return { ...resetChange(s), rederive };
    };
    const version = await table.commit(rederive(table.snapshot));
    return { version, files: removed.size, rows: [...removed.values()].reduce((n, r) => n + r, 0) };
  } finally {
    await table.close();
  }
}
