import { randomUUID } from 'node:crypto';
import type { Segment, Window } from '../core/delivery.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { Column, ColumnType } from '../schema/ticket-schema.js';

/**
 * Delta Lake's transaction log, the parts this project writes and reads (protocol reader 1, writer 2).
 * Pure: commits are built and a table's state is replayed from them here; storage does the I/O.
 *
 * A table version N is the file `_delta_log/%020d.json`: one JSON action per line. This project's own
 * bookkeeping travels in `commitInfo.zendeskEtl` (free-form by the protocol, ignored by Delta readers):
 * the segments of the stream each commit made durable, the run and the window.
 */

export const LOG_DIR = '_delta_log';

export function commitKey(version: number): string {
  return `${LOG_DIR}/${String(version).padStart(20, '0')}.json`;
}

/** The version of a commit file name, or undefined for anything else in the log folder. */
export function versionOf(name: string): number | undefined {
  const m = /(?:^|\/)(\d{20})\.json$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export interface ProtocolAction {
  minReaderVersion: number;
  minWriterVersion: number;
}

export interface MetaDataAction {
  id: string;
  name?: string | null;
  description?: string | null;
  format: { provider: string; options: Record<string, string> };
  schemaString: string;
  partitionColumns: string[];
  configuration: Record<string, string>;
  createdTime?: number;
}

export interface AddAction {
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  modificationTime: number;
  dataChange: boolean;
  stats?: string;
}

export interface RemoveAction {
  path: string;
  deletionTimestamp: number;
  dataChange: boolean;
  extendedFileMetadata?: boolean;
  partitionValues?: Record<string, string | null>;
  size?: number;
}

export interface TxnAction {
  appId: string;
  version: number;
  lastUpdated?: number;
}

/** This project's part of `commitInfo`. */
export interface ZendeskEtlCommit {
  /** The run that made the commit (also in data file names). */
  run: string;
  /** Unique per commit: a writer that lost sight of its own put (a timeout) recognises it by this. */
  commit?: string;
  stream: string;
  /** The window the run was asked for. */
  window?: Window | undefined;
  /** Versions of the stream this commit made durable. */
  segments?: Segment[];
  /** Every segment before this commit is forgotten (`zendesk-etl state reset`). */
  reset?: boolean;
  /** Runs this commit fences: they never commit again (their `txn` fence actions say the same). */
  fences?: string[];
  /** How many actions the commit holds, this one included: a commit cut short is recognised. */
  actions?: number;
}

export interface CommitInfoAction {
  timestamp: number;
  operation: string;
  operationParameters?: Record<string, string>;
  engineInfo?: string;
  isBlindAppend?: boolean;
  zendeskEtl?: ZendeskEtlCommit;
}

export type Action =
  | { protocol: ProtocolAction }
  | { metaData: MetaDataAction }
  | { add: AddAction }
  | { remove: RemoveAction }
  | { txn: TxnAction }
  | { commitInfo: CommitInfoAction };

export const PROTOCOL: ProtocolAction = { minReaderVersion: 1, minWriterVersion: 2 };

/** The `txn` application id that fences a run: a checkpointable record that it never commits again. */
const FENCE_APP = 'zendesk-stream-etl/fence/';

export function fenceAppId(run: string): string {
  return `${FENCE_APP}${run}`;
}

/** The run a `txn` application id fences, if it is a fence. */
export function fenceRun(appId: string): string | undefined {
  return appId.startsWith(FENCE_APP) ? appId.slice(FENCE_APP.length) : undefined;
}

export function encodeCommit(actions: readonly Action[]): string {
  return `${actions.map((a) => JSON.stringify(a)).join('\n')}\n`;
}

/**
 * The actions of a commit file. What is not a whole commit is refused, naming the file: an empty
 * file, a byte order mark, a line that is not JSON, no `commitInfo`, or fewer actions than its
 * `commitInfo` declares (a file cut at a line boundary). Every commit this project writes has both.
 */
export function decodeCommit(text: string, where: string): Action[] {
  const refuse = (why: string, cause?: unknown): ZendeskEtlError =>
    new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the table log file ${where} is not a whole commit: ${why}. A commit is written whole or not at all, so this file was damaged or written by something else; restore it from a backup, or export into a new folder`, { path: where }, cause === undefined ? undefined : { cause });
  if (text.charCodeAt(0) === 0xfeff) throw refuse('it begins with a UTF-8 byte order mark');
  const out: Action[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let action: unknown;
    try {
      action = JSON.parse(line);
    } catch (err) {
      throw refuse(`line ${i + 1} is not JSON (${(err as Error).message})`, err);
    }
    if (action === null || typeof action !== 'object' || Array.isArray(action)) throw refuse(`line ${i + 1} is not an action object`);
    out.push(action as Action);
  }
  if (out.length === 0) throw refuse('it is empty');
  // A newer protocol is refused for what it is when the commit is applied, whatever else it holds.
  if (out.some((a) => 'protocol' in a && (a.protocol.minReaderVersion > 1 || a.protocol.minWriterVersion > 2))) return out;
  const info = out.find((a): a is { commitInfo: CommitInfoAction } => 'commitInfo' in a);
  if (!info) throw refuse('it has no commitInfo');
  const declared = info.commitInfo.zendeskEtl?.actions;
  if (declared !== undefined && declared !== out.length) throw refuse(`its commitInfo declares ${declared} actions and it holds ${out.length}`);
  return out;
}

// ------------------------------------------------------------------ schema

/** Delta's type names for this project's column types. */
function deltaType(type: ColumnType): string | { type: 'array'; elementType: string; containsNull: boolean } {
  switch (type) {
    case 'int64':
      return 'long';
    case 'double':
      return 'double';
    case 'boolean':
      return 'boolean';
    case 'text':
    case 'json':
      return 'string';
    case 'timestamp':
      return 'timestamp';
    case 'date':
      return 'date';
    case 'list<int64>':
      return { type: 'array', elementType: 'long', containsNull: false };
    case 'list<text>':
      return { type: 'array', elementType: 'string', containsNull: false };
  }
}

const TYPE_KEY = 'zendesk-etl.type';
const FIELD_KEY = 'zendesk-etl.field';

interface DeltaField {
  name: string;
  type: unknown;
  nullable: boolean;
  metadata: Record<string, string>;
}

/** A Delta schemaString for columns, plus partition columns (strings). */
export function schemaString(columns: readonly Column[], partitionColumns: readonly string[]): string {
  const fields: DeltaField[] = columns.map((c) => ({ name: c.name, type: deltaType(c.type), nullable: c.required !== true, metadata: { [TYPE_KEY]: c.type, ...(c.field === undefined ? {} : { [FIELD_KEY]: String(c.field) }) } }));
  for (const p of partitionColumns) fields.push({ name: p, type: 'string', nullable: true, metadata: {} });
  return JSON.stringify({ type: 'struct', fields });
}

/** The columns of a schemaString (partition columns left out). */
export function columnsOf(meta: MetaDataAction): Column[] {
  let parsed: { fields?: DeltaField[] };
  try {
    parsed = JSON.parse(meta.schemaString) as { fields?: DeltaField[] };
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the table's schemaString is not JSON: ${(err as Error).message}`, {}, { cause: err });
  }
  const partitions = new Set(meta.partitionColumns);
  const out: Column[] = [];
  for (const f of parsed.fields ?? []) {
    if (partitions.has(f.name)) continue;
    const type = (f.metadata?.[TYPE_KEY] as ColumnType | undefined) ?? fromDeltaType(f.type);
    const field = f.metadata?.[FIELD_KEY] === undefined ? undefined : Number(f.metadata[FIELD_KEY]);
    out.push({ name: f.name, type, ...(f.nullable === false ? { required: true } : {}), ...(field === undefined ? {} : { field }) });
  }
  return out;
}

