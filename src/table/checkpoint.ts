import { Bool, Field, Int32, Int64, List, Map_, RecordBatch, Schema, Struct, Table, Utf8, makeBuilder, makeData, tableFromIPC, tableToIPC, type DataType, type Vector } from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { Ledger, type Segment } from '../core/delivery.js';
import type { Storage } from '../storage/storage.js';
import { joinKey } from '../storage/storage.js';
import { LOG_DIR, emptySnapshot, fenceRun, type CommitInfoAction, type MetaDataAction, type ProtocolAction, type Snapshot } from './delta-log.js';

/**
 * Delta checkpoints: the table's state at a version, in one Parquet file that any Delta reader
 * opens instead of replaying every commit before it (`_delta_log/%020d.checkpoint.parquet`, one row
 * per action: `protocol`, `metaData`, `txn`, an `add` per file the table holds, a `remove` per
 * tombstone), and `_delta_log/_last_checkpoint`, which names the newest.
 *
 * zendesk-etl's own state lives in `commitInfo`, which a checkpoint does not carry: what of the stream
 * the table holds (its segments, merged), and the last commits' provenance. It goes in a small side
 * file beside the table's leases, `_zde/checkpoints/%020d.json`, written put-if-absent right after the
 * Parquet file. Fences are `txn` actions and ride in the checkpoint itself. A checkpoint counts only
 * with its side file: without it (a crash between the two), or when either is torn, the table is read
 * from its commits, as before checkpoints. A checkpoint is never replaced; `_last_checkpoint` only
 * moves forward.
 */

export const LAST_CHECKPOINT = `${LOG_DIR}/_last_checkpoint`;

/** How often a writer checkpoints, unless the table says otherwise (`delta.checkpointInterval`). */
export const DEFAULT_CHECKPOINT_INTERVAL = 10;

export function checkpointKey(version: number): string {
  return `${LOG_DIR}/${String(version).padStart(20, '0')}.checkpoint.parquet`;
}

export function stateKey(version: number): string {
  return `_zde/checkpoints/${String(version).padStart(20, '0')}.json`;
}

/** The interval a table asks for (`delta.checkpointInterval` in its configuration), or the default. */
export function checkpointInterval(meta: MetaDataAction | undefined): number {
  const v = Number(meta?.configuration['delta.checkpointInterval']);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_CHECKPOINT_INTERVAL;
}

/** zendesk-etl's state at a checkpoint's version (the side file). */
interface CheckpointState {
  version: number;
  segments: Segment[];
  history: { version: number; commitInfo: CommitInfoAction | undefined }[];
}

// ------------------------------------------------------------------ the Parquet file

const str = (): Utf8 => new Utf8();
const long = (): Int64 => new Int64();
const field = (name: string, type: DataType, nullable = true): Field => new Field(name, type, nullable);
const map = (): Map_ => new Map_(new Field('key_value', new Struct([new Field('key', new Utf8(), false), new Field('value', new Utf8(), true)]), false));

/** The checkpoint schema of Delta's protocol (reader 1, writer 2). */
const SCHEMA = new Schema([
  field('txn', new Struct([field('appId', str()), field('version', long()), field('lastUpdated', long())])),
  field('add', new Struct([field('path', str()), field('partitionValues', map()), field('size', long()), field('modificationTime', long()), field('dataChange', new Bool()), field('stats', str()), field('tags', map())])),
  field('remove', new Struct([field('path', str()), field('deletionTimestamp', long()), field('dataChange', new Bool()), field('extendedFileMetadata', new Bool()), field('partitionValues', map()), field('size', long())])),
  field('metaData', new Struct([field('id', str()), field('name', str()), field('description', str()), field('format', new Struct([field('provider', str()), field('options', map())])), field('schemaString', str()), field('partitionColumns', new List(new Field('element', str(), true))), field('configuration', map()), field('createdTime', long())])),
  field('protocol', new Struct([field('minReaderVersion', new Int32()), field('minWriterVersion', new Int32())])),
]);

type Row = Partial<Record<'txn' | 'add' | 'remove' | 'metaData' | 'protocol', Record<string, unknown>>>;

