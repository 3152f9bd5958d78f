import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Credentials } from './auth.js';
import type { Checkpoint } from './core/checkpoint.js';
import { describeSegment, frontier, type ExportRange, type Window } from './core/delivery.js';
import { ErrorCodes, invalidOption, ZendeskEtlError } from './core/errors.js';
import { FlattenStream } from './flatten/flatten-stream.js';
import { FieldCatalog, type CustomFieldNaming } from './schema/custom-fields.js';
import { METADATA_COLUMNS, type Column } from './schema/ticket-schema.js';
import type { RowFormat } from './format/file-writers.js';
import { LakeSink, type Committed, type SideloadTable } from './sink/lake-sink.js';
import { NdjsonStreamSink } from './sink/ndjson-stream-sink.js';
import { ZendeskHttp, type HttpTimeouts } from './source/http-client.js';
import type { ParserKind } from './source/page-parser.js';
import type { ExportPosition, PaginationMode } from './core/position.js';
import { rangeFrom } from './source/pagination.js';
import { TicketSource } from './source/ticket-source.js';
import { RawArchive } from './source/raw-archive.js';
import { ReplaySource, readArchivedFields } from './source/replay-source.js';
import { StateStore, STATE_VERSION, type ExportState } from './state/state-store.js';
import { openStorage } from './storage/open-storage.js';
import type { Storage } from './storage/storage.js';
import { LakeTable, newRunId, type TableSettings, type TableStep } from './table/lake-table.js';
import { formatTime } from './core/time.js';
import { resolveOrigin } from './core/url.js';
import type { Logger } from './core/log.js';
import { checkOptions } from './options/normalize.js';
import { STREAMS, sideloadColumns, streamSpec, type StreamName, type StreamSpec } from './streams.js';
import { ExportStats } from './core/stats.js';
import { OPTION_DEFAULTS } from './options/table.js';

/** Options shared by every run that writes a lake (export and replay). */
export interface LakeRunOptions {
  /** Pinned by the table on its first run; left out, a run takes the table's. Default 'parquet'. */
  format?: 'parquet' | 'ndjson' | undefined;
  /** The lake: a folder, or '-' for NDJSON on `stdout`. */
  out: string;
  /** Object storage: address buckets by path. Default: only for IP or localhost endpoints. */
  s3ForcePathStyle?: boolean | undefined;
  /** With `out: '-'` only: where to keep the position, to resume. (A lake's log is its state.) */
  statePath?: string | undefined;
  excludeSystemUpdates?: boolean | undefined;
  /** `updated_at:month` and the like. Pinned by the table. */
  partitionBy?: string | undefined;
  /** Gzip NDJSON files. Pinned by the table. */
  gzip?: boolean | undefined;
  maxRowsPerFile?: number | undefined;
  maxBytesPerFile?: number | undefined;
  commitIntervalMs?: number | undefined;
  rowGroupSize?: number | undefined;
  /** Parquet codec. Default 'snappy' (fast, read everywhere). */
  compression?: 'snappy' | 'gzip' | 'none' | undefined;
  /** Which library writes Parquet: 'wasm' (default: arrow-rs in WebAssembly, on a thread of its own), 'parquetjs' (pure JS, the last resort) or 'duckdb' (optional @duckdb/node-api). */
  parquetEngine?: 'wasm' | 'parquetjs' | 'duckdb' | undefined;
  /** A file format of your own (or a wrapped one); overrides `format` for encoding. */
  rowFormat?: RowFormat | undefined;
  /** Pinned by the table. */
  customFieldNames?: CustomFieldNaming | undefined;
  parser?: ParserKind | undefined;
  /** Stop after the page in progress, commit, and return with `complete: false`. */
  signal?: AbortSignal | undefined;
  stats?: ExportStats | undefined;
  /** Where NDJSON goes with `out: '-'`. Default process.stdout. */
  stdout?: NodeJS.WritableStream | undefined;
  /** Told once where the run starts from. */
  onStart?: ((info: RunStart) => void) | undefined;
  onCommit?: ((checkpoint: Checkpoint) => void) | undefined;
  /** A value did not fit its column in record `id`; it was kept raw in `_rejects` (JSON). */
  onReject?: ((reject: { id: unknown; rejects: unknown }) => void) | undefined;
  /** For crash-injection tests: called after each step of a table commit. */
  onCommitStep?: ((step: TableStep) => void) | undefined;
  /** Where retries, 429 waits and commits are told (at info). Default: silent. */
  log?: Logger | undefined;
}

