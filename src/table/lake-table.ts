import { randomBytes } from 'node:crypto';
import { Ledger, describeSegment, type ExportRange, type Segment, type Window } from '../delivery.js';
import { ErrorCodes, ZendeskEtlError, invalidOption } from '../errors.js';
import type { CustomFieldNaming } from '../schema/custom-fields.js';
import { EXTRA_COLUMN, type Column } from '../schema/ticket-schema.js';
import { DuckDbParquetFormat } from '../sink/duckdb-parquet.js';
import { NdjsonFormat, ParquetFormat, type RowFileWriter, type RowFormat } from '../sink/file-writers.js';
import { WasmParquetFormat } from '../sink/wasm-parquet.js';
import { parsePartitionSpec, partitionColumn, partitionFolder, type PartitionSpec } from '../sink/partition.js';
import type { PendingFile, Storage } from '../storage/storage.js';
import { joinKey } from '../storage/storage.js';
import { DataFile } from './data-file.js';
import { LOG_DIR, PROTOCOL, columnsOf, newMetaData, schemaString, settingKey, type Action, type Snapshot } from './delta-log.js';
import { LEASE_DIR, Lease, readLeases, type LeaseRecord } from './lease.js';
import { TableLog } from './table-log.js';
import { VERSION } from '../version.js';
import { silentLogger, type Logger } from '../log.js';

/** What a table pins in its log: a run with other settings is refused, and changes nothing. */
export interface TableSettings {
  format: 'parquet' | 'ndjson';
  /** NDJSON files gzipped. */
  gzip: boolean;
  /** `updated_at:month` and the like; undefined: no partitions. */
  partitionBy: string | undefined;
  customFieldNames: CustomFieldNaming;
}

export const DEFAULT_TABLE_SETTINGS: Readonly<TableSettings> = { format: 'parquet', gzip: false, partitionBy: undefined, customFieldNames: 'id' };

/** How data files are encoded (free to change from run to run). */
export interface TableWriterOptions {
  /**
   * Which library writes Parquet: 'wasm' (default: arrow-rs in WebAssembly, on a thread of its own),
   * 'parquetjs' (pure JS, the last resort) or 'duckdb' (optional @duckdb/node-api).
   */
  parquetEngine?: 'wasm' | 'parquetjs' | 'duckdb';
  compression?: 'snappy' | 'gzip' | 'none';
  rowGroupSize?: number;
  /** A file format of your own; overrides the table's format for encoding. */
  rowFormat?: RowFormat;
}

/** The steps of a commit, for crash-injection tests and tracing. */
export type TableStep = 'lease-noted' | 'file-promoted' | 'committed' | 'file-retired';

export interface OpenTableOptions {
  storage: Storage;
  /** The table's folder in the lake: a stream (`tickets`), or a sideload table (`tickets__users`). */
  name: string;
  /** The stream whose versions the table holds, for its ledger; undefined for sideload tables. */
  stream?: string | undefined;
  /** What this run asks for; a setting left undefined takes the table's (or the default for a new table). */
  settings?: Partial<TableSettings> | undefined;
  writer?: TableWriterOptions | undefined;
  /** The run's id (shared by the tables one run writes). */
  run?: string | undefined;
  onStep?: ((step: TableStep) => void) | undefined;
  /** Where commits and cleanups are told (at info). Default: silent. */
  log?: Logger | undefined;
}

/** A change to commit: files in and out, and what of the stream they make durable. */
export interface TableChange {
  /** Delta's operation name: WRITE, OPTIMIZE, DELETE. */
  operation: string;
  adds?: readonly DataFile[];
  /** Paths (in the table) of files to remove. */
  removes?: readonly string[];
  segments?: readonly Segment[];
  window?: Window | undefined;
  /** Forget every segment before this commit (`state reset`). */
  reset?: boolean;
  /** False when the rows do not change (compaction). Default true. */
  dataChange?: boolean;
  parameters?: Record<string, string>;
}

/** A new run id: a UTC timestamp and 6 random hex digits (also in its data files' names). */
export function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