const big = (n: number | undefined): bigint | null => (n === undefined ? null : BigInt(Math.trunc(n)));
const entries = (o: Record<string, string | null> | undefined): Map<string, string | null> => new Map(Object.entries(o ?? {}));

/** The rows of a checkpoint of `s`: one action each. */
function checkpointRows(s: Snapshot): Row[] {
  const rows: Row[] = [];
  if (s.protocol) rows.push({ protocol: { ...s.protocol } });
  const m = s.metaData;
  if (m) {
    rows.push({
      metaData: {
        id: m.id,
        name: m.name ?? null,
        description: m.description ?? null,
        format: { provider: m.format.provider, options: new Map(Object.entries(m.format.options)) },
        schemaString: m.schemaString,
        partitionColumns: m.partitionColumns,
        configuration: new Map(Object.entries(m.configuration)),
        createdTime: big(m.createdTime),
      },
    });
  }
  for (const [appId, version] of s.txns) rows.push({ txn: { appId, version: BigInt(version), lastUpdated: null } });
  for (const f of s.files.values()) {
    rows.push({ add: { path: f.path, partitionValues: entries(f.partitionValues), size: big(f.size), modificationTime: big(f.modificationTime), dataChange: false, stats: f.stats ?? null, tags: null } });
  }
  for (const [path, at] of s.removed) rows.push({ remove: { path, deletionTimestamp: big(at), dataChange: false, extendedFileMetadata: false, partitionValues: null, size: null } });
  return rows;
}

/** A checkpoint of `s`, as Parquet bytes. */
export function encodeCheckpoint(s: Snapshot): Uint8Array {
  const rows = checkpointRows(s);
  const builders = SCHEMA.fields.map((f) => makeBuilder({ type: f.type, nullValues: [null, undefined] }));
  for (const row of rows) SCHEMA.fields.forEach((f, i) => builders[i]!.append(row[f.name as keyof Row] ?? null));
  const children = builders.map((b) => b.finish().flush());
  const batch = new RecordBatch(SCHEMA, makeData({ type: new Struct(SCHEMA.fields), length: rows.length, nullCount: 0, children }));
  const table = pw.Table.fromIPCStream(tableToIPC(new Table([batch]), 'stream'));
  const props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression.SNAPPY).setCreatedBy('zendesk-stream-etl (parquet-wasm)').build();
  return pw.writeParquet(table, props);
}

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : Number(v ?? 0));

function record(v: unknown): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (v === null || v === undefined) return out;
  const pairs = v instanceof Map ? [...v.entries()] : Object.entries(v as Record<string, unknown>);
  for (const [k, val] of pairs) out[String(k)] = val === null || val === undefined ? null : String(val);
  return out;
}