/** Where a run starts: what the table holds already and what this run exports. */
export interface RunStart {
  /** The table (or state file) already held something of this window. */
  resumed: boolean;
  /** What this run exports, in order. */
  ranges: readonly ExportRange[];
  /** Where the first range starts. */
  position: ExportPosition;
  /** The table (`/abs/lake/tickets`), or the state file with `out: '-'`. */
  where: string | undefined;
  notes: string[];
}

export interface ExportTicketsOptions extends LakeRunOptions {
  /**
   * The account, named one way only: `origin` (`https://acme.zendesk.com`), `subdomain` (`acme`), or
   * `baseUrl` (a custom domain, or a stand-in on loopback), checked as the CLI checks them.
   */
  origin?: string | undefined;
  subdomain?: string | undefined;
  baseUrl?: string | undefined;
  credentials: Credentials;
  pagination?: PaginationMode | undefined;
  /** Where the window starts (Unix seconds). Default 0. */
  startTime?: number | undefined;
  /** Where it ends, exclusive (Unix seconds). Default: open-ended. */
  endTime?: number | undefined;
  rateLimit?: number | undefined;
  perPage?: number | undefined;
  supportTypeScope?: 'agent' | 'ai_agent' | 'all' | undefined;
  excludeDeleted?: boolean | undefined;
  include?: readonly string[] | undefined;
  /** Keep each page's raw bytes, gzipped, in this folder (for `replayTickets`). */
  raw?: string | undefined;
  timeouts?: HttpTimeouts | undefined;
  retries?: number | undefined;
  maxRetryTimeMs?: number | undefined;
  minRetryDelayMs?: number | undefined;
  maxRetryDelayMs?: number | undefined;
  /** A Redis URL: share each account's rate limit with every process using it (see `TicketSourceOptions.redis`). */
  redis?: string | undefined;
}

export interface ReplayTicketsOptions extends LakeRunOptions {
  /** The folder an export wrote with `raw`. */
  rawDir: string;
}

export interface ExportResult {
  /** True when every range reached its end (or the end of the stream) and all is committed. */
  complete: boolean;
  /** What this run committed. */
  committed: Committed;
  stats: ExportStats;
  /** The table written (`/abs/lake/tickets`), or the state file with `out: '-'`. */
  where: string | undefined;
}

/** A source the lake runner can drive: rows and checkpoints, a position, and a graceful stop. */
type RunnableSource = Readable & { position(): ExportPosition; readonly complete: boolean; stop?(): void };

/** The table settings a run asks for (undefined ones take the table's), filters included where the stream has them. */
function askedSettings(opts: LakeRunOptions & Pick<ExportTicketsOptions, 'supportTypeScope' | 'excludeDeleted'>, spec: StreamSpec): Partial<TableSettings> {
  return {
    format: opts.format,
    gzip: opts.gzip,
    partitionBy: opts.partitionBy,
    customFieldNames: opts.customFieldNames,
    excludeSystemUpdates: opts.excludeSystemUpdates,
    ...(spec.ticketFilters ? { supportTypeScope: opts.supportTypeScope, excludeDeleted: opts.excludeDeleted } : {}),
  };
}

