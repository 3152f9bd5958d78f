import { resolve, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { Credentials } from './auth.js';
import type { Checkpoint } from './checkpoint.js';
import { invalidOption } from './errors.js';
import { FlattenStream } from './flatten/flatten-stream.js';
import { FieldCatalog, type CustomFieldNaming } from './schema/custom-fields.js';
import { METADATA_COLUMNS, TICKET_COLUMNS, type Column } from './schema/ticket-schema.js';
import { NdjsonFormat, ParquetFormat, type RowFormat } from './sink/file-writers.js';
import { LakeSink } from './sink/lake-sink.js';
import { NdjsonStreamSink } from './sink/ndjson-stream-sink.js';
import { parsePartitionSpec } from './sink/partition.js';
import { ZendeskHttp, type HttpTimeouts } from './source/http-client.js';
import type { ParserKind } from './source/page-parser.js';
import type { ExportPosition, PaginationMode } from './source/pagination.js';
import { TicketSource } from './source/ticket-source.js';
import { Committer, type CommitStep } from './state/committer.js';
import { STATE_VERSION, StateStore, type ExportState } from './state/state-store.js';
import { ExportStats } from './stats.js';

export interface ExportTicketsOptions {
  origin: string;
  credentials: Credentials;
  format?: 'parquet' | 'ndjson';
  /** The lake folder, or '-' for NDJSON on `stdout`. */
  out: string;
  /** Default: `<out>/_state/tickets.json` (per window when `endTime` is set). */
  statePath?: string | undefined;
  pagination?: PaginationMode;
  startTime?: number | undefined;
  endTime?: number | undefined;
  rateLimit?: number;
  perPage?: number;
  supportTypeScope?: 'agent' | 'ai_agent' | 'all';
  excludeDeleted?: boolean;
  include?: readonly string[];
  excludeSystemUpdates?: boolean;
  /** `updated_at:month` and the like. */
  partitionBy?: string | undefined;
  gzip?: boolean;
  maxRowsPerFile?: number;
  maxBytesPerFile?: number;
  commitIntervalMs?: number;
  rowGroupSize?: number;
  /** A file format of your own (or a wrapped one); overrides `format` for files. */
  rowFormat?: RowFormat;
  customFieldNames?: CustomFieldNaming;
  parser?: ParserKind;
  timeouts?: HttpTimeouts;
  retries?: number;
  maxRetryTimeMs?: number;
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Stop after the page in progress, commit, and return with `complete: false`. */
  signal?: AbortSignal;
  stats?: ExportStats;
  /** Where NDJSON goes with `out: '-'`. Default process.stdout. */
  stdout?: NodeJS.WritableStream;
  /** Told once where the run starts from. */
  onStart?: (info: { resumed: boolean; position: ExportPosition; statePath: string | undefined; notes: string[] }) => void;
  onCommit?: (checkpoint: Checkpoint) => void;
  /** For crash-injection tests. */
  onCommitStep?: (step: CommitStep) => void;
}

export interface ExportResult {
  /** True when the export reached the end of the stream (or of the window) and all is committed. */
  complete: boolean;
  state: ExportState | undefined;
  stats: ExportStats;
  statePath: string | undefined;
}

export function defaultStateName(startTime: number | undefined, endTime: number | undefined): string {
  return endTime === undefined ? 'tickets.json' : `tickets-${startTime ?? 0}-${endTime}.json`;
}

/**
 * Export tickets into a lake (or NDJSON on stdout), resuming from the saved state. The building
 * blocks are public too: this function is `pipeline(source, flatten, sink)` with the wiring done.
 */
export async function exportTickets(opts: ExportTicketsOptions): Promise<ExportResult> {
  const format = opts.format ?? 'parquet';
  if (format !== 'parquet' && format !== 'ndjson') throw invalidOption('format', '"parquet" or "ndjson"', format);
  if (opts.out === '-' && format !== 'ndjson') throw invalidOption('format', '"ndjson" when the output is stdout (--out -)', format);
  if (opts.startTime !== undefined && opts.endTime !== undefined && opts.endTime <= opts.startTime) {
    throw invalidOption('endTime', `later than the start time ${opts.startTime}`, opts.endTime);
  }
  const partition = opts.partitionBy === undefined ? undefined : parsePartitionSpec(opts.partitionBy);
  const stats = opts.stats ?? new ExportStats();
  const notes: string[] = [];
  const toStdout = opts.out === '-';
  const outDir = toStdout ? undefined : resolve(opts.out);
  const statePath = opts.statePath !== undefined ? resolve(opts.statePath) : outDir ? join(outDir, '_state', defaultStateName(opts.startTime, opts.endTime)) : undefined;

  const committer = outDir && statePath ? new Committer({ outDir, statePath, onStep: opts.onCommitStep }) : undefined;
  const store = committer?.store ?? (statePath ? new StateStore(statePath) : undefined);
  const saved = committer ? await committer.recover() : await store?.load();

  let position: ExportPosition | undefined;
  if (saved) {
    position = { ...saved.position };
    if (position.done && opts.endTime === undefined) position.done = false; // an incremental run: look for new changes
    if (opts.startTime !== undefined && opts.startTime !== saved.window.startTime) {
      notes.push(`--start-time ${opts.startTime} is ignored: the saved state in ${statePath} wins (move it away to start over)`);
    }
  }
  const startTime = saved?.window.startTime ?? opts.startTime ?? 0;
  const baseState: ExportState = saved ?? {
    version: STATE_VERSION,
    stream: 'tickets',
    window: { startTime, endTime: opts.endTime },
    position: { mode: opts.pagination ?? 'cursor', startTime, watermark: -1, boundary: [], done: false },
    files: [],
    counters: { rows: 0, commits: 0, rejects: 0 },
    updatedAt: new Date().toISOString(),
  };

  const http = new ZendeskHttp(opts.origin, opts.credentials, opts.timeouts);
  try {
    const catalog = await FieldCatalog.fetch(http, opts.customFieldNames ?? 'id');
    const source = new TicketSource({
      origin: opts.origin,
      credentials: opts.credentials,
      pagination: opts.pagination ?? 'cursor',
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
      stats,
    });
    opts.onStart?.({ resumed: saved !== undefined, position: source.position(), statePath, notes });
    const columns = (): Column[] => [...TICKET_COLUMNS, ...catalog.columns(), ...METADATA_COLUMNS];
    const flatten = new FlattenStream({
      catalog,
      refreshCatalog: () => catalog.refresh(http),
      excludeUpdatedBefore: opts.excludeSystemUpdates ? startTime : undefined,
      stats,
    });
    let sink: Writable;
    let lake: LakeSink | undefined;
    let lastState: ExportState | undefined = saved;
    if (committer) {
      const rowFormat: RowFormat = opts.rowFormat ?? (format === 'parquet' ? new ParquetFormat({ rowGroupSize: opts.rowGroupSize }) : new NdjsonFormat({ gzip: opts.gzip ?? false }));
      lake = new LakeSink({
        committer,
        format: rowFormat,
        columns,
        schemaVersion: () => catalog.version,
        partitionBy: partition,
        maxRowsPerFile: opts.maxRowsPerFile,
        maxBytesPerFile: opts.maxBytesPerFile,
        commitIntervalMs: opts.commitIntervalMs,
        baseState,
        stats,
      });
      sink = lake;
    } else {
      sink = new NdjsonStreamSink(opts.stdout ?? process.stdout, stats);
      // stdout cannot be committed atomically: the state (if asked for) follows what was flushed.
      sink.on('commit', (cp: Checkpoint) => {
        if (!store) return;
        const next: ExportState = { ...baseState, position: cp.position, updatedAt: new Date().toISOString(), counters: { ...baseState.counters, rows: baseState.counters.rows + stats.rowsWritten } };
        lastState = next;
        void store.save(next);
      });
    }
    sink.on('commit', (cp: Checkpoint) => opts.onCommit?.(cp));
    const onAbort = (): void => source.stop();
    if (opts.signal?.aborted) source.stop();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await pipeline(source, flatten, sink);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    for (const n of stats.notes) if (!notes.includes(n)) notes.push(n);
    const state = lake ? lake.state : lastState;
    return { complete: source.position().done && !(opts.signal?.aborted ?? false), state, stats, statePath };
  } finally {
    await http.close();
  }
}
