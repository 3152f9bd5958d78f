import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { Checkpoint, isCheckpoint, isSideload, type Item } from '../checkpoint.js';
import { invalidOption } from '../errors.js';
import type { TicketRow } from '../flatten/flatten.js';
import type { Column } from '../schema/ticket-schema.js';
import type { Committer, StagedFile } from '../state/committer.js';
import { STATE_VERSION, type ExportState } from '../state/state-store.js';
import { ExportStats } from '../stats.js';
import { writeError, type RowFileWriter, type RowFormat } from './file-writers.js';
import { partitionPath, type PartitionSpec } from './partition.js';

export interface LakeSinkOptions {
  committer: Committer;
  format: RowFormat;
  /** Folder of the table inside the lake. Default 'tickets'. */
  table?: string;
  /** The current columns (they may widen during a run when custom fields appear). */
  columns: () => readonly Column[];
  /** Changes whenever `columns()` would change. */
  schemaVersion?: () => number;
  partitionBy?: PartitionSpec | undefined;
  /** Start a new file after this many rows. Default 100,000. */
  maxRowsPerFile?: number;
  /** Start a new file after this many bytes. Default 256 MiB. */
  maxBytesPerFile?: number;
  /** Commit at least this often (bounds what a crash costs), ms. Default 5 minutes. */
  commitIntervalMs?: number;
  /** The state committed before this run (files and counters carry on). */
  baseState: ExportState;
  stats?: ExportStats;
  /**
   * Skip rows this lake has already committed (by `id` and `generated_timestamp` against the base
   * state's position). For a lake fed from a source that resumes from an older position than its own,
   * as in a tee whose two lakes committed at different points.
   */
  skipCommitted?: boolean;
  /** Write sideload rows (`include=users,...`) into tables of their own, with these columns. */
  sideloadColumns?: (table: string) => readonly Column[];
}

interface Settings {
  committer: Committer;
  format: RowFormat;
  table: string;
  columns: () => readonly Column[];
  partitionBy: PartitionSpec | undefined;
  maxRowsPerFile: number;
  maxBytesPerFile: number;
  commitIntervalMs: number;
  baseState: ExportState;
}

interface OpenFile {
  writer: RowFileWriter;
  staged: string;
  final: string;
  schemaVersion: number;
}

/**
 * The lake sink: rows into files, files into the lake, exactly once. Rows go to an open file per
 * partition, in staging. When a checkpoint arrives and a file is full (or the commit interval has
 * passed), every open file is finished and committed together with that checkpoint's position, in
 * one atomic step (see `Committer`). At the end, the last checkpoint is committed. On an error,
 * open files are deleted: nothing half-written is ever visible.
 *
 * Emits 'commit' with the `Checkpoint` once it is durable.
 */
export class LakeSink extends Writable {
  readonly #o: Settings;
  readonly #schemaVersion: () => number;
  readonly #stats: ExportStats;
  readonly #runId: string;
  #state: ExportState;
  #open = new Map<string, OpenFile>();
  #closed: StagedFile[] = [];
  #seq = 0;
  #pending: Checkpoint | undefined;
  #rowsSinceCheckpoint = 0;
  #lastCommit = Date.now();
  readonly #skip: { watermark: number; boundary: Set<number> } | undefined;
  readonly #sideloadColumns: ((table: string) => readonly Column[]) | undefined;