/** Open a stream's table for a run, take its lease, and say what it holds of the window. */
async function openTable(opts: LakeRunOptions, storage: Storage, spec: StreamSpec, purpose: 'export' | 'replay', window: Window, run: string): Promise<{ table: LakeTable; ranges: ExportRange[]; notes: string[] }> {
  const table = await LakeTable.open({
    storage,
    name: spec.name,
    stream: spec.name,
    settings: askedSettings(opts, spec),
    writer: { parquetEngine: opts.parquetEngine, compression: opts.compression, rowGroupSize: opts.rowGroupSize, rowFormat: opts.rowFormat },
    run,
    onStep: opts.onCommitStep,
    log: opts.log,
  });
  try {
    await table.begin(purpose, window);
    const ranges = table.plan(window);
    const notes: string[] = [];
    const held = table.ledger().segments;
    if (held.length > 0) {
      notes.push(`${storage.url}/${spec.name} already holds ${held.map(describeSegment).join(', ')} of ${spec.name}; this run exports ${ranges.length === 0 ? 'nothing more' : ranges.map(describeSegment).join(', ')}`);
    }
    return { table, ranges, notes };
  } catch (err) {
    await table.close();
    throw err;
  }
}

/** `pipeline(source, flatten, sink)` into a table, with signals wired and the result gathered. */
async function runIntoTable(opts: LakeRunOptions, stats: ExportStats, table: LakeTable, window: Window, source: RunnableSource, flatten: FlattenStream, columns: () => Column[], schemaVersion: () => number, sideloads: boolean, start: Omit<RunStart, 'position'>): Promise<ExportResult> {
  const opened: LakeTable[] = [];
  const sideloadTable = async (name: string): Promise<SideloadTable> => {
    // Sideload rows are snapshots of related records: their tables are not partitioned.
    const { format, gzip, customFieldNames } = table.settings;
    const t = await LakeTable.open({ storage: table.storage, name: `${table.name}__${name}`, settings: { format, gzip, customFieldNames }, writer: { parquetEngine: opts.parquetEngine, compression: opts.compression, rowGroupSize: opts.rowGroupSize }, run: table.run, onStep: opts.onCommitStep, log: opts.log });
    opened.push(t);
    await t.begin('export', window);
    return { table: t, columns: () => [...sideloadColumns(name), ...METADATA_COLUMNS] };
  };
  const sink = new LakeSink({
    table,
    columns,
    schemaVersion,
    window,
    maxRowsPerFile: opts.maxRowsPerFile,
    maxBytesPerFile: opts.maxBytesPerFile,
    commitIntervalMs: opts.commitIntervalMs,
    stats,
    sideloads: sideloads ? sideloadTable : undefined,
  });
  try {
    return await drive(opts, stats, source, flatten, sink, { ...start, position: source.position() }, () => sink.committed);
  } finally {
    for (const t of opened) await t.close();
  }
}

async function drive(opts: LakeRunOptions, stats: ExportStats, source: RunnableSource, flatten: FlattenStream, sink: NodeJS.WritableStream & NodeJS.EventEmitter, start: RunStart, committed: () => Committed): Promise<ExportResult> {
  opts.onStart?.(start);
  sink.on('commit', (cp: Checkpoint) => opts.onCommit?.(cp));
  if (opts.onReject) flatten.on('reject', opts.onReject);
  const onAbort = (): void => source.stop?.();
  if (opts.signal?.aborted) source.stop?.();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await pipeline(source, flatten, sink);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  for (const n of stats.notes) if (!start.notes.includes(n)) start.notes.push(n);
  return { complete: source.complete && !(opts.signal?.aborted ?? false), committed: committed(), stats, where: start.where };
}

/**
 * Export tickets into a lake (or NDJSON on stdout). A run exports what the table lacks of its
 * window, so the same command resumes, and overlapping windows add each version once. The
 * building blocks are public too: this function is `pipeline(source, flatten, sink)` with the
 * wiring done.
 */
export function exportTickets(opts: ExportTicketsOptions): Promise<ExportResult> {
  return exportStream('tickets', opts);
}

