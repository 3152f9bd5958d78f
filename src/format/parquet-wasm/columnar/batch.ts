import type { TicketRow } from '../../../flatten/flatten.js';
import { toJsonText } from '../../../flatten/json-line.js';
import { EXTRA_COLUMN, type Column, type ColumnType } from '../../../schema/ticket-schema.js';
import { ColumnBuilder, builderFor } from './builders.js';

/**
 * Rows to column buffers: the cheap half of a columnar writer, pure JS, run by the thread that parses
 * and flattens. A batch is a set of typed arrays in Arrow's layout (validity bitmaps, Int32 offsets,
 * little-endian int64), so it can be posted to the encoding thread with its ArrayBuffers transferred
 * (no copy) and wrapped as Arrow data there without another pass over the values.
 *
 * Batches are bounded by rows AND by bytes (the UTF-8 text plus the fixed-width values), so a batch
 * of 2 MB tickets closes after a couple of rows and memory stays flat whatever the ticket size.
 *
 * Values follow the lake's contract (src/schema/ticket-schema.ts): int64 a safe integer or a bigint,
 * timestamps ISO-8601 UTC strings (stored as UTC milliseconds), dates `YYYY-MM-DD`, lists without
 * null elements. A null list is stored as `[]`, as the parquetjs-lite engine must. Keys no column
 * knows go to `_extra` as JSON text. A value that does not fit its column throws a TypeError naming
 * the column; the batch is then unusable (the caller fails the file).
 */

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('column batches assume a little-endian machine');

/** One column of a batch, in Arrow's layout. */
export interface ColumnChunk {
  name: string;
  type: ColumnType;
  nullable: boolean;
  nullCount: number;
  /** Validity bitmap (bit i set = row i is not null), or null when nothing is null. */
  validity: Uint8Array | null;
  /** int64/timestamp: 8 bytes a value; double: Float64; date: Int32 days; boolean: bitmap; text: UTF-8; lists: the child's values. */
  values: Uint8Array;
  /** Text: value offsets (rows + 1). Lists: list offsets (rows + 1). */
  offsets: Int32Array | null;
  /** list<text>: offsets of the child strings into `values`. */
  childOffsets: Int32Array | null;
  /** Lists: number of child values. */
  childLength: number;
}

export interface ColumnBatch {
  rows: number;
  /** Bytes of values the batch holds (what its byte bound counts). */
  bytes: number;
  columns: ColumnChunk[];
}

export interface BatchLimits {
  /** Close a batch at this many rows. */
  maxRows: number;
  /** Close a batch once its values reach this many bytes (the row that crosses it is included). */
  maxBytes: number;
}

/** The ArrayBuffers of a batch, for `postMessage(batch, transferList(batch))`. */
export function transferList(batch: ColumnBatch): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const c of batch.columns) {
    for (const a of [c.validity, c.values, c.offsets, c.childOffsets]) if (a) out.add(a.buffer as ArrayBuffer);
  }
  return [...out];
}

/** Memory a batch holds (its buffers' capacity, not only the bytes in use). */
export function batchMemory(batch: ColumnBatch): number {
  return transferList(batch).reduce((n, b) => n + b.byteLength, 0);
}
/**
 * Accumulates rows into one batch. `add` returns true when the batch is full; then `finish()` hands
 * it over, and the next row starts the next batch, its buffers sized from the last (they rarely regrow).
 */
export class ColumnBatchBuilder {
  readonly columns: readonly Column[];
  readonly limits: BatchLimits;
  readonly #index: ReadonlyMap<string, number>;
  readonly #extraIndex: number;
  /** Per column, the row (+1) that last gave it a value. */
  readonly #seen: Int32Array;
  #builders: ColumnBuilder[] = [];
  /** False after `finish()` until the next row: a file's last batch leaves no buffers behind. */
  #ready = false;
  #rows = 0;
  #bytes = 0;
  #rowHint: number;
  readonly #textHint = new Map<string, number>();

  constructor(columns: readonly Column[], limits: BatchLimits) {
    this.columns = columns;
    this.limits = limits;
    this.#index = new Map(columns.map((c, i) => [c.name, i]));
    this.#seen = new Int32Array(columns.length);
    this.#extraIndex = columns.findIndex((c) => c.name === EXTRA_COLUMN.name);
    this.#rowHint = Math.min(limits.maxRows, 1024);
  }

  get rows(): number {
    return this.#rows;
  }

  get bytes(): number {
    return this.#bytes;
  }

  #reset(): void {
    this.#builders = this.columns.map((c) => builderFor(c, this.#rowHint, this.#textHint.get(c.name) ?? 1024));
    this.#rows = 0;
    this.#bytes = 0;
    this.#seen.fill(0);
    this.#ready = true;
  }

  /** Add one row; true when the batch reached a limit. Throws a TypeError for a value that does not fit. */
  add(row: TicketRow): boolean {
    if (!this.#ready) this.#reset();
    const r = this.#rows;
    const builders = this.#builders;
    const index = this.#index;
    const seen = this.#seen;
    const extraIndex = this.#extraIndex;
    const stamp = r + 1;
    let bytes = 0;
    let extra: TicketRow | undefined;
    // One pass over the row's keys: rows from the flattener are dictionary-mode objects, where every
    // lookup is a hash probe, so probing each column name and then each key for `_extra` costs double.
    for (const key in row) {
      const i = index.get(key);
      if (i === undefined || i === extraIndex) (extra ??= {})[key] = row[key]!;
      else {
        bytes += builders[i]!.push(r, row[key]);
        seen[i] = stamp;
      }
    }
    if (extraIndex >= 0) {
      bytes += builders[extraIndex]!.push(r, extra === undefined ? null : toJsonText(extra));
      seen[extraIndex] = stamp;
    }
    for (let i = 0; i < builders.length; i++) if (seen[i] !== stamp) bytes += builders[i]!.push(r, null);
    this.#rows = stamp;
    this.#bytes += bytes;
    return stamp >= this.limits.maxRows || this.#bytes >= this.limits.maxBytes;
  }

  /** The batch so far (its buffers now belong to the caller); the builder starts afresh. */
  finish(): ColumnBatch {
    if (!this.#ready) this.#reset();
    const rows = this.#rows;
    const columns = this.#builders.map((b) => b.finish(rows));
    const batch: ColumnBatch = { rows, bytes: this.#bytes, columns };
    this.#rowHint = Math.max(16, Math.min(this.limits.maxRows, rows + (rows >> 3)));
    for (const c of columns) {
      // Sized for the next batch like this one, but never beyond the batch bound (one huge ticket does not make every later batch reserve its size).
      if (c.type === 'text' || c.type === 'json' || c.type === 'list<text>') this.#textHint.set(c.name, Math.max(1024, Math.floor(Math.min(this.limits.maxBytes, c.values.byteLength) * 1.125)));
    }
    this.#builders = [];
    this.#rows = 0;
    this.#bytes = 0;
    this.#ready = false;
    return batch;
  }
}