  constructor(opts: LakeSinkOptions) {
    super({ objectMode: true, highWaterMark: 16 });
    const maxRows = opts.maxRowsPerFile ?? 100_000;
    if (!Number.isInteger(maxRows) || maxRows < 1) throw invalidOption('maxRowsPerFile', 'a whole number >= 1', opts.maxRowsPerFile);
    this.#o = {
      committer: opts.committer,
      format: opts.format,
      table: opts.table ?? 'tickets',
      columns: opts.columns,
      partitionBy: opts.partitionBy,
      maxRowsPerFile: maxRows,
      maxBytesPerFile: opts.maxBytesPerFile ?? 256 * 1024 * 1024,
      commitIntervalMs: opts.commitIntervalMs ?? 5 * 60_000,
      baseState: opts.baseState,
    };
    this.#schemaVersion = opts.schemaVersion ?? (() => 0);
    this.#stats = opts.stats ?? new ExportStats();
    this.#state = opts.baseState;
    this.#sideloadColumns = opts.sideloadColumns;
    this.#skip = opts.skipCommitted ? { watermark: opts.baseState.position.watermark, boundary: new Set(opts.baseState.position.boundary) } : undefined;
    this.#runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
  }

  /** The state as last committed. */
  get state(): ExportState {
    return this.#state;
  }

  override _write(item: Item<TicketRow>, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#handle(item).then(() => callback(), callback);
  }

  async #handle(item: Item<TicketRow>): Promise<void> {
    if (isSideload(item)) {
      const columnsOf = this.#sideloadColumns;
      if (!columnsOf) return;
      const file = await this.#open_(`@${item.table}`, item.table, '', 0, () => columnsOf(item.table));
      await this.#write(file, item.record as TicketRow);
      return;
    }
    if (isCheckpoint(item)) {
      this.#pending = item;
      this.#rowsSinceCheckpoint = 0;
      if (this.#shouldCommit()) await this.#commit(item);
      return;
    }
    const skip = this.#skip;
    if (skip && typeof item.generated_timestamp === 'number' && typeof item.id === 'number') {
      const g = item.generated_timestamp;
      if (g < skip.watermark || (g === skip.watermark && skip.boundary.has(item.id))) {
        this.#stats.duplicatesSkipped++;
        return;
      }
    }
    const part = this.#o.partitionBy ? partitionPath(this.#o.partitionBy, item) : '';
    const file = await this.#open_(part, this.#o.table, part, this.#schemaVersion(), this.#o.columns);
    await this.#write(file, item);
  }

  async #write(file: OpenFile, row: TicketRow): Promise<void> {
    try {
      await file.writer.write(row);
    } catch (err) {
      throw writeError(file.staged, err);
    }
    this.#rowsSinceCheckpoint++;
  }

  #shouldCommit(): boolean {
    if (Date.now() - this.#lastCommit >= this.#o.commitIntervalMs) return true;
    if (this.#closed.length > 0) return true;
    for (const f of this.#open.values()) {
      if (f.writer.rows >= this.#o.maxRowsPerFile || f.writer.bytes >= this.#o.maxBytesPerFile) return true;
    }
    return false;
  }

  /** The open file for a key (a partition, or a sideload table), opened with `columns` if needed. */
  async #open_(key: string, table: string, part: string, version: number, columns: () => readonly Column[]): Promise<OpenFile> {
    const current = this.#open.get(key);
    if (current && current.schemaVersion === version) return current;
    if (current) {
      // The schema widened (a custom field appeared): finish this file, the next one has the column.
      await current.writer.close();
      this.#closed.push({ staged: current.staged, final: current.final, rows: current.writer.rows, bytes: current.writer.bytes });
    }
    const name = `part-${this.#runId}-${String(this.#seq++).padStart(5, '0')}.${this.#o.format.extension}`;
    const staged = this.#o.committer.stagingPath(name);
    const final = [table, part, name].filter(Boolean).join('/');
    this.#o.committer.finalPath(final); // refuses paths that leave the lake
    const writer = await this.#o.format.open(staged, columns());
    const file = { writer, staged, final, schemaVersion: version };
    this.#open.set(key, file);
    return file;
  }

  async #commit(cp: Checkpoint): Promise<void> {
    const files: StagedFile[] = this.#closed;
    this.#closed = [];
    for (const f of this.#open.values()) {
      await f.writer.close();
      files.push({ staged: f.staged, final: f.final, rows: f.writer.rows, bytes: f.writer.bytes });
    }
    this.#open.clear();
    const rows = files.reduce((n, f) => n + f.rows, 0);
    const next: ExportState = {
      version: STATE_VERSION,
      stream: cp.stream,
      window: this.#state.window,
      position: cp.position,
      files: [...this.#state.files, ...files.map((f) => f.final)],
      counters: {
        rows: this.#state.counters.rows + rows,
        commits: this.#state.counters.commits + 1,
        rejects: this.#stats.rejects + this.#o.baseState.counters.rejects,
      },
      updatedAt: new Date().toISOString(),
    };
    await this.#o.committer.commit(files, next);
    this.#state = next;
    this.#pending = undefined;
    this.#lastCommit = Date.now();
    this.#stats.rowsWritten += rows;
    this.#stats.filesCommitted += files.length;
    this.#stats.checkpointsCommitted++;
    this.emit('commit', cp);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const run = async (): Promise<void> => {
      if (this.#rowsSinceCheckpoint > 0) {
        // Rows after the last checkpoint have no position to commit with. The files since the last
        // commit mix them with earlier rows, so none is committed: the previous state stands, and
        // the next run fetches those pages again.
        await this.#abortAll();
        return;
      }
      if (this.#pending) await this.#commit(this.#pending);
    };
    run().then(() => callback(), callback);
  }

  /** Delete every file not yet committed. */
  async #abortAll(): Promise<void> {
    for (const f of this.#open.values()) await f.writer.abort().catch(() => undefined);
    this.#open.clear();
    for (const f of this.#closed) await rm(f.staged, { force: true }).catch(() => undefined);
    this.#closed = [];
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#abortAll().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