/** The origin of the account the options name (by origin, subdomain or baseUrl), checked once. */
function accountOrigin(opts: ExportTicketsOptions): string {
  const { origin, subdomain, baseUrl } = opts;
  if (origin === undefined && subdomain === undefined && baseUrl === undefined) {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, 'the account is not named: give origin, subdomain or baseUrl', { option: 'origin' });
  }
  if (origin === undefined) return resolveOrigin({ subdomain, baseUrl });
  if (subdomain !== undefined || baseUrl !== undefined) {
    throw invalidOption('origin', `given alone: origin and ${subdomain !== undefined ? 'subdomain' : 'baseUrl'} both name the account`, origin);
  }
  return resolveOrigin({ baseUrl: origin }, { subdomain: 'origin', baseUrl: 'origin' });
}

/**
 * Export one incremental stream (`tickets`, `ticket_events`, `users`, `organizations`) into its own
 * table of the lake, with the same guarantees as tickets. Sideloads (`include`) land in tables of
 * their own (`tickets__users`, ...), committed just before the stream's rows.
 */
export async function exportStream(stream: StreamName, opts: ExportTicketsOptions): Promise<ExportResult> {
  checkOptions('export', opts);
  const spec = streamSpec(stream);
  const start = opts.startTime ?? OPTION_DEFAULTS.startTime;
  const window: Window = { start, end: opts.endTime };
  const stats = opts.stats ?? new ExportStats();
  const mode = opts.pagination ?? (spec.cursorPath ? 'cursor' : 'time');
  const origin = accountOrigin(opts);
  const http = new ZendeskHttp(origin, opts.credentials, opts.timeouts);
  let table: LakeTable | undefined;
  try {
    let ranges: ExportRange[] = [];
    let notes: string[] = [];
    if (opts.out !== '-') {
      // The table first: a bad folder, other settings or a run already at work stop before any request.
      const storage = await openStorage(opts.out, { s3ForcePathStyle: opts.s3ForcePathStyle });
      ({ table, ranges, notes } = await openTable(opts, storage, spec, 'export', window, newRunId()));
      if (table.ledger().segments.length === 0 && start > Math.floor(Date.now() / 1000) - 60) {
        // A new export cannot start there: Zendesk answers 422 to a start_time less than a minute old.
        // (A table that has caught up is different: it simply finds nothing new yet.)
        throw invalidOption('startTime', `at least a minute in the past (Zendesk refuses newer ones with 422); it is ${formatTime(start)}`, start);
      }
    }
    const catalog = stream === 'tickets' ? await FieldCatalog.fetch(http, table?.settings.customFieldNames ?? opts.customFieldNames ?? OPTION_DEFAULTS.customFieldNames, opts.log) : undefined;
    // A column the table has keeps its name and type, whatever Zendesk says of the field now.
    if (table) catalog?.pin(table.columns());
    let raw: RawArchive | undefined;
    if (opts.raw !== undefined) {
      raw = new RawArchive(resolve(opts.raw), stream);
      await raw.init();
      if (catalog) await raw.saveFields(catalog.fields);
    }
    const sideloads = (opts.include?.length ?? 0) > 0;
    const source = (r: readonly ExportRange[]): TicketSource =>
      new TicketSource({
        stream,
        origin,
        credentials: opts.credentials,
        pagination: mode,
        ranges: r,
        perPage: opts.perPage,
        // A table's pinned filters hold for every run into it (a run that leaves them out takes them).
        supportTypeScope: table?.settings.supportTypeScope ?? opts.supportTypeScope,
        excludeDeleted: table?.settings.excludeDeleted ?? opts.excludeDeleted,
        include: opts.include,
        rateLimit: opts.rateLimit,
        redis: opts.redis,
        retries: opts.retries,
        maxRetryTimeMs: opts.maxRetryTimeMs,
        minRetryDelayMs: opts.minRetryDelayMs,
        maxRetryDelayMs: opts.maxRetryDelayMs,
        timeouts: opts.timeouts,
        parser: opts.parser,
        raw,
        stats,
        log: opts.log,
      });
    const flatten = new FlattenStream({
      catalog,
      columns: spec.columns,
      sideloadColumns: sideloads ? sideloadColumns : undefined,
      refreshCatalog: catalog
        ? async () => {
            await catalog.refresh(http, opts.log);
            await raw?.saveFields(catalog.fields); // replay then types the new field too
          }
        : undefined,
      excludeUpdatedBefore: (table?.settings.excludeSystemUpdates ?? opts.excludeSystemUpdates) ? start : undefined,
      stats,
    });
    if (!table) return await toStdout(opts, stats, spec, window, source, flatten);
    const columns = (): Column[] => [...spec.columns, ...(catalog?.columns() ?? []), ...METADATA_COLUMNS];
    const where = `${table.storage.url}/${spec.name}`;
    return await runIntoTable(opts, stats, table, window, source(ranges), flatten, columns, () => catalog?.version ?? 0, sideloads, { resumed: table.ledger().segments.length > 0, ranges, where, notes });
  } finally {
    await table?.close();
    await http.close();
  }
}

