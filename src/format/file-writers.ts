import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';
import type { ParquetWriter } from 'parquetjs-lite';
import { createRequire } from 'node:module';
import { ErrorCodes, ZendeskEtlError, fsReason, invalidOption } from '../core/errors.js';
import type { TicketRow } from '../flatten/flatten.js';
import { toJsonText } from '../flatten/json-line.js';
import { EXTRA_COLUMN, type Column, type ColumnType } from '../schema/ticket-schema.js';
import type { PendingFile } from '../storage/storage.js';
import { NdjsonEncoder } from './ndjson-encoder.js';
import { OPTION_DEFAULTS, ROW_GROUP_ROWS } from '../options/table.js';

export type ParquetCodec = 'SNAPPY' | 'GZIP' | 'UNCOMPRESSED';

/** The Parquet codec of a `compression` option (`snappy`, `gzip`, `none`). */
export function parquetCodec(c: 'snappy' | 'gzip' | 'none' | undefined): ParquetCodec {
  if (c === undefined || c === 'snappy') return 'SNAPPY';
  if (c === 'gzip') return 'GZIP';
  if (c === 'none') return 'UNCOMPRESSED';
  throw invalidOption('compression', '"snappy", "gzip" or "none"', c);
}

/** The codec of the `compression` option's default. */
export const DEFAULT_CODEC: ParquetCodec = parquetCodec(OPTION_DEFAULTS.compression);

/**
 * File formats, knowing nothing about tables, partitions or commits: encode rows into a pending
 * file (its byte stream, or a local path for engines that write files themselves). `close()` ends
 * the encoding; the table then makes the file durable and visible.
 */
export interface RowFileWriter {
  write(row: TicketRow): Promise<void>;
  /** Finish encoding and end the file's stream (durability is the pending file's `finish()`). */
  close(): Promise<void>;
  /** Stop encoding; the pending file is dropped by its owner. */
  abort(): Promise<void>;
  readonly rows: number;
  /** Bytes written so far (uncompressed for NDJSON+gzip; encoded bytes for Parquet, once flushed). */
  readonly bytes: number;
}

export interface RowFormat {
  readonly name: string;
  /** `parquet`, `ndjson` or `ndjson.gz`. */
  readonly extension: string;
  open(file: PendingFile, columns: readonly Column[]): Promise<RowFileWriter>;
}

