import { resolve, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import type { Credentials } from './auth.js';
import type { Checkpoint } from './checkpoint.js';
import { invalidOption } from './errors.js';
import { FlattenStream } from './flatten/flatten-stream.js';
import { FieldCatalog, type CustomFieldNaming } from './schema/custom-fields.js';
import { METADATA_COLUMNS, type Column } from './schema/ticket-schema.js';
import { NdjsonFormat, ParquetFormat, type RowFormat } from './sink/file-writers.js';
import { DuckDbParquetFormat } from './sink/duckdb-parquet.js';
import { LakeSink } from './sink/lake-sink.js';
import { NdjsonStreamSink } from './sink/ndjson-stream-sink.js';
import { parsePartitionSpec } from './sink/partition.js';
import { ZendeskHttp, type HttpTimeouts } from './source/http-client.js';
import type { ParserKind } from './source/page-parser.js';
import type { ExportPosition, PaginationMode } from './source/pagination.js';
import { TicketSource } from './source/ticket-source.js';
import { RawArchive } from './source/raw-archive.js';
import { ReplaySource, readArchivedFields } from './source/replay-source.js';
import { Committer, type CommitStep } from './state/committer.js';
import { StateStore, newExportState, type ExportState } from './state/state-store.js';
import { formatTime } from './time.js';
import { STREAMS, sideloadColumns, streamSpec, type StreamName, type StreamSpec } from './streams.js';
import { ExportStats } from './stats.js';

/** Options shared by every run that writes a lake (export and replay). */
export interface LakeRunOptions {
  format?: 'parquet' | 'ndjson';
  /** The lake folder, or '-' for NDJSON on `stdout`. */
  out: string;
  /** Default: `<out>/_state/tickets.json` (per window when `endTime` is set). */
  statePath?: string | undefined;
  excludeSystemUpdates?: boolean;
  /** `updated_at:month` and the like. */
  partitionBy?: string | undefined;
  gzip?: boolean;
  maxRowsPerFile?: number;
  maxBytesPerFile?: number;
  commitIntervalMs?: number;
  rowGroupSize?: number;
  /** Parquet codec. Default 'snappy' (fast, read everywhere). */
  compression?: 'snappy' | 'gzip' | 'none';
  /** Which library writes Parquet: 'parquetjs' (default, pure JS) or 'duckdb' (optional @duckdb/node-api, much faster). */
  parquetEngine?: 'parquetjs' | 'duckdb';
  /** A file format of your own (or a wrapped one); overrides `format` for files. */
  rowFormat?: RowFormat;
  customFieldNames?: CustomFieldNaming;
  parser?: ParserKind;
  /** Stop after the page in progress, commit, and return with `complete: false`. */
  signal?: AbortSignal;
  stats?: ExportStats;
  /** Where NDJSON goes with `out: '-'`. Default process.stdout. */
  stdout?: NodeJS.WritableStream;
  /** Told once where the run starts from. */
  onStart?: (info: { resumed: boolean; position: ExportPosition; statePath: string | undefined; notes: string[] }) => void;
  onCommit?: (checkpoint: Checkpoint) => void;
  /** A value did not fit its column in record `id`; it was kept raw in `_rejects` (JSON). */
  onReject?: (reject: { id: unknown; rejects: unknown }) => void;
  /** For crash-injection tests. */
  onCommitStep?: (step: CommitStep) => void;
}

export interface ExportTicketsOptions extends LakeRunOptions {
  origin: string;
  credentials: Credentials;
  pagination?: PaginationMode;
  startTime?: number | undefined;
  endTime?: number | undefined;
  rateLimit?: number;
  perPage?: number;
  supportTypeScope?: 'agent' | 'ai_agent' | 'all';
  excludeDeleted?: boolean;
  include?: readonly string[];
  /** Keep each page's raw bytes, gzipped, in this folder (for `replayTickets`). */
  raw?: string | undefined;
  timeouts?: HttpTimeouts;
  retries?: number;
  maxRetryTimeMs?: number;
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
}

export interface ReplayTicketsOptions extends LakeRunOptions {
  /** The folder an export wrote with `raw`. */
  rawDir: string;
}

export interface ExportResult {
  /** True when the export reached the end of the stream (or of the window) and all is committed. */
  complete: boolean;
  state: ExportState | undefined;
  stats: ExportStats;
  statePath: string | undefined;
}

export function defaultStateName(startTime: number | undefined, endTime: number | undefined, stream: StreamName = 'tickets'): string {
  return endTime === undefined ? `${stream}.json` : `${stream}-${startTime ?? 0}-${endTime}.json`;
}

function codec(c: LakeRunOptions['compression']): 'SNAPPY' | 'GZIP' | 'UNCOMPRESSED' {
  if (c === undefined || c === 'snappy') return 'SNAPPY';
  if (c === 'gzip') return 'GZIP';
  if (c === 'none') return 'UNCOMPRESSED';
  throw invalidOption('compression', '"snappy", "gzip" or "none"', c);
}

/** A source the lake runner can drive: rows and checkpoints, a position, and a graceful stop. */
type RunnableSource = Readable & { position(): ExportPosition; stop?(): void };

interface PreparedLake {
  /** Release the state lock. */
  release: () => Promise<void>;
  format: 'parquet' | 'ndjson';
  stats: ExportStats;
  notes: string[];
  statePath: string | undefined;
  committer: Committer | undefined;
  store: StateStore | undefined;
  saved: ExportState | undefined;
}

async function prepareLake(opts: LakeRunOptions, stateName: string): Promise<PreparedLake> {
  const format = opts.format ?? 'parquet';
  if (format !== 'parquet' && format !== 'ndjson') throw invalidOption('format', '"parquet" or "ndjson"', format);
  if (opts.out === '-' && format !== 'ndjson') throw invalidOption('format', '"ndjson" when the output is stdout (--out -)', format);
  if (opts.partitionBy !== undefined) parsePartitionSpec(opts.partitionBy);
  if (opts.parquetEngine !== undefined && opts.parquetEngine !== 'parquetjs' && opts.parquetEngine !== 'duckdb') throw invalidOption('parquetEngine', '"parquetjs" or "duckdb"', opts.parquetEngine);
  const outDir = opts.out === '-' ? undefined : resolve(opts.out);
  const statePath = opts.statePath !== undefined ? resolve(opts.statePath) : outDir ? join(outDir, '_state', stateName) : undefined;
  const committer = outDir && statePath ? new Committer({ outDir, statePath, onStep: opts.onCommitStep }) : undefined;
  const store = committer?.store ?? (statePath ? new StateStore(statePath) : undefined);
  const release = committer ? await committer.lock() : () => Promise.resolve();
  try {
    const saved = committer ? await committer.recover() : await store?.load();
    return { format, stats: opts.stats ?? new ExportStats(), notes: [], statePath, committer, store, saved, release };
  } catch (err) {
    await release();
    throw err;
  }
}


/** `pipeline(source, flatten, sink)`, with the sink chosen, signals wired and the result gathered. */
async function runLake(opts: LakeRunOptions, lake: PreparedLake, baseState: ExportState, source: RunnableSource, flatten: FlattenStream, catalog: FieldCatalog | undefined, spec: StreamSpec, sideloads: boolean): Promise<ExportResult> {
  const { stats, committer, store } = lake;
  opts.onStart?.({ resumed: lake.saved !== undefined, position: source.position(), statePath: lake.statePath, notes: lake.notes });
  let sink: Writable;
  let lakeSink: LakeSink | undefined;
  let lastState = lake.saved;
  let saving = Promise.resolve();
  if (committer) {
    const rowFormat: RowFormat =
      opts.rowFormat ??
      (lake.format === 'ndjson'
        ? new NdjsonFormat({ gzip: opts.gzip ?? false })
        : opts.parquetEngine === 'duckdb'
          ? new DuckDbParquetFormat({ rowGroupSize: opts.rowGroupSize, compression: codec(opts.compression) })
          : new ParquetFormat({ rowGroupSize: opts.rowGroupSize, compression: codec(opts.compression) }));
    lakeSink = new LakeSink({
      committer,
      format: rowFormat,
      table: spec.name,
      columns: (): Column[] => [...spec.columns, ...(catalog?.columns() ?? []), ...METADATA_COLUMNS],
      schemaVersion: () => catalog?.version ?? 0,
      sideloadColumns: sideloads ? (table: string) => [...sideloadColumns(table), ...METADATA_COLUMNS] : undefined,
      partitionBy: opts.partitionBy === undefined ? undefined : parsePartitionSpec(opts.partitionBy),
      maxRowsPerFile: opts.maxRowsPerFile,
      maxBytesPerFile: opts.maxBytesPerFile,
      commitIntervalMs: opts.commitIntervalMs,
      baseState,
      stats,
    });
    sink = lakeSink;
  } else {
    sink = new NdjsonStreamSink(opts.stdout ?? process.stdout, stats);
    // stdout cannot be committed atomically: the state (if asked for) follows what was flushed,
    // saved one after another (at least once).
    sink.on('commit', (cp: Checkpoint) => {
      if (!store) return;
      const next: ExportState = { ...baseState, position: cp.position, updatedAt: new Date().toISOString(), counters: { ...baseState.counters, rows: baseState.counters.rows + stats.rowsWritten } };
      lastState = next;
      saving = saving.then(() => store.save(next));
    });
  }
  sink.on('commit', (cp: Checkpoint) => opts.onCommit?.(cp));
  if (opts.onReject) flatten.on('reject', opts.onReject);
  const onAbort = (): void => source.stop?.();
  if (opts.signal?.aborted) source.stop?.();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await pipeline(source, flatten, sink);
    await saving;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  for (const n of stats.notes) if (!lake.notes.includes(n)) lake.notes.push(n);
  return { complete: source.position().done && !(opts.signal?.aborted ?? false), state: lakeSink ? lakeSink.state : lastState, stats, statePath: lake.statePath };
}

/**
 * Export tickets into a lake (or NDJSON on stdout), resuming from the saved state. The building
 * blocks are public too: this function is `pipeline(source, flatten, sink)` with the wiring done.
 */
export function exportTickets(opts: ExportTicketsOptions): Promise<ExportResult> {
  return exportStream('tickets', opts);
}

/**
 * Export one incremental stream (`tickets`, `ticket_events`, `users`, `organizations`) into its own
 * table of the lake, with the same guarantees as tickets. Sideloads (`include`) land in tables of
 * their own, committed together with the stream's rows.
 */
export async function exportStream(stream: StreamName, opts: ExportTicketsOptions): Promise<ExportResult> {
  const spec = streamSpec(stream);
  if (opts.startTime !== undefined && opts.endTime !== undefined && opts.endTime <= opts.startTime) {
    throw invalidOption('endTime', `later than the start time ${opts.startTime}`, opts.endTime);
  }
  const lake = await prepareLake(opts, defaultStateName(opts.startTime, opts.endTime, stream));
  try {
    const saved = lake.saved;
    let position: ExportPosition | undefined;
    if (saved) {
      position = saved.position; // the paginator reopens a finished open-ended export to look for changes
      if (opts.startTime !== undefined && opts.startTime !== saved.window.startTime) {
        lake.notes.push(`--start-time ${opts.startTime} is ignored: the saved state in ${lake.statePath} wins (move it away to start over)`);
      }
    }
    if (!saved && opts.startTime !== undefined && opts.startTime > Math.floor(Date.now() / 1000) - 60) {
      // A new export cannot start there: Zendesk answers 422 to a start_time less than a minute old.
      // (A resumed export that has caught up is different: it simply finds nothing new yet.)
      throw invalidOption('startTime', `at least a minute in the past (Zendesk refuses newer ones with 422); it is ${formatTime(opts.startTime)}`, opts.startTime);
    }
    const startTime = saved?.window.startTime ?? opts.startTime ?? 0;
    const mode = opts.pagination ?? (spec.cursorPath ? 'cursor' : 'time');
    const baseState = saved ?? newExportState(stream, { mode, startTime, watermark: -1, boundary: [], done: false }, { startTime, endTime: opts.endTime });

    const http = new ZendeskHttp(opts.origin, opts.credentials, opts.timeouts);
    try {
      const catalog = stream === 'tickets' ? await FieldCatalog.fetch(http, opts.customFieldNames ?? 'id') : undefined;
      let raw: RawArchive | undefined;
      if (opts.raw !== undefined) {
        raw = new RawArchive(resolve(opts.raw), stream);
        await raw.init();
        if (catalog) await raw.saveFields(catalog.fields);
      }
      const source = new TicketSource({
        stream,
        origin: opts.origin,
        credentials: opts.credentials,
        pagination: mode,
        startTime,
        endTime: opts.endTime,
        position,
        perPage: opts.perPage,
        supportTypeScope: opts.supportTypeScope,
        excludeDeleted: opts.excludeDeleted,
        include: opts.include,
        rateLimit: opts.rateLimit,
        retries: opts.retries,
        maxRetryTimeMs: opts.maxRetryTimeMs,
        minRetryDelayMs: opts.minRetryDelayMs,
        maxRetryDelayMs: opts.maxRetryDelayMs,
        timeouts: opts.timeouts,
        parser: opts.parser,
        raw,
        stats: lake.stats,
      });
      const sideloads = (opts.include?.length ?? 0) > 0;
      const flatten = new FlattenStream({
        catalog,
        columns: spec.columns,
        sideloadColumns: sideloads ? sideloadColumns : undefined,
        refreshCatalog: catalog
          ? async () => {
              await catalog.refresh(http);
              await raw?.saveFields(catalog.fields); // replay then types the new field too
            }
          : undefined,
        excludeUpdatedBefore: opts.excludeSystemUpdates ? startTime : undefined,
        stats: lake.stats,
      });
      return await runLake(opts, lake, baseState, source, flatten, catalog, spec, sideloads);
    } finally {
      await http.close();
    }
  } finally {
    await lake.release();
  }
}

/**
 * Rebuild a lake from a raw archive (`exportTickets({ raw })`) without calling Zendesk. Resumable like
 * an export; its state lives in `<out>/_state/replay-tickets.json`.
 */
export async function replayTickets(opts: ReplayTicketsOptions): Promise<ExportResult> {
  const lake = await prepareLake(opts, 'replay-tickets.json');
  const fields = await readArchivedFields(resolve(opts.rawDir));
  if (!fields) lake.notes.push(`${opts.rawDir} holds no ticket_fields.json: custom fields are stored as JSON text`);
  const catalog = new FieldCatalog(fields ?? [], opts.customFieldNames ?? 'id');
  const position = lake.saved?.position;
  const baseState = lake.saved ?? newExportState('tickets', { mode: 'time', startTime: 0, watermark: -1, boundary: [], done: false }, { startTime: 0 });
  const source = new ReplaySource({ dir: resolve(opts.rawDir), position, parser: opts.parser, stats: lake.stats });
  const flatten = new FlattenStream({ catalog, excludeUpdatedBefore: undefined, stats: lake.stats });
  try {
    return await runLake(opts, lake, baseState, source, flatten, catalog, STREAMS.tickets, false);
  } finally {
    await lake.release();
  }
}