function fromDeltaType(t: unknown): ColumnType {
  if (t === 'long' || t === 'integer' || t === 'short' || t === 'byte') return 'int64';
  if (t === 'double' || t === 'float') return 'double';
  if (t === 'boolean') return 'boolean';
  if (t === 'timestamp' || t === 'timestamp_ntz') return 'timestamp';
  if (t === 'date') return 'date';
  if (typeof t === 'object' && t !== null && (t as { type?: unknown }).type === 'array') {
    return (t as { elementType?: unknown }).elementType === 'long' ? 'list<int64>' : 'list<text>';
  }
  return 'text';
}

export function newMetaData(columns: readonly Column[], partitionColumns: readonly string[], configuration: Record<string, string>, provider: 'parquet' | 'json'): MetaDataAction {
  return {
    id: randomUUID(),
    format: { provider, options: {} },
    schemaString: schemaString(columns, partitionColumns),
    partitionColumns: [...partitionColumns],
    configuration,
    createdTime: Date.now(),
  };
}

// ------------------------------------------------------------------ snapshot

/** A data file the table holds. */
export interface TableFile {
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  modificationTime: number;
  stats?: string | undefined;
}

/** A table as of one version: what a reader of the log sees. */
export interface Snapshot {
  /** -1 before the first commit. */
  version: number;
  protocol?: ProtocolAction | undefined;
  metaData?: MetaDataAction | undefined;
  /** Data files the table holds, by path. */
  files: Map<string, TableFile>;
  /** Files removed from the table (by compaction or reset), by path, with when. */
  removed: Map<string, number>;
  txns: Map<string, number>;
  /** Runs fenced by a commit: they never commit again, and what they left may be deleted. */
  fenced: Set<string>;
  /** Segments of the stream committed since the last reset. */
  segments: Segment[];
  /** Commits per run id (who wrote what). */
  runs: Map<string, number>;
  /** The last commitInfo of each version read in this replay, newest last (bounded). */
  history: { version: number; commitInfo: CommitInfoAction | undefined }[];
}