/** A coded SINK_WRITE error for a failed write, naming the file and the reason (full disk, read-only). */
export function writeError(path: string, err: unknown): ZendeskEtlError {
  if (err instanceof ZendeskEtlError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot write ${path}: ${fsReason(err)} (${code ?? 'error'}); nothing from this part was committed, and the next run redoes it`, { path }, { cause: err });
}

// ------------------------------------------------------------------ NDJSON

export class NdjsonFormat implements RowFormat {
  readonly name = 'ndjson';
  readonly extension: string;
  readonly #gzip: boolean;

  constructor(opts: { gzip?: boolean } = {}) {
    this.#gzip = opts.gzip ?? false;
    this.extension = this.#gzip ? 'ndjson.gz' : 'ndjson';
  }

  async open(file: PendingFile): Promise<RowFileWriter> {
    return new NdjsonWriter(file.stream(), () => file.check(), file.where, this.#gzip);
  }
}

/** NDJSON into a byte stream, in 1 MiB writes, with backpressure. */
export class NdjsonWriter implements RowFileWriter {
  readonly #check: () => void;
  readonly #where: string;
  readonly #gzip: Gzip | undefined;
  readonly #out: Writable;
  readonly #file: Writable;
  readonly #encoder = new NdjsonEncoder(1 << 20);
  #rows = 0;
  #bytes = 0;

  constructor(out: Writable, check: () => void, where: string, gzip: boolean) {
    this.#check = check;
    this.#where = where;
    this.#file = out;
    this.#gzip = gzip ? createGzip({ level: 6 }) : undefined;
    // Errors on either side are recorded by the file and surface at the next write or close.
    if (this.#gzip) pipeline(this.#gzip, out).catch(() => undefined);
    this.#out = this.#gzip ?? out;
  }

  get rows(): number {
    return this.#rows;
  }

  get bytes(): number {
    return this.#bytes;
  }

  async write(row: TicketRow): Promise<void> {
    this.#encoder.row(row);
    this.#rows++;
    for (let data = this.#encoder.take(); data !== undefined; data = this.#encoder.take()) await this.#send(data);
  }

  async #flush(): Promise<void> {
    for (let data = this.#encoder.take(true); data !== undefined; data = this.#encoder.take(true)) await this.#send(data);
  }

  async #send(data: Buffer): Promise<void> {
    this.#bytes += data.length;
    this.#check();
    if (!this.#out.write(data)) await waitDrain(this.#out, this.#file, this.#where);
    this.#check();
  }

  async close(): Promise<void> {
    try {
      await this.#flush();
    } catch (err) {
      throw writeError(this.#where, err);
    }
    this.#out.end();
    if (this.#gzip && !this.#file.writableFinished) await once(this.#file, 'finish').catch(() => undefined);
  }

  async abort(): Promise<void> {
    this.#gzip?.destroy();
  }
}

function waitDrain(out: Writable, file: Writable, where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      out.removeListener('drain', done);
      file.removeListener('error', fail);
      resolve();
    };
    const fail = (err: Error): void => {
      out.removeListener('drain', done);
      reject(writeError(where, err));
    };
    out.once('drain', done);
    file.once('error', fail);
  });
}

// ------------------------------------------------------------------ Parquet

/**
 * parquetjs-lite turns every INT64 value into a number with parseInt, which rounds values beyond
 * 2^53 silently; its encoder itself writes a BigInt exactly. Let bigints through, once per process
 * (numbers take the same path as before).
 */
let bigintsPatched = false;
function letBigintsThrough(): void {
  if (bigintsPatched) return;
  bigintsPatched = true;
  const types = createRequire(import.meta.url)('parquetjs-lite/lib/types.js') as { PARQUET_LOGICAL_TYPES: Record<string, { toPrimitive: (v: unknown) => unknown }> };
  const int64 = types.PARQUET_LOGICAL_TYPES.INT64;
  if (!int64) return;
  const toPrimitive = int64.toPrimitive;
  int64.toPrimitive = (v: unknown): unknown => (typeof v === 'bigint' ? v : toPrimitive(v));
}

/** Columns that hold most of a ticket's bytes. */
const BIG_TEXT = new Set(['description', 'raw_subject', 'subject']);

/**
 * parquetjs-lite concatenates each finished column chunk onto the row group's buffer, so every chunk
 * after a big one copies it again: with `description` last, a row group is written ~1.7x faster.
 */
export function bigTextLast(columns: readonly Column[]): Column[] {
  return [...columns.filter((c) => !BIG_TEXT.has(c.name)), ...columns.filter((c) => BIG_TEXT.has(c.name))];
}

export interface ParquetOptions {
  /** Rows per row group. Default 4096 (parquetjs-lite's encoder slows down quadratically with larger ones). */
  rowGroupSize?: number;
  /** Default SNAPPY. */
  compression?: 'SNAPPY' | 'GZIP' | 'UNCOMPRESSED';
}

/** A Parquet field as parquetjs-lite takes it (declared here, so this package's types stand alone). */
export interface ParquetFieldSpec {
  type: string;
  optional?: boolean;
  repeated?: boolean;
  compression?: 'UNCOMPRESSED' | 'GZIP' | 'SNAPPY';
}

const PARQUET_TYPES: Record<ColumnType, ParquetFieldSpec> = {
  int64: { type: 'INT64' },
  double: { type: 'DOUBLE' },
  boolean: { type: 'BOOLEAN' },
  text: { type: 'UTF8' },
  json: { type: 'UTF8' },
  timestamp: { type: 'TIMESTAMP_MILLIS' },
  date: { type: 'DATE' },
  'list<int64>': { type: 'INT64', repeated: true },
  'list<text>': { type: 'UTF8', repeated: true },
};

/** The Parquet schema for a set of columns, plus `_extra` for keys the schema does not know. */
export function parquetSchemaFields(columns: readonly Column[], compression: ParquetOptions['compression'] = 'SNAPPY'): Record<string, ParquetFieldSpec> {
  const fields: Record<string, ParquetFieldSpec> = {};
  for (const c of [...columns, EXTRA_COLUMN]) {
    const def = PARQUET_TYPES[c.type];
    fields[c.name] = { ...def, compression, ...(def.repeated ? {} : { optional: c.required !== true }) };
  }
  return fields;
}

export class ParquetFormat implements RowFormat {
  readonly name = 'parquet';
  readonly extension = 'parquet';
  readonly #opts: ParquetOptions;

  constructor(opts: ParquetOptions = {}) {
    this.#opts = opts;
  }

  async open(file: PendingFile, columns: readonly Column[]): Promise<RowFileWriter> {
    // Loaded only when a file is written with it (an NDJSON run never pays for it).
    const parquet = (await import('parquetjs-lite')).default;
    letBigintsThrough();
    const ordered = bigTextLast(columns);
    const schema = new parquet.ParquetSchema(parquetSchemaFields(ordered, this.#opts.compression));
    // pageIndex: false, since parquetjs-lite's offset index counts values, not rows, for list
    // columns, and readers that trust it (ClickHouse, so chDB's Delta reader) refuse the file.
    const stream = file.stream();
    const writer = await parquet.ParquetWriter.openStream(schema, stream, { rowGroupSize: this.#opts.rowGroupSize ?? ROW_GROUP_ROWS.parquetjs, useDataPageV2: false, pageIndex: false });
    return new ParquetRowWriter(file, stream, writer, ordered);
  }
}

class ParquetRowWriter implements RowFileWriter {
  readonly #file: PendingFile;
  readonly #stream: Writable;
  readonly #writer: ParquetWriter;
  readonly #columns: readonly Column[];
  readonly #known: Set<string>;
  #rows = 0;

  constructor(file: PendingFile, stream: Writable, writer: ParquetWriter, columns: readonly Column[]) {
    this.#file = file;
    this.#stream = stream;
    this.#writer = writer;
    this.#columns = columns;
    this.#known = new Set(columns.map((c) => c.name));
  }

  get rows(): number {
    return this.#rows;
  }

  get bytes(): number {
    return this.#file.bytes;
  }

  async write(row: TicketRow): Promise<void> {
    this.#file.check();
    await this.#writer.appendRow(toParquetRow(row, this.#columns, this.#known)).catch((err: unknown) => {
      throw writeError(this.#file.where, err instanceof Error ? err : new Error(String(err)));
    });
    this.#rows++;
  }

  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch (err) {
      throw writeError(this.#file.where, err instanceof Error ? err : new Error(String(err)));
    }
  }

  async abort(): Promise<void> {
    this.#stream.destroy();
  }
}

/** Map a flattened row onto a Parquet schema; keys the schema lacks go to `_extra` as JSON. */
export function toParquetRow(row: TicketRow, columns: readonly Column[], known: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of columns) {
    const v = row[c.name];
    if (v === null || v === undefined) continue;
    switch (c.type) {
      case 'timestamp':
        out[c.name] = new Date(v as string);
        break;
      case 'date':
        out[c.name] = new Date(`${v as string}T00:00:00Z`);
        break;
      default:
        out[c.name] = v;
    }
  }
  let extra: TicketRow | undefined;
  for (const key in row) {
    if (!known.has(key)) (extra ??= {})[key] = row[key]!;
  }
  if (extra) out._extra = toJsonText(extra);
  return out;
}