const ENGINE_INFO = `zendesk-stream-etl/${VERSION}`;
const SETTINGS: (keyof TableSettings)[] = ['format', 'gzip', 'partitionBy', 'customFieldNames'];
const DATA_FILE = /\.(parquet|ndjson|ndjson\.gz)$/;

/** True for a data file's path in a table (not the log, leases or anything else). */
export function isDataFilePath(rel: string): boolean {
  return !rel.startsWith('_') && DATA_FILE.test(rel);
}

/** The run that wrote a data file, from its name (`part-<run>-<seq>.<ext>`). */
export function runOfDataFile(rel: string): string | undefined {
  return /(?:^|\/)part-(\d{8}T\d{6}Z-[0-9a-f]{6})-\d+\./.exec(rel)?.[1];
}

function codec(c: TableWriterOptions['compression']): 'SNAPPY' | 'GZIP' | 'UNCOMPRESSED' {
  if (c === undefined || c === 'snappy') return 'SNAPPY';
  if (c === 'gzip') return 'GZIP';
  if (c === 'none') return 'UNCOMPRESSED';
  throw invalidOption('compression', '"snappy", "gzip" or "none"', c);
}

function settingText(name: keyof TableSettings, s: TableSettings): string {
  const v = s[name];
  return v === undefined ? '' : String(v);
}

/**
 * The write side of one table, and the only one: every export, replay, compaction, reset and
 * vacuum goes through it, so none can skip a rule. It owns the table's log (what the table holds,
 * the settings it pinned, its schema), its lease, its data files from staging to commit, and the
 * cleanup of what a dead run left behind.
 *
 * A commit: note the files in the lease, make them visible (rename into place, or already uploaded),
 * then write the next log version if absent; a loser of that race reads the winner's commit, checks
 * that nothing overlaps, and tries the next version. Files a commit removes leave afterwards.
 */
export class LakeTable {
  readonly storage: Storage;
  readonly name: string;
  readonly stream: string | undefined;
  readonly run: string;
  readonly settings: Readonly<TableSettings>;
  readonly format: RowFormat;
  readonly partition: PartitionSpec | undefined;
  readonly #log: TableLog;
  readonly #onStep: ((step: TableStep) => void) | undefined;
  readonly #logger: Logger;
  #lease: Lease | undefined;
  #seq = 0;
  #commits = 0;
  #ledger: { version: number; ledger: Ledger } | undefined;
  /** Columns this run's files use, beyond the table's schema (committed with the first such file). */
  #wanted: Column[] = [];

  private constructor(o: OpenTableOptions, log: TableLog, settings: TableSettings) {
    this.storage = o.storage;
    this.name = o.name;
    this.stream = o.stream;
    this.run = o.run ?? newRunId();
    this.settings = settings;
    this.#log = log;
    this.#onStep = o.onStep;
    this.#logger = o.log ?? silentLogger;
    this.partition = settings.partitionBy === undefined ? undefined : parsePartitionSpec(settings.partitionBy);
    const w = o.writer ?? {};
    if (w.parquetEngine !== undefined && w.parquetEngine !== 'wasm' && w.parquetEngine !== 'parquetjs' && w.parquetEngine !== 'duckdb') throw invalidOption('parquetEngine', '"wasm", "parquetjs" or "duckdb"', w.parquetEngine);
    this.format =
      w.rowFormat ??
      (settings.format === 'ndjson'
        ? new NdjsonFormat({ gzip: settings.gzip })
        : w.parquetEngine === 'duckdb'
          ? new DuckDbParquetFormat({ rowGroupSize: w.rowGroupSize, compression: codec(w.compression) })
          : w.parquetEngine === 'parquetjs'
            ? new ParquetFormat({ rowGroupSize: w.rowGroupSize, compression: codec(w.compression) })
            : // A table opened with writer options is about to be written: the encoding thread starts now.
              new WasmParquetFormat({ rowGroupSize: w.rowGroupSize, compression: codec(w.compression), prestart: o.writer !== undefined }));
    codec(w.compression);
  }