export function emptySnapshot(): Snapshot {
  return { version: -1, files: new Map(), removed: new Map(), txns: new Map(), fenced: new Set(), segments: [], runs: new Map(), history: [] };
}

/** What one commit did, for the conflict checks of a writer that lost the race to it. */
export interface CommitSummary {
  version: number;
  run: string | undefined;
  operation: string | undefined;
  /** Paths added and removed. */
  adds: string[];
  removes: string[];
  segments: Segment[];
  reset: boolean;
  /** Runs it fenced. */
  fences: string[];
  /** Its metaData action, when it changed the schema or settings. */
  metaData: MetaDataAction | undefined;
}

/** Apply one commit to a snapshot (in place), and say what it did. */
export function applyCommit(s: Snapshot, version: number, actions: readonly Action[]): CommitSummary {
  if (version !== s.version + 1) {
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the table log skips from version ${s.version} to ${version}`, { value: version });
  }
  let info: CommitInfoAction | undefined;
  const summary: CommitSummary = { version, run: undefined, operation: undefined, adds: [], removes: [], segments: [], reset: false, fences: [], metaData: undefined };
  for (const a of actions) {
    if ('protocol' in a) {
      if (a.protocol.minReaderVersion > 1 || a.protocol.minWriterVersion > 2) {
        throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the table asks for Delta reader ${a.protocol.minReaderVersion} and writer ${a.protocol.minWriterVersion}; zendesk-etl writes reader 1 and writer 2 tables only, so it will not write into this one`, { value: a.protocol });
      }
      s.protocol = a.protocol;
    } else if ('metaData' in a) {
      s.metaData = a.metaData;
      summary.metaData = a.metaData;
    } else if ('add' in a) {
      s.files.set(a.add.path, { path: a.add.path, partitionValues: a.add.partitionValues, size: a.add.size, modificationTime: a.add.modificationTime, stats: a.add.stats });
      s.removed.delete(a.add.path);
      summary.adds.push(a.add.path);
    } else if ('remove' in a) {
      s.files.delete(a.remove.path);
      s.removed.set(a.remove.path, a.remove.deletionTimestamp);
      summary.removes.push(a.remove.path);
    } else if ('txn' in a) {
      s.txns.set(a.txn.appId, a.txn.version);
      const run = fenceRun(a.txn.appId);
      if (run !== undefined) {
        s.fenced.add(run);
        summary.fences.push(run);
      }
    } else if ('commitInfo' in a) info = a.commitInfo;
  }
  const z = info?.zendeskEtl;
  summary.operation = info?.operation;
  if (z) {
    if (z.reset) s.segments = [];
    if (z.segments) s.segments.push(...z.segments);
    s.runs.set(z.run, (s.runs.get(z.run) ?? 0) + 1);
    summary.run = z.run;
    summary.reset = z.reset === true;
    summary.segments = z.segments ?? [];
  }
  s.version = version;
  s.history.push({ version, commitInfo: info });
  if (s.history.length > 64) s.history.shift();
  return summary;
}

/** The configuration key under which a setting is pinned in `metaData`. */
export function settingKey(name: string): string {
  return `zendesk-etl.${name}`;
}
