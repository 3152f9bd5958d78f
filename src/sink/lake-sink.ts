import { Writable } from 'node:stream';
import { Checkpoint, isCheckpoint, isSideload, type Item } from '../core/checkpoint.js';
import { compare, isEmpty, type Frontier, type Segment, type Window } from '../core/delivery.js';
import { resolveOptions } from '../options/normalize.js';
import type { TicketRow } from '../flatten/flatten.js';
import type { Column } from '../schema/ticket-schema.js';
import type { ExportPosition } from '../core/position.js';
import { ExportStats } from '../core/stats.js';
import type { DataFile } from '../table/data-file.js';
import type { LakeTable } from '../table/lake-table.js';
import { writeError } from '../format/file-writers.js';
import { partitionValue } from '../table/partition.js';
import { OBJECT_HIGH_WATER_MARK } from '../core/flow.js';

/** A table for sideload rows (`include=users,...`), and the columns its rows have. */
export interface SideloadTable {
  table: LakeTable;
  columns: () => readonly Column[];
}

export interface LakeSinkOptions {
  /** The table the rows go to; it owns the files, the log and the commits. */
  table: LakeTable;
  /** The columns rows may have now (they may widen during a run when custom fields appear). */
  columns: () => readonly Column[];
  /** Changes whenever `columns()` would change. */
  schemaVersion?: () => number;
  /** The window this run exports, recorded with each commit. */
  window?: Window | undefined;
  /** Start a new file after this many rows. Default 100,000. */
  maxRowsPerFile?: number | undefined;
  /** Start a new file after this many bytes. Default 256 MiB. */
  maxBytesPerFile?: number | undefined;
  /** Commit at least this often (bounds what a crash costs), ms. Default 5 minutes. */
  commitIntervalMs?: number | undefined;
  stats?: ExportStats | undefined;
  /**
   * Skip rows the table already holds (by the stream's version). For a table fed by a source that
   * resumes from an older point than its own, as in a tee whose two tables committed apart.
   */
  skipDelivered?: boolean | undefined;
  /** A row's id and version, for `skipDelivered`. Default: `id` and `generated_timestamp`. */
  version?: ((row: TicketRow) => number | undefined) | undefined;
  /** Tables for sideload rows, by name (opened once each). Without it, sideload rows are dropped. */
  sideloads?: ((name: string) => Promise<SideloadTable>) | undefined;
}

/** What a sink has committed so far in this run. */
export interface Committed {
  rows: number;
  files: number;
  commits: number;
  /** The table's version after the last commit (-1 before any). */
  version: number;
}

interface Open {
  file: DataFile;
  schemaVersion: number;
  target: LakeTable;
}

/**
 * The lake sink: rows into a table's files, files into the table, exactly once. Rows go to an open
 * file per partition. When a checkpoint arrives and a file is full (or the commit interval has
 * passed), every open file is finished and committed, with what of the stream the checkpoints
 * since the last commit cover, in one table commit (sideload tables commit just before). At the
 * end the last checkpoint is committed. On an error, uncommitted files are dropped: nothing
 * half-written is ever part of the table.
 *
 * Emits 'commit' with the `Checkpoint` once it is durable.
 */
export class LakeSink extends Writable {
  readonly #table: LakeTable;
  readonly #columns: () => readonly Column[];
  readonly #schemaVersion: () => number;
  readonly #window: Window | undefined;
  readonly #maxRows: number;
  readonly #maxBytes: number;
  readonly #interval: number;
  readonly #stats: ExportStats;
  readonly #skip: boolean;
  readonly #version: (row: TicketRow) => number | undefined;
  readonly #sideloadsOf: ((name: string) => Promise<SideloadTable>) | undefined;
  readonly #sideloads = new Map<string, Promise<SideloadTable>>();
  #open = new Map<string, Open>();
  #closed: { target: LakeTable; file: DataFile }[] = [];
  /** Per range (by where it starts): the position of its last checkpoint. */
  #progress = new Map<string, ExportPosition>();
  /** Per range: what the table holds of it. */
  #committedTo = new Map<string, Frontier>();
  #pending: Checkpoint | undefined;
  #rowsSinceCheckpoint = 0;
  #lastCommit = Date.now();
  #committed: Committed;

  constructor(opts: LakeSinkOptions) {
    super({ objectMode: true, highWaterMark: OBJECT_HIGH_WATER_MARK });
    const r = resolveOptions('export', { maxRowsPerFile: opts.maxRowsPerFile, maxBytesPerFile: opts.maxBytesPerFile, commitIntervalMs: opts.commitIntervalMs });
    const maxRows = r.maxRowsPerFile;
    this.#table = opts.table;
    this.#columns = opts.columns;
    this.#schemaVersion = opts.schemaVersion ?? (() => 0);
    this.#window = opts.window;
    this.#maxRows = maxRows;
    this.#maxBytes = r.maxBytesPerFile;
    this.#interval = r.commitIntervalMs;
    this.#stats = opts.stats ?? new ExportStats();
    this.#skip = opts.skipDelivered ?? false;
    this.#version = opts.version ?? ((row) => (typeof row.generated_timestamp === 'number' ? row.generated_timestamp : undefined));
    this.#sideloadsOf = opts.sideloads;
    this.#committed = { rows: 0, files: 0, commits: 0, version: opts.table.version };
  }

