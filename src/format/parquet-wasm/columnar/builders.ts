import type { RowValue } from '../../../flatten/flatten.js';
import { type Column } from '../../../schema/ticket-schema.js';
import type { ColumnChunk } from './batch.js';
import { dateDays, timestampMs } from './values.js';
import { Bits, Bytes, I32, I64 } from './buffers.js';

/** One builder per column type: each checks a value against its column and appends it in Arrow's layout. */

type Value = RowValue | undefined;

export interface ColumnBuilder {
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

export function builderFor(c: Column, rows: number, textBytes: number): ColumnBuilder {
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
