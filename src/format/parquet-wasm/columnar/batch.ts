import type { RowValue, TicketRow } from '../../flatten/flatten.js';
import { toJsonText } from '../../flatten/json-line.js';
import { EXTRA_COLUMN, type Column, type ColumnType } from '../../schema/ticket-schema.js';

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

// ------------------------------------------------------------------ values

/** Milliseconds since the epoch of an ISO-8601 timestamp. */
export function timestampMs(v: string): number {
  const fast = isoMillis(v);
  if (fast !== undefined) return fast;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new TypeError(`not a timestamp: ${JSON.stringify(v)}`);
  return ms;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(v: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function validDay(year: number, month: number, day: number): boolean {
  if (year < 1000 || month < 1 || month > 12 || day < 1) return false;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0);
}

/**
 * The flattener's own form, `YYYY-MM-DDTHH:MM:SS.sssZ` (years 1000-9999), read without Date.parse
 * (~5x faster); undefined for anything else (Date.parse then decides).
 */
function isoMillis(v: string): number | undefined {
  if (v.length !== 24 || v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58 || v.charCodeAt(19) !== 46 || v.charCodeAt(23) !== 90) return undefined;
  const year = digits(v, 0, 4);
  const month = digits(v, 5, 7);
  const day = digits(v, 8, 10);
  const hour = digits(v, 11, 13);
  const minute = digits(v, 14, 16);
  const second = digits(v, 17, 19);
  const milli = digits(v, 20, 23);
  if (!validDay(year, month, day) || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || milli < 0) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, milli);
}

/** Days since 1970-01-01 of a `YYYY-MM-DD` date (read as the parquetjs-lite engine reads it). */
export function dateDays(v: string): number {
  if (v.length === 10 && v.charCodeAt(4) === 45 && v.charCodeAt(7) === 45) {
    const year = digits(v, 0, 4);
    const month = digits(v, 5, 7);
    const day = digits(v, 8, 10);
    if (validDay(year, month, day)) return Date.UTC(year, month - 1, day) / 86_400_000;
  }
  const ms = Date.parse(`${v}T00:00:00Z`);
  if (Number.isNaN(ms)) throw new TypeError(`not a date: ${JSON.stringify(v)}`);
  return Math.floor(ms / 86_400_000);
}

// ------------------------------------------------------------------ growable buffers

/** Buffer's unchecked UTF-8 writer (public since Node 0.x, not in @types/node); `write(s, o, 'utf8')` validates its arguments first. */
interface Utf8Writable {
  utf8Write(s: string, offset: number): number;
}

/** UTF-8 bytes, appended. Lone surrogates become U+FFFD (Parquet strings are UTF-8). */
class Bytes {
  buf: Uint8Array;
  view: Buffer & Utf8Writable;
  length = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
    this.view = Buffer.from(this.buf.buffer, 0, this.buf.byteLength) as Buffer & Utf8Writable;
  }

  ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = Buffer.from(next.buffer, 0, cap) as Buffer & Utf8Writable;
  }

  /** Append a string; short ASCII strings are copied in JS (no native call). */
  utf8(s: string): void {
    const len = s.length;
    // A long string is measured first, so a 1.5 MB description does not reserve 4.5 MB.
    this.ensure(len < 65_536 ? len * 3 : Buffer.byteLength(s, 'utf8'));
    const at = this.length;
    if (len < 32) {
      const buf = this.buf;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === len) {
        this.length = at + len;
        return;
      }
    }
    this.length = at + this.view.utf8Write(s, at);
  }

  done(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

class I32 {
  buf: Int32Array;
  length = 0;

  constructor(capacity: number) {
    this.buf = new Int32Array(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Int32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }

  done(): Int32Array {
    return this.buf.subarray(0, this.length);
  }
}

/** int64 values as two little-endian 32-bit halves; a BigInt only for values that arrive as bigint. */
class I64 {
  i32: Int32Array;
  i64: BigInt64Array;
  length = 0;

  constructor(capacity: number) {
    this.i32 = new Int32Array(Math.max(16, capacity) * 2);
    this.i64 = new BigInt64Array(this.i32.buffer);
  }

  push(v: number | bigint): void {
    if (this.length * 2 === this.i32.length) {
      const next = new Int32Array(this.i32.length * 2);
      next.set(this.i32);
      this.i32 = next;
      this.i64 = new BigInt64Array(next.buffer);
    }
    if (typeof v === 'bigint') {
      if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new TypeError(`not an int64: ${v}`);
      this.i64[this.length++] = v;
      return;
    }
    if (!Number.isSafeInteger(v)) throw new TypeError(`not an int64: ${v}`);
    const i = this.length++ * 2;
    this.i32[i] = v % 4294967296; // ToInt32 keeps the low 32 bits (two's complement for negatives)
    this.i32[i + 1] = Math.floor(v / 4294967296);
  }

  done(): Uint8Array {
    return new Uint8Array(this.i32.buffer, 0, this.length * 8);
  }
}

class Bits {
  buf: Uint8Array;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(8, (capacity + 7) >> 3));
  }

  set(i: number): void {
    const byte = i >> 3;
    if (byte >= this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, byte + 1));
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[byte]! |= 1 << (i & 7);
  }

  /** The first `n` bits. */
  done(n: number): Uint8Array {
    const bytes = (n + 7) >> 3;
    if (this.buf.length < bytes) {
      const next = new Uint8Array(bytes);
      next.set(this.buf);
      this.buf = next;
    }
    return this.buf.subarray(0, bytes);
  }
}

