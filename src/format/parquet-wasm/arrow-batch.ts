import { Bool, DateDay, Field, Float64, Int64, List, RecordBatch, RecordBatchStreamWriter, Schema, Struct, TimestampMillisecond, Utf8, makeData, type Data, type DataType } from 'apache-arrow';
import type { Column, ColumnType } from '../../schema/ticket-schema.js';
import { ColumnBatchBuilder, type ColumnBatch, type ColumnChunk } from './columnar/batch.js';

/**
 * Column batches as Apache Arrow data, and as an Arrow IPC stream (what parquet-wasm reads). The
 * typed arrays of a batch are wrapped, not copied; the IPC writer copies them once.
 *
 * Types: int64 -> Int64, timestamp -> Timestamp(ms, "UTC") (Parquet: TIMESTAMP(MILLIS,
 * isAdjustedToUTC=true), an instant, as Delta's `timestamp` means), date -> Date32 (days), boolean ->
 * Bool, double -> Float64, text/json -> Utf8, list<int64> -> List<Int64>, list<text> -> List<Utf8>,
 * the list's child field named `element` and required (Parquet's LIST convention, as Delta writes it).
 */

function arrowType(t: ColumnType): DataType {
  switch (t) {
    case 'int64':
      return new Int64();
    case 'double':
      return new Float64();
    case 'boolean':
      return new Bool();
    case 'text':
    case 'json':
      return new Utf8();
    case 'timestamp':
      return new TimestampMillisecond('UTC');
    case 'date':
      return new DateDay();
    case 'list<int64>':
      return new List(new Field('element', new Int64(), false));
    case 'list<text>':
      return new List(new Field('element', new Utf8(), false));
  }
}

/** The Arrow schema of a file's columns: nullable but for `required` ones (lists hold no nulls, but stay OPTIONAL as the Delta schema says). */
export function arrowSchema(columns: readonly Column[]): Schema {
  return new Schema(columns.map((c) => new Field(c.name, arrowType(c.type), c.required !== true)));
}

function int64(bytes: Uint8Array): BigInt64Array {
  return new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
}

function columnData(field: Field, c: ColumnChunk, rows: number): Data {
  const base = { length: rows, nullCount: c.nullCount, nullBitmap: c.validity ?? undefined };
  const t = field.type as DataType;
  switch (c.type) {
    case 'int64':
      return makeData({ ...base, type: t as Int64, data: int64(c.values) });
    case 'timestamp':
      return makeData({ ...base, type: t as TimestampMillisecond, data: int64(c.values) });
    case 'double':
      return makeData({ ...base, type: t as Float64, data: new Float64Array(c.values.buffer, c.values.byteOffset, rows) });
    case 'date':
      return makeData({ ...base, type: t as DateDay, data: new Int32Array(c.values.buffer, c.values.byteOffset, rows) });
    case 'boolean':
      return makeData({ ...base, type: t as Bool, data: c.values });
    case 'text':
    case 'json':
      return makeData({ ...base, type: t as Utf8, valueOffsets: c.offsets!, data: c.values });
    case 'list<int64>': {
      const list = t as List<Int64>;
      const child = makeData({ type: list.children[0]!.type, length: c.childLength, nullCount: 0, data: int64(c.values) });
      return makeData({ ...base, type: list, valueOffsets: c.offsets!, child });
    }
    case 'list<text>': {
      const list = t as List<Utf8>;
      const child = makeData({ type: list.children[0]!.type, length: c.childLength, nullCount: 0, valueOffsets: c.childOffsets!, data: c.values });
      return makeData({ ...base, type: list, valueOffsets: c.offsets!, child });
    }
  }
}

/** Wrap a column batch as an Arrow record batch (no copy of the values). */
export function toRecordBatch(schema: Schema, batch: ColumnBatch): RecordBatch {
  if (batch.columns.length !== schema.fields.length) throw new TypeError(`a batch of ${batch.columns.length} columns for a schema of ${schema.fields.length}`);
  const children = batch.columns.map((c, i) => {
    const field = schema.fields[i]!;
    if (field.name !== c.name) throw new TypeError(`column ${i} is ${c.name} in the batch and ${field.name} in the schema`);
    return columnData(field, c, batch.rows);
  });
  const data = makeData({ type: new Struct(schema.fields), length: batch.rows, nullCount: 0, children });
  return new RecordBatch(schema, data);
}

/** One record batch as a complete Arrow IPC stream (schema message, batch, end marker). */
export function toIpcStream(rb: RecordBatch): Uint8Array {
  const writer = new RecordBatchStreamWriter();
  writer.write(rb);
  writer.finish();
  return writer.toUint8Array(true);
}

/** A batch of no rows, as IPC: parquet-wasm's stream writer takes the file's schema from its first batch. */
export function emptyIpcStream(schema: Schema, columns: readonly Column[]): Uint8Array {
  return toIpcStream(toRecordBatch(schema, new ColumnBatchBuilder(columns, { maxRows: 1, maxBytes: 1 }).finish()));
}