/** The table state in a checkpoint's Parquet bytes (throws on anything that is not one). */
export function decodeCheckpoint(bytes: Uint8Array, version: number, state: CheckpointState): Snapshot {
  const table = tableFromIPC(pw.readParquet(bytes).intoIPCStream());
  const s = emptySnapshot();
  // Column by column: a checkpoint of a big table has one row per file.
  const col = (action: string, name: string): Vector | null => table.getChild(action)?.getChild(name) ?? null;
  const at = (v: Vector | null, i: number): unknown => v?.get(i) ?? null;
  const add = table.getChild('add');
  if (add) {
    const [path, pv, size, mtime, stats] = ['path', 'partitionValues', 'size', 'modificationTime', 'stats'].map((n) => col('add', n));
    // An unpartitioned table's maps are all empty: no map is built per file then.
    const partitioned = pv?.data.some((d) => (d.children[0]?.length ?? 0) > 0) ?? false;
    for (let i = 0; i < table.numRows; i++) {
      if (!add.isValid(i)) continue;
      const p = String(at(path!, i));
      const st = at(stats!, i);
      s.files.set(p, { path: p, partitionValues: partitioned ? record(at(pv!, i)) : {}, size: num(at(size!, i)), modificationTime: num(at(mtime!, i)), stats: st === null ? undefined : String(st) });
    }
  }
  const remove = table.getChild('remove');
  if (remove) {
    const [path, when] = ['path', 'deletionTimestamp'].map((n) => col('remove', n));
    for (let i = 0; i < table.numRows; i++) if (remove.isValid(i)) s.removed.set(String(at(path!, i)), num(at(when!, i)));
  }
  const txn = table.getChild('txn');
  if (txn) {
    const [app, ver] = ['appId', 'version'].map((n) => col('txn', n));
    for (let i = 0; i < table.numRows; i++) {
      if (!txn.isValid(i)) continue;
      const appId = String(at(app!, i));
      s.txns.set(appId, num(at(ver!, i)));
      const run = fenceRun(appId);
      if (run !== undefined) s.fenced.add(run);
    }
  }
  const protocol = table.getChild('protocol');
  const meta = table.getChild('metaData');
  for (let i = 0; i < table.numRows; i++) {
    if (protocol?.isValid(i)) s.protocol = { minReaderVersion: num(at(col('protocol', 'minReaderVersion'), i)), minWriterVersion: num(at(col('protocol', 'minWriterVersion'), i)) } satisfies ProtocolAction;
    if (meta?.isValid(i)) {
      const m = (meta.get(i) as { toJSON(): Record<string, unknown> }).toJSON();
      const format = m.format as { provider?: unknown; options?: unknown } | null;
      s.metaData = {
        id: String(m.id),
        ...(m.name === null || m.name === undefined ? {} : { name: String(m.name) }),
        ...(m.description === null || m.description === undefined ? {} : { description: String(m.description) }),
        format: { provider: String(format?.provider ?? 'parquet'), options: record(format?.options) as Record<string, string> },
        schemaString: String(m.schemaString),
        partitionColumns: [...((m.partitionColumns as Iterable<string> | null) ?? [])].map(String),
        configuration: record(m.configuration) as Record<string, string>,
        ...(m.createdTime === null || m.createdTime === undefined ? {} : { createdTime: num(m.createdTime) }),
      };
    }
    if (s.protocol && s.metaData) break;
  }
  if (!s.protocol || !s.metaData) throw new Error('a checkpoint without protocol or metaData');
  s.version = version;
  s.segments = state.segments;
  s.history = state.history;
  return s;
}

// ------------------------------------------------------------------ in storage

/**
 * Write a checkpoint of `s` (the table at `s.version`): the Parquet file and the side file, each
 * put-if-absent, then `_last_checkpoint` if it names an older version. Returns false when another
 * writer's checkpoint of that version is there already.
 */
export async function writeCheckpoint(storage: Storage, table: string, s: Snapshot): Promise<boolean> {
  const state: CheckpointState = { version: s.version, segments: [...new Ledger(s.segments).segments], history: s.history.slice(-16) };
  const rows = s.files.size + s.removed.size + s.txns.size + 2;
  if (!(await storage.putIfAbsent(joinKey(table, checkpointKey(s.version)), Buffer.from(encodeCheckpoint(s))))) return false;
  await storage.putIfAbsent(joinKey(table, stateKey(s.version)), JSON.stringify(state));
  const last = await readLastCheckpoint(storage, table);
  if (last === undefined || last < s.version) await storage.put(joinKey(table, LAST_CHECKPOINT), JSON.stringify({ version: s.version, size: rows }));
  return true;
}

/** The version `_last_checkpoint` names, if it is there and readable. */
async function readLastCheckpoint(storage: Storage, table: string): Promise<number | undefined> {
  const body = await storage.get(joinKey(table, LAST_CHECKPOINT)).catch(() => undefined);
  if (!body) return undefined;
  try {
    const v = (JSON.parse(body.toString('utf8')) as { version?: unknown }).version;
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The table as of its newest checkpoint, when `_last_checkpoint`, the checkpoint and its side file
 * are all there and whole; undefined otherwise (the caller reads the commits instead).
 */
export async function readCheckpoint(storage: Storage, table: string): Promise<Snapshot | undefined> {
  const version = await readLastCheckpoint(storage, table);
  if (version === undefined) return undefined;
  try {
    const [bytes, side] = await Promise.all([storage.get(joinKey(table, checkpointKey(version))), storage.get(joinKey(table, stateKey(version)))]);
    if (!bytes || !side) return undefined;
    const state = JSON.parse(side.toString('utf8')) as CheckpointState;
    if (state.version !== version || !Array.isArray(state.segments) || !Array.isArray(state.history)) return undefined;
    return decodeCheckpoint(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), version, state);
  } catch {
    return undefined;
  }
}
