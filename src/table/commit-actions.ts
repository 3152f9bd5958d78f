import type { Segment, Window } from '../core/delivery.js';
import type { Column } from '../schema/ticket-schema.js';
import { VERSION } from '../version.js';
import { PROTOCOL, columnsOf, fenceAppId, newMetaData, schemaString, type Action, type MetaDataAction, type Snapshot, type ZendeskEtlCommit } from './delta-log.js';
import { settingsConfiguration, type TableSettings } from './settings.js';

/**
 * The actions of one commit, built from the table as read and the change to make. Pure: the same
 * inputs give the same actions (the clock comes in as `now`), so the commit loop can rebuild them
 * against each newer snapshot it reads.
 */

const ENGINE_INFO = `zendesk-stream-etl/${VERSION}`;

/** A data file to add, as the log records it. */
export interface FileToAdd {
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  /** Delta stats (JSON text). */
  stats: string;
  columns: readonly Column[];
}

export interface CommitRequest {
  /** Delta's operation name: WRITE, OPTIMIZE, DELETE, FENCE. */
  operation: string;
  adds: readonly FileToAdd[];
  removes: readonly string[];
  segments: readonly Segment[];
  window: Window | undefined;
  reset: boolean;
  dataChange: boolean;
  parameters: Record<string, string>;
  /** Runs this commit fences. */
  fences: readonly string[];
}

/** Who commits, and the table's fixed parts. */
export interface Committer {
  run: string;
  /** Unique per commit: a writer that lost sight of its put recognises it by this. */
  commit: string;
  /** The stream whose versions the table holds; undefined for sideload tables. */
  stream: string | undefined;
  /** The table's name, for `commitInfo.zendeskEtl.stream` when it holds no stream. */
  table: string;
  settings: TableSettings;
  partitionColumns: readonly string[];
  /** Every column this run's files use (a new table's schema, or the columns to widen it by). */
  wanted: readonly Column[];
  now: number;
}

/** A metaData action when the table is new or the files added widen its schema; else undefined. */
export function metaDataFor(s: Pick<Snapshot, 'metaData'>, who: Committer, adding: boolean): MetaDataAction | undefined {
  const pinned = s.metaData ? columnsOf(s.metaData) : [];
  const have = new Set(pinned.map((c) => c.name));
  const used = adding || !s.metaData ? who.wanted : [];
  const fresh = used.filter((c) => !have.has(c.name));
  if (!s.metaData) return newMetaData(fresh, who.partitionColumns, settingsConfiguration(who.settings, who.stream), who.settings.format === 'parquet' ? 'parquet' : 'json');
  if (fresh.length === 0) return undefined;
  return { ...s.metaData, schemaString: schemaString([...pinned, ...fresh], s.metaData.partitionColumns) };
}

/** The actions of the next version: commitInfo first (it declares how many actions follow). */
export function commitActions(s: Pick<Snapshot, 'version' | 'metaData' | 'files' | 'txns'>, who: Committer, req: CommitRequest): Action[] {
  const z: ZendeskEtlCommit = {
    run: who.run,
    commit: who.commit,
    stream: who.stream ?? who.table,
    ...(req.window ? { window: req.window } : {}),
    ...(req.segments.length > 0 ? { segments: [...req.segments] } : {}),
    ...(req.reset ? { reset: true } : {}),
    ...(req.fences.length > 0 ? { fences: [...req.fences] } : {}),
  };
  const rest: Action[] = [];
  if (s.version < 0) rest.push({ protocol: PROTOCOL });
  const meta = metaDataFor(s, who, req.adds.length > 0);
  if (meta) rest.push({ metaData: meta });
  if (req.window && who.stream) {
    const appId = `zendesk-stream-etl/${who.stream}/${req.window.start}-${req.window.end ?? 'open'}`;
    rest.push({ txn: { appId, version: (s.txns.get(appId) ?? -1) + 1, lastUpdated: who.now } });
  }
  for (const run of req.fences) rest.push({ txn: { appId: fenceAppId(run), version: 0, lastUpdated: who.now } });
  for (const f of req.adds) {
    rest.push({ add: { path: f.path, partitionValues: f.partitionValues, size: f.size, modificationTime: who.now, dataChange: req.dataChange, stats: f.stats } });
  }
  for (const p of req.removes) {
    const old = s.files.get(p);
    rest.push({ remove: { path: p, deletionTimestamp: who.now, dataChange: req.dataChange, extendedFileMetadata: true, partitionValues: old?.partitionValues ?? {}, size: old?.size ?? 0 } });
  }
  z.actions = rest.length + 1;
  return [{ commitInfo: { timestamp: who.now, operation: req.operation, operationParameters: req.parameters, engineInfo: ENGINE_INFO, isBlindAppend: false, zendeskEtl: z } }, ...rest];
}
