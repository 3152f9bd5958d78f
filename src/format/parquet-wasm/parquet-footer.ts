/**
 * The footer of a Parquet file we wrote, read from the bytes we emitted: the row count and the number
 * of row groups it declares. A writer that drops a batch silently (parquet-wasm 0.8's stream writer
 * ignores write errors) is caught by comparing this count with the rows handed to it.
 *
 * A Parquet file ends with its FileMetaData (Thrift compact protocol), the metadata's length (4 bytes,
 * little-endian) and `PAR1`. FileMetaData's fields: 1 version (i32), 2 schema (list), 3 num_rows (i64),
 * 4 row_groups (list), ... Only fields 1-4 are read; everything else is skipped by type.
 */

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // PAR1

export interface FooterSummary {
  rows: number;
  rowGroups: number;
}

/** Keeps the last bytes of a stream (the footer), copying at most `cap` bytes a chunk. */
export class StreamTail {
  readonly #cap: number;
  #tail = new Uint8Array(0);
  total = 0;

  constructor(cap = 4 * 1024 * 1024) {
    this.#cap = cap;
  }

  push(chunk: Uint8Array): void {
    this.total += chunk.byteLength;
    if (chunk.byteLength >= this.#cap) {
      this.#tail = chunk.slice(chunk.byteLength - this.#cap);
      return;
    }
    const keep = Math.min(this.#tail.byteLength, this.#cap - chunk.byteLength);
    const next = new Uint8Array(keep + chunk.byteLength);
    next.set(this.#tail.subarray(this.#tail.byteLength - keep));
    next.set(chunk, keep);
    this.#tail = next;
  }

  get bytes(): Uint8Array {
    return this.#tail;
  }
}

/** Reads the footer at the end of `tail` (the last bytes of a Parquet file). Throws when it is not one. */
export function readFooter(tail: Uint8Array): FooterSummary {
  const n = tail.byteLength;
  if (n < 12 || MAGIC.some((b, i) => tail[n - 4 + i] !== b)) throw new Error('the file does not end with a Parquet footer (PAR1)');
  const len = new DataView(tail.buffer, tail.byteOffset + n - 8, 4).getUint32(0, true);
  if (len + 8 > n) throw new Error(`the Parquet footer (${len} bytes) is longer than the bytes kept to check it (${n - 8})`);
  const r = new CompactReader(tail.subarray(n - 8 - len, n - 8));
  let rows: number | undefined;
  let rowGroups: number | undefined;
  let id = 0;
  for (;;) {
    const h = r.byte();
    if (h === 0) break;
    const type = h & 0x0f;
    const delta = h >> 4;
    id = delta === 0 ? r.zigzag() : id + delta;
    if (id === 3 && type === T_I64) rows = r.zigzag();
    else if (id === 4 && type === T_LIST) {
      rowGroups = r.listHeader().size;
      break; // everything needed is read
    } else r.skip(type);
  }
  if (rows === undefined || rowGroups === undefined) throw new Error('the Parquet footer has no num_rows or no row_groups');
  return { rows, rowGroups };
}

const T_TRUE = 1;
const T_FALSE = 2;
const T_BYTE = 3;
const T_I16 = 4;
const T_I32 = 5;
const T_I64 = 6;
const T_DOUBLE = 7;
const T_BINARY = 8;
const T_LIST = 9;
const T_SET = 10;
const T_MAP = 11;
const T_STRUCT = 12;
const T_UUID = 13;

/** Just enough of Thrift's compact protocol to walk a struct. */
class CompactReader {
  readonly #b: Uint8Array;
  #at = 0;

  constructor(b: Uint8Array) {
    this.#b = b;
  }

  byte(): number {
    if (this.#at >= this.#b.byteLength) throw new Error('the Parquet footer ends early');
    return this.#b[this.#at++]!;
  }

  varint(): bigint {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
    throw new Error('a malformed varint in the Parquet footer');
  }

  zigzag(): number {
    const u = this.varint();
    const v = (u >> 1n) ^ -(u & 1n);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new Error(`a number beyond 2^53 in the Parquet footer: ${v}`);
    return n;
  }

  listHeader(): { size: number; type: number } {
    const h = this.byte();
    const size = h >> 4 === 15 ? Number(this.varint()) : h >> 4;
    return { size, type: h & 0x0f };
  }

  #advance(n: number): void {
    if (n < 0 || this.#at + n > this.#b.byteLength) throw new Error('the Parquet footer ends early');
    this.#at += n;
  }

  /** Skip a value of `type` (in a struct field; booleans there carry no byte). */
  skip(type: number): void {
    switch (type) {
      case T_TRUE:
      case T_FALSE:
        return;
      default:
        this.#element(type);
    }
  }

  /** Skip one element of a collection (booleans there are one byte). */
  #element(type: number): void {
    switch (type) {
      case T_TRUE:
      case T_FALSE:
      case T_BYTE:
        this.#advance(1);
        return;
      case T_I16:
      case T_I32:
      case T_I64:
        this.varint();
        return;
      case T_DOUBLE:
        this.#advance(8);
        return;
      case T_UUID:
        this.#advance(16);
        return;
      case T_BINARY:
        this.#advance(Number(this.varint()));
        return;
      case T_LIST:
      case T_SET: {
        const { size, type: t } = this.listHeader();
        for (let i = 0; i < size; i++) this.#element(t);
        return;
      }
      case T_MAP: {
        const size = Number(this.varint());
        if (size === 0) return;
        const kv = this.byte();
        for (let i = 0; i < size; i++) {
          this.#element(kv >> 4);
          this.#element(kv & 0x0f);
        }
        return;
      }
      case T_STRUCT:
        for (;;) {
          const h = this.byte();
          if (h === 0) return;
          if (h >> 4 === 0) this.zigzag();
          this.skip(h & 0x0f);
        }
      default:
        throw new Error(`an unknown Thrift type ${type} in the Parquet footer`);
    }
  }
}