  /** What this sink has committed so far. */
  get committed(): Readonly<Committed> {
    return this.#committed;
  }

  override _write(item: Item<TicketRow>, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#handle(item).then(() => callback(), callback);
  }

  async #handle(item: Item<TicketRow>): Promise<void> {
    if (isSideload(item)) {
      if (!this.#sideloadsOf) return;
      const side = await this.#sideload(item.table);
      const file = await this.#file(`@${item.table}`, side.table, undefined, 0, side.columns);
      await this.#write(file, item.record as TicketRow);
      return;
    }
    if (isCheckpoint(item)) {
      this.#pending = item;
      this.#progress.set(key(item.position.from), item.position);
      this.#rowsSinceCheckpoint = 0;
      if (this.#shouldCommit()) await this.#commit(item);
      return;
    }
    if (this.#skip && typeof item.id === 'number') {
      const g = this.#version(item);
      if (g !== undefined && this.#table.ledger().delivered(item.id, g)) {
        this.#stats.duplicatesSkipped++;
        return;
      }
    }
    const part = this.#table.partition ? partitionValue(this.#table.partition, item) : undefined;
    const file = await this.#file(part ?? '', this.#table, part, this.#schemaVersion(), this.#columns);
    await this.#write(file, item);
  }

  #sideload(name: string): Promise<SideloadTable> {
    let s = this.#sideloads.get(name);
    if (!s) {
      s = this.#sideloadsOf!(name);
      this.#sideloads.set(name, s);
    }
    return s;
  }

  async #write(open: Open, row: TicketRow): Promise<void> {
    try {
      await open.file.write(row);
    } catch (err) {
      throw writeError(open.file.pending.where, err);
    }
    this.#rowsSinceCheckpoint++;
  }

  #shouldCommit(): boolean {
    if (Date.now() - this.#lastCommit >= this.#interval) return true;
    if (this.#closed.length > 0) return true;
    for (const o of this.#open.values()) {
      if (o.file.rows >= this.#maxRows || o.file.bytes >= this.#maxBytes) return true;
    }
    return false;
  }

  /** The open file for a key (a partition, or a sideload table), opened with `columns` if needed. */
  async #file(k: string, target: LakeTable, part: string | null | undefined, version: number, columns: () => readonly Column[]): Promise<Open> {
    const current = this.#open.get(k);
    if (current && current.schemaVersion === version) return current;
    if (current) {
      // The schema widened (a custom field appeared): finish this file, the next one has the column.
      await current.file.finish();
      this.#closed.push({ target: current.target, file: current.file });
    }
    const file = await target.newFile(part, target.schemaFor(columns()));
    const open = { file, schemaVersion: version, target };
    this.#open.set(k, open);
    return open;
  }

  async #commit(cp: Checkpoint): Promise<void> {
    const files = this.#closed;
    this.#closed = [];
    for (const o of this.#open.values()) {
      await o.file.finish();
      files.push({ target: o.target, file: o.file });
    }
    this.#open.clear();
    // Sideload tables first: their rows are snapshots (read latest per id); the stream's commit,
    // which says what was delivered, comes last.
    const byTable = new Map<LakeTable, DataFile[]>();
    for (const f of files) byTable.set(f.target, [...(byTable.get(f.target) ?? []), f.file]);
    for (const [t, adds] of byTable) if (t !== this.#table) await t.commit({ operation: 'WRITE', adds, window: this.#window });
    const segments: Segment[] = [];
    for (const [k, pos] of this.#progress) {
      const seg: Segment = { from: this.#committedTo.get(k) ?? pos.from, to: pos.reached, cursor: pos.cursor };
      if (isEmpty(seg)) continue;
      if (!this.#skip) {
        segments.push(seg);
        continue;
      }
      // Rows the table held were skipped: commit only the parts of the segment it lacked.
      for (const gap of this.#table.ledger().gapsBetween(seg.from, seg.to)) {
        const to = gap.to ?? seg.to;
        segments.push({ from: gap.from, to, cursor: compare(to, seg.to) === 0 ? seg.cursor : undefined });
      }
    }
    const adds = byTable.get(this.#table) ?? [];
    if (adds.length > 0 || segments.length > 0) {
      this.#committed.version = await this.#table.commit({ operation: 'WRITE', adds, segments, window: this.#window });
      this.#committed.commits++;
    }
    for (const [k, pos] of this.#progress) this.#committedTo.set(k, pos.reached);
    const rows = files.reduce((n, f) => n + f.file.rows, 0);
    this.#committed.rows += rows;
    this.#committed.files += files.length;
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
        // commit mix them with earlier rows, so none is committed: the table stays as it was, and
        // the next run fetches those pages again.
        await this.#abortAll();
        return;
      }
      if (this.#pending) await this.#commit(this.#pending);
    };
    run().then(() => callback(), callback);
  }

  /** Drop every file not yet committed. */
  async #abortAll(): Promise<void> {
    for (const o of this.#open.values()) await o.file.abort().catch(() => undefined);
    this.#open.clear();
    for (const f of this.#closed) await f.file.abort().catch(() => undefined);
    this.#closed = [];
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#abortAll().then(
      () => callback(err),
      () => callback(err),
    );
  }
}

function key(f: Frontier): string {
  return `${f.at}:${f.ids.join(',')}`;
}