/** NDJSON on stdout: no table, so the position (if asked for) is kept in a state file, at least once. */
async function toStdout(opts: ExportTicketsOptions, stats: ExportStats, spec: StreamSpec, window: Window, source: (ranges: readonly ExportRange[]) => TicketSource, flatten: FlattenStream): Promise<ExportResult> {
  const store = opts.statePath !== undefined ? new StateStore(resolve(opts.statePath)) : undefined;
  const saved = await store?.load();
  const pos = saved?.position;
  const ranges: ExportRange[] = pos
    ? [pos.done && pos.to ? { from: pos.reached, to: pos.reached } : rangeFrom(pos)]
    : [{ from: frontier(window.start), to: window.end === undefined ? undefined : frontier(window.end) }];
  const src = source(ranges);
  const sink = new NdjsonStreamSink(opts.stdout ?? process.stdout, stats);
  // stdout cannot be committed atomically: the state follows what was flushed (at least once).
  let saving = Promise.resolve();
  let commits = 0;
  sink.on('commit', (cp: Checkpoint) => {
    commits++;
    if (!store) return;
    const next: ExportState = { version: STATE_VERSION, stream: spec.name, position: cp.position, rows: (saved?.rows ?? 0) + stats.rowsWritten, updatedAt: new Date().toISOString() };
    saving = saving.then(() => store.save(next));
  });
  const result = await drive(opts, stats, src, flatten, sink, { resumed: saved !== undefined, ranges, position: src.position(), where: store?.path, notes: [] }, () => ({ rows: stats.rowsWritten, files: 0, commits, version: -1 }));
  await saving;
  return result;
}

/**
 * Rebuild a lake from a raw archive (`exportTickets({ raw })`) without calling Zendesk. Like an
 * export, it adds only what the table lacks, so it resumes, and replays each version once.
 */
export async function replayTickets(opts: ReplayTicketsOptions): Promise<ExportResult> {
  checkOptions('replay', opts);
  const stats = opts.stats ?? new ExportStats();
  const fields = await readArchivedFields(resolve(opts.rawDir));
  const storage = await openStorage(opts.out, { s3ForcePathStyle: opts.s3ForcePathStyle });
  const window: Window = { start: 0 };
  const { table, ranges, notes } = await openTable(opts, storage, STREAMS.tickets, 'replay', window, newRunId());
  try {
    if (!fields) notes.push(`${opts.rawDir} holds no ticket_fields.json: custom fields are stored as JSON text`);
    const catalog = new FieldCatalog(fields ?? [], table.settings.customFieldNames);
    catalog.pin(table.columns());
    const source = new ReplaySource({ dir: resolve(opts.rawDir), ranges, parser: opts.parser, stats });
    const flatten = new FlattenStream({ catalog, excludeUpdatedBefore: undefined, stats });
    const columns = (): Column[] => [...STREAMS.tickets.columns, ...catalog.columns(), ...METADATA_COLUMNS];
    return await runIntoTable(opts, stats, table, window, source, flatten, columns, () => catalog.version, false, { resumed: table.ledger().segments.length > 0, ranges, where: `${storage.url}/tickets`, notes });
  } finally {
    await table.close();
  }
}