// ------------------------------------------------------------------ column builders

type Value = RowValue | undefined;

interface ColumnBuilder {
  /** Append one value (null/undefined = null); returns the bytes it added. */
  push(row: number, v: Value): number;
  finish(rows: number): ColumnChunk;
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
}

function typeError(c: Column, v: unknown): TypeError {
  return new TypeError(`column ${c.name} (${c.type}) cannot hold ${show(v).slice(0, 200)}`);
}

abstract class Base implements ColumnBuilder {
  readonly column: Column;
  readonly nullable: boolean;
  readonly validity: Bits;
  nullCount = 0;

  constructor(column: Column, capacity: number) {
    this.column = column;
    this.nullable = column.required !== true;
    this.validity = new Bits(capacity);
  }

  abstract push(row: number, v: Value): number;
  abstract finish(rows: number): ColumnChunk;

  /** True (and counted) for a null; marks the row valid otherwise. */
  protected isNull(row: number, v: Value): v is null | undefined {
    if (v === null || v === undefined) {
      if (!this.nullable) throw new TypeError(`column ${this.column.name} is required, and a row has none`);
      this.nullCount++;
      return true;
    }
    this.validity.set(row);
    return false;
  }

  protected chunk(rows: number, values: Uint8Array, offsets: Int32Array | null = null, childOffsets: Int32Array | null = null, childLength = 0): ColumnChunk {
    return {
      name: this.column.name,
      type: this.column.type,
      nullable: this.nullable,
      nullCount: this.nullCount,
      validity: this.nullCount > 0 ? this.validity.done(rows) : null,
      values,
      offsets,
      childOffsets,
      childLength,
    };
  }
}

class Int64Builder extends Base {
  readonly #v: I64;
  readonly #timestamp: boolean;

  constructor(column: Column, capacity: number) {
    super(column, capacity);
    this.#v = new I64(capacity);
    this.#timestamp = column.type === 'timestamp';
  }

  push(row: number, v: Value): number {
    if (this.isNull(row, v)) {
      this.#v.push(0);
      return 8;
    }
    if (this.#timestamp) {
      if (typeof v !== 'string') throw typeError(this.column, v);
      this.#v.push(timestampMs(v));
    } else {
      if (typeof v !== 'number' && typeof v !== 'bigint') throw typeError(this.column, v);
      this.#v.push(v);
    }
    return 8;
  }

  finish(rows: number): ColumnChunk {
    return this.chunk(rows, this.#v.done());
  }
}

class DoubleBuilder extends Base {
  #v: Float64Array;

  constructor(column: Column, capacity: number) {
    super(column, capacity);
    this.#v = new Float64Array(Math.max(16, capacity));
  }