  /**
   * Open a table (it need not exist yet): read its log, check this run's settings against the
   * pinned ones, and clean up what dead runs left behind.
   */
  static async open(o: OpenTableOptions): Promise<LakeTable> {
    const log = new TableLog(o.storage, o.name);
    await log.refresh();
    const settings = resolveSettings(`${o.storage.url}/${o.name}`, log.snapshot, o.settings ?? {});
    const table = new LakeTable(o, log, settings);
    if (!log.snapshot.metaData) await table.#refuseForeignFolder();
    await table.#recover();
    return table;
  }

  /** The table as last read or committed. */
  get snapshot(): Snapshot {
    return this.#log.snapshot;
  }

  get version(): number {
    return this.#log.snapshot.version;
  }

  /** What the table holds of its stream. */
  ledger(): Ledger {
    const s = this.#log.snapshot;
    if (this.#ledger?.version !== s.version) this.#ledger = { version: s.version, ledger: new Ledger(s.segments) };
    return this.#ledger.ledger;
  }

  /** Read commits other writers made since. */
  async refresh(): Promise<void> {
    await this.#log.refresh();
  }

  /** What a window still needs, given what the table holds. */
  plan(window: Window): ExportRange[] {
    return this.ledger().gaps(window);
  }

  /** The table's columns (partition columns left out), as pinned in its log. */
  columns(): Column[] {
    const meta = this.#log.snapshot.metaData;
    return meta ? columnsOf(meta) : [];
  }

  /**
   * The columns a new file gets: the table's, with their pinned types, then any of `candidate` the
   * table does not have yet (a schema change, committed with the file).
   */
  schemaFor(candidate: readonly Column[]): Column[] {
    const pinned = this.columns();
    const have = new Set(pinned.map((c) => c.name));
    const out = [...pinned, ...candidate.filter((c) => !have.has(c.name))];
    if (this.settings.format === 'parquet' && !out.some((c) => c.name === EXTRA_COLUMN.name)) out.push(EXTRA_COLUMN);
    for (const c of out) if (!this.#wanted.some((w) => w.name === c.name)) this.#wanted.push(c);
    return out;
  }

  /** Take the table's lease for this run (refused while a conflicting run holds one). */
  async begin(purpose: LeaseRecord['purpose'], window?: Window): Promise<void> {
    if (this.#lease) return;
    this.#lease = await Lease.acquire(this.storage, this.name, { run: this.run, purpose, window });
  }

  /**
   * A new data file of this run, in a partition (or the table's root), encoded by the table's format
   * (or by `open`, for a file another engine writes whole).
   */
  async newFile(partitionValue: string | null | undefined, columns: readonly Column[], open?: (file: PendingFile) => Promise<RowFileWriter>): Promise<DataFile> {
    this.#requireLease();
    if (this.partition && partitionValue === undefined) throw new Error(`${this.name} is partitioned by ${this.settings.partitionBy}: a new file needs its partition value`);
    const seq = String(this.#seq++).padStart(5, '0');
    const name = `part-${this.run}-${seq}.${this.format.extension}`;
    const folder = this.partition ? partitionFolder(this.partition, partitionValue ?? null) : '';
    const path = joinKey(folder, name);
    const pending = await this.storage.create(joinKey(this.name, path), joinKey('_staging', this.name, this.run, `${seq}.${this.format.extension}.inprogress`));
    const partitionValues: Record<string, string | null> = this.partition ? { [partitionColumn(this.partition)]: partitionValue ?? null } : {};
    try {
      const writer = open ? await open(pending) : await this.format.open(pending, columns);
      return new DataFile(path, partitionValues, columns, pending, writer);
    } catch (err) {
      await pending.abort();
      throw err;
    }
  }

  /**
   * Commit a change as the next version of the table. Files are made visible first, then the log
   * entry is written if absent; on a lost race the other commit is read, checked for overlaps, and
   * the next version tried. Returns the version committed.
   */
  async commit(change: TableChange): Promise<number> {
    const lease = this.#requireLease();
    await lease.check();
    const adds = change.adds ?? [];
    const removes = change.removes ?? [];
    if (adds.length > 0 || removes.length > 0) {
      await lease.note({ promoting: adds.map((f) => f.path), retiring: [...removes] });
      this.#onStep?.('lease-noted');
    }
    /** The log could not say whether the put landed: its files must wait for the next run's cleanup. */
    let unknown = false;
    try {
      for (const f of adds) {
        await f.pending.promote();
        this.#onStep?.('file-promoted');
      }
      const id = `${this.run}.${this.#commits++}`;
      for (let attempt = 0; ; attempt++) {
        this.#checkConflicts(change);
        let written: boolean;
        try {
          written = await this.#log.tryCommit(this.#actions(change, id));
        } catch (err) {
          // The put may have landed although its answer was lost: the log says.
          unknown = true;
          await this.#log.refresh();
          unknown = false;
          if (this.#landed(id)) break;
          throw err;
        }
        if (written) break;
        if (attempt > 1000) throw new ZendeskEtlError(ErrorCodes.COMMIT_CONFLICT, `gave up committing to ${this.storage.url}/${this.name} after ${attempt} versions taken by other writers`, { path: this.name });
        await this.#log.refresh();
        if (this.#landed(id)) break; // a retried put found its own first try in place
        resolveSettings(`${this.storage.url}/${this.name}`, this.#log.snapshot, this.settings);
      }
    } catch (err) {
      // Not committed: what this commit made visible goes again. When that is not known, the lease
      // still names the files, and the next run's cleanup keeps those the log holds.
      if (!unknown) {
        for (const f of adds) await this.storage.delete(joinKey(this.name, f.path)).catch(() => undefined);
        await lease.note({}).catch(() => undefined);
      }
      throw err;
    }
    this.#onStep?.('committed');
    this.#logger.info('committed', { table: `${this.storage.url}/${this.name}`, version: this.version, operation: change.operation, files_added: adds.length, rows_added: adds.reduce((n, f) => n + f.rows, 0), files_removed: removes.length });
    if (removes.length > 0 && this.storage.publishes === 'rename') {
      // A folder's glob readers see only what the table holds; object storage keeps them for vacuum.
      for (const p of removes) {
        await this.storage.delete(joinKey(this.name, p));
        this.#onStep?.('file-retired');
      }
    }
    if (adds.length > 0 || removes.length > 0) await lease.note({});
    return this.version;
  }

  /** Release the lease. Staged files not committed are dropped by their writers (or by cleanup). */
  async close(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    if (!lease) return;
    if (this.storage.publishes === 'rename') await this.storage.delete(joinKey('_staging', this.name, this.run)).catch(() => undefined);
    await lease.release();
  }

  /** Whether the commit `id` is in the log (among the versions read lately). */
  #landed(id: string): boolean {
    return this.#log.snapshot.history.some((h) => h.commitInfo?.zendeskEtl?.commit === id);
  }

  #requireLease(): Lease {
    if (!this.#lease) throw new Error(`LakeTable.begin() must be called before writing ${this.name}`);
    return this.#lease;
  }

  #checkConflicts(change: TableChange): void {
    const s = this.#log.snapshot;
    const ledger = this.ledger();
    for (const seg of change.segments ?? []) {
      const other = ledger.overlap(seg);
      if (other) {
        throw new ZendeskEtlError(
          ErrorCodes.COMMIT_CONFLICT,
          `another run committed ${describeSegment(other)} of ${this.stream ?? this.name} to ${this.storage.url}/${this.name} first, which overlaps this run's ${describeSegment(seg)}; this run's part was not committed. Run the same command again: it exports only what the table lacks`,
          { path: this.name },
        );
      }
    }
    for (const p of change.removes ?? []) {
      if (!s.files.has(p)) throw new ZendeskEtlError(ErrorCodes.COMMIT_CONFLICT, `${p} is no longer in ${this.storage.url}/${this.name} (another run removed it first); nothing was changed`, { path: p });
    }
    const pinned = new Map(this.columns().map((c) => [c.name, c.type]));
    for (const f of change.adds ?? []) {
      for (const c of f.columns) {
        const t = pinned.get(c.name);
        if (t !== undefined && t !== c.type) {
          throw new ZendeskEtlError(ErrorCodes.COMMIT_CONFLICT, `column ${c.name} of ${this.storage.url}/${this.name} is ${t}, but a file of this run has it as ${c.type}; a column's type never changes`, { column: c.name });
        }
      }
    }
  }

  #actions(change: TableChange, id: string): Action[] {
    const s = this.#log.snapshot;
    const now = Date.now();
    const adds = change.adds ?? [];
    const z = {
      run: this.run,
      commit: id,
      stream: this.stream ?? this.name,
      ...(change.window ? { window: change.window } : {}),
      ...(change.segments && change.segments.length > 0 ? { segments: [...change.segments] } : {}),
      ...(change.reset ? { reset: true } : {}),
    };
    const actions: Action[] = [
      { commitInfo: { timestamp: now, operation: change.operation, operationParameters: change.parameters ?? {}, engineInfo: ENGINE_INFO, isBlindAppend: false, zendeskEtl: z } },
    ];
    if (s.version < 0) actions.push({ protocol: PROTOCOL });
    const meta = this.#metaData(adds);
    if (meta) actions.push({ metaData: meta });
    if (change.window && this.stream) {
      const appId = `zendesk-stream-etl/${this.stream}/${change.window.start}-${change.window.end ?? 'open'}`;
      actions.push({ txn: { appId, version: (s.txns.get(appId) ?? -1) + 1, lastUpdated: now } });
    }
    const dataChange = change.dataChange ?? true;
    for (const f of adds) {
      actions.push({ add: { path: f.path, partitionValues: f.partitionValues, size: f.size, modificationTime: now, dataChange, stats: f.stats() } });
    }
    for (const p of change.removes ?? []) {
      const old = s.files.get(p);
      actions.push({ remove: { path: p, deletionTimestamp: now, dataChange, extendedFileMetadata: true, partitionValues: old?.partitionValues ?? {}, size: old?.size ?? 0 } });
    }
    return actions;
  }

  /** A metaData action when the table is new or this change widens its schema; else undefined. */
  #metaData(adds: readonly DataFile[]): ReturnType<typeof newMetaData> | undefined {
    const s = this.#log.snapshot;
    const pinned = this.columns();
    const have = new Set(pinned.map((c) => c.name));
    const used = adds.length > 0 || !s.metaData ? this.#wanted : [];
    const fresh = used.filter((c) => !have.has(c.name));
    const partitions = this.partition ? [partitionColumn(this.partition)] : [];
    if (!s.metaData) {
      const configuration: Record<string, string> = {};
      for (const k of SETTINGS) configuration[settingKey(k)] = settingText(k, this.settings);
      if (this.stream) configuration[settingKey('stream')] = this.stream;
      return newMetaData(fresh, partitions, configuration, this.settings.format === 'parquet' ? 'parquet' : 'json');
    }
    if (fresh.length === 0) return undefined;
    return { ...s.metaData, schemaString: schemaString([...pinned, ...fresh], s.metaData.partitionColumns) };
  }

  /** A folder with data files but no log was not written by this version: refuse to guess. */
  async #refuseForeignFolder(): Promise<void> {
    for await (const obj of this.storage.list(`${this.name}/`)) {
      const rel = obj.key.slice(this.name.length + 1);
      if (!isDataFilePath(rel)) continue;
      // In object storage a run's first files are at their keys before the table's first commit.
      if (this.storage.publishes === 'upload' && runOfDataFile(rel) !== undefined) continue;
      throw new ZendeskEtlError(
        ErrorCodes.TABLE_SETTINGS,
        `${this.storage.url}/${this.name} holds data files (${rel}, ...) but no table log (${LOG_DIR}/): it was written by zendesk-etl 0.1 or by something else. Export into a new folder, or move these files away`,
        { path: `${this.storage.url}/${this.name}` },
      );
    }
  }

  /**
   * Clean up after runs that died: the files a dead run was making visible that no commit holds,
   * the files its last commit removed, its staging, and its lease.
   */
  async #recover(): Promise<void> {
    const leases = await readLeases(this.storage, this.name);
    const dead = leases.filter((l) => !l.live);
    const live = new Set(leases.filter((l) => l.live).map((l) => l.record.run));
    if (dead.length > 0) {
      // Read the log after deciding who is dead: a dead run commits nothing more.
      await this.#log.refresh();
      const s = this.#log.snapshot;
      for (const { key, record } of dead) {
        if (record.promoting?.length || record.retiring?.length) this.#logger.info('cleaning up after a run that died', { table: `${this.storage.url}/${this.name}`, run: record.run, uncommitted_files: record.promoting?.length ?? 0, files_to_retire: record.retiring?.length ?? 0 });
        for (const p of record.promoting ?? []) if (!s.files.has(p)) await this.storage.delete(joinKey(this.name, p));
        if (this.storage.publishes === 'rename') {
          for (const p of record.retiring ?? []) if (s.removed.has(p)) await this.storage.delete(joinKey(this.name, p));
        }
        await this.storage.delete(key);
      }
    }
    if (this.storage.publishes === 'rename') {
      // Staging of runs with no live lease (their lease is gone: finished, or cleaned up above).
      for await (const obj of this.storage.list(`${joinKey('_staging', this.name)}/`)) {
        const run = obj.key.split('/')[2];
        if (run !== undefined && !live.has(run)) await this.storage.delete(obj.key);
      }
    }
  }

  /** The lease folder, for tests and `state show`. */
  static readonly LEASE_DIR = LEASE_DIR;
}

/** The settings a run gets: the table's pinned ones; a different one asked for is refused. */
function resolveSettings(where: string, s: Snapshot, asked: Partial<TableSettings>): TableSettings {
  for (const k of SETTINGS) {
    if (asked[k] === undefined) continue;
    if (k === 'format' && asked.format !== 'parquet' && asked.format !== 'ndjson') throw invalidOption('format', '"parquet" or "ndjson"', asked.format);
    if (k === 'customFieldNames' && asked.customFieldNames !== 'id' && asked.customFieldNames !== 'title') throw invalidOption('customFieldNames', '"id" or "title"', asked.customFieldNames);
  }
  if (asked.partitionBy !== undefined) parsePartitionSpec(asked.partitionBy);
  const meta = s.metaData;
  if (!meta) {
    const fresh = { ...DEFAULT_TABLE_SETTINGS, ...definedOnly(asked) };
    if (fresh.gzip && fresh.format === 'parquet') throw invalidOption('gzip', 'used with NDJSON only (Parquet is compressed by compression)', true);
    return fresh;
  }
  const pinned: TableSettings = {
    format: meta.configuration[settingKey('format')] === 'ndjson' ? 'ndjson' : 'parquet',
    gzip: meta.configuration[settingKey('gzip')] === 'true',
    partitionBy: meta.configuration[settingKey('partitionBy')] || undefined,
    customFieldNames: meta.configuration[settingKey('customFieldNames')] === 'title' ? 'title' : 'id',
  };
  if (asked.gzip === true && pinned.format === 'parquet') throw invalidOption('gzip', `used with NDJSON only: ${where} is a Parquet table (compressed by compression)`, true);
  for (const k of SETTINGS) {
    const given = asked[k];
    if (given === undefined) continue;
    if (given !== pinned[k]) {
      throw new ZendeskEtlError(
        ErrorCodes.TABLE_SETTINGS,
        `${where} was created with ${k} ${JSON.stringify(pinned[k] ?? 'none')}, and this run asks for ${JSON.stringify(given ?? 'none')}; a table keeps one layout. Leave the option out to use the table's, or write into another folder. Nothing was changed`,
        { option: k, value: given, path: where },
      );
    }
  }
  return pinned;
}

function definedOnly(o: Partial<TableSettings>): Partial<TableSettings> {
  const out: Partial<TableSettings> = {};
  for (const k of SETTINGS) if (o[k] !== undefined) (out as Record<string, unknown>)[k] = o[k];
  return out;
}