  push(row: number, v: Value): number {
    if (row === this.#v.length) {
      const next = new Float64Array(this.#v.length * 2);
      next.set(this.#v);
      this.#v = next;
    }
    if (this.isNull(row, v)) return 8;
    if (typeof v !== 'number') throw typeError(this.column, v);
    this.#v[row] = v;
    return 8;
  }

  finish(rows: number): ColumnChunk {
    return this.chunk(rows, new Uint8Array(this.#v.buffer, 0, rows * 8));
  }
}

class DateBuilder extends Base {
  readonly #v: I32;

  constructor(column: Column, capacity: number) {
    super(column, capacity);
    this.#v = new I32(capacity);
  }

  push(row: number, v: Value): number {
    if (this.isNull(row, v)) {
      this.#v.push(0);
      return 4;
    }
    if (typeof v !== 'string') throw typeError(this.column, v);
    this.#v.push(dateDays(v));
    return 4;
  }

  finish(rows: number): ColumnChunk {
    const d = this.#v.done();
    return this.chunk(rows, new Uint8Array(d.buffer, 0, d.byteLength));
  }
}

class BoolBuilder extends Base {
  readonly #v: Bits;

  constructor(column: Column, capacity: number) {
    super(column, capacity);
    this.#v = new Bits(capacity);
  }

  push(row: number, v: Value): number {
    if (this.isNull(row, v)) return 1;
    if (typeof v !== 'boolean') throw typeError(this.column, v);
    if (v) this.#v.set(row);
    return 1;
  }

  finish(rows: number): ColumnChunk {
    return this.chunk(rows, this.#v.done(rows));
  }
}

class TextBuilder extends Base {
  readonly #offsets: I32;
  readonly #bytes: Bytes;

  constructor(column: Column, capacity: number, byteCapacity: number) {
    super(column, capacity);
    this.#offsets = new I32(capacity + 1);
    this.#offsets.push(0);
    this.#bytes = new Bytes(byteCapacity);
  }

  push(row: number, v: Value): number {
    const before = this.#bytes.length;
    if (!this.isNull(row, v)) {
      if (typeof v !== 'string') throw typeError(this.column, v);
      this.#bytes.utf8(v);
    }
    this.#offsets.push(this.#bytes.length);
    return 4 + (this.#bytes.length - before);
  }

  finish(rows: number): ColumnChunk {
    return this.chunk(rows, this.#bytes.done(), this.#offsets.done());
  }
}

/** Lists are never null in the lake: a null list is stored as []. */
class ListInt64Builder extends Base {
  readonly #offsets: I32;
  readonly #child: I64;

  constructor(column: Column, capacity: number) {
    super(column, capacity);
    this.#offsets = new I32(capacity + 1);
    this.#offsets.push(0);
    this.#child = new I64(capacity * 2);
  }

  push(row: number, v: Value): number {
    this.validity.set(row);
    let n = 0;
    if (v !== null && v !== undefined) {
      if (!Array.isArray(v)) throw typeError(this.column, v);
      for (const x of v) {
        if (typeof x !== 'number' && typeof x !== 'bigint') throw typeError(this.column, v);
        this.#child.push(x);
      }
      n = v.length;
    }
    this.#offsets.push(this.#child.length);
    return 4 + n * 8;
  }

  finish(rows: number): ColumnChunk {
    return this.chunk(rows, this.#child.done(), this.#offsets.done(), null, this.#child.length);
  }
}

class ListTextBuilder extends Base {
  readonly #offsets: I32;
  readonly #childOffsets: I32;
  readonly #bytes: Bytes;

  constructor(column: Column, capacity: number, byteCapacity: number) {
    super(column, capacity);
    this.#offsets = new I32(capacity + 1);
    this.#offsets.push(0);
    this.#childOffsets = new I32(capacity * 2 + 1);
    this.#childOffsets.push(0);
    this.#bytes = new Bytes(byteCapacity);
  }

  push(row: number, v: Value): number {
    this.validity.set(row);
    const before = this.#bytes.length;
    let n = 0;
    if (v !== null && v !== undefined) {
      if (!Array.isArray(v)) throw typeError(this.column, v);
      for (const x of v) {
        if (typeof x !== 'string') throw typeError(this.column, v);
        this.#bytes.utf8(x);
        this.#childOffsets.push(this.#bytes.length);
      }
      n = v.length;
    }
    this.#offsets.push(this.#childOffsets.length - 1);
    return 4 + n * 4 + (this.#bytes.length - before);
  }

  finish(rows: number): ColumnChunk {
    return this.chunk(rows, this.#bytes.done(), this.#offsets.done(), this.#childOffsets.done(), this.#childOffsets.length - 1);
  }
}

function builderFor(c: Column, rows: number, textBytes: number): ColumnBuilder {
  switch (c.type) {
    case 'int64':
    case 'timestamp':
      return new Int64Builder(c, rows);
    case 'double':
      return new DoubleBuilder(c, rows);
    case 'date':
      return new DateBuilder(c, rows);
    case 'boolean':
      return new BoolBuilder(c, rows);
    case 'text':
    case 'json':
      return new TextBuilder(c, rows, textBytes);
    case 'list<int64>':
      return new ListInt64Builder(c, rows);
    case 'list<text>':
      return new ListTextBuilder(c, rows, textBytes);
  }
}

// ------------------------------------------------------------------ batches

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
