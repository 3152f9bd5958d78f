import { invalidOption } from '../core/errors.js';
import { DuckDbParquetFormat } from './duckdb-parquet.js';
import { NdjsonFormat, ParquetFormat, parquetCodec as codec, type RowFormat } from './file-writers.js';
import { WasmParquetFormat } from './parquet-wasm/wasm-parquet.js';

/** How data files are encoded (free to change from run to run). */
export interface TableWriterOptions {
  /**
   * Which library writes Parquet: 'wasm' (default: arrow-rs in WebAssembly, on a thread of its own),
   * 'parquetjs' (pure JS, the last resort) or 'duckdb' (optional @duckdb/node-api).
   */
  parquetEngine?: 'wasm' | 'parquetjs' | 'duckdb';
  compression?: 'snappy' | 'gzip' | 'none';
  rowGroupSize?: number;
  /** A file format of your own; overrides the table's format for encoding. */
  rowFormat?: RowFormat;
}

/** What of a table's pinned settings decides its files' format. */
export interface FileSettings {
  format: 'parquet' | 'ndjson';
  /** NDJSON files gzipped. */
  gzip: boolean;
}

/**
 * The format a table's new files are written in: the caller's own `rowFormat`, else NDJSON or Parquet
 * as the table pinned, Parquet written by the engine asked for (WebAssembly by default). Writer
 * options given mean the table is about to be written: the WebAssembly encoding thread starts now.
 */
export function formatFor(settings: FileSettings, writer: TableWriterOptions | undefined): RowFormat {
  const w = writer ?? {};
  if (w.parquetEngine !== undefined && w.parquetEngine !== 'wasm' && w.parquetEngine !== 'parquetjs' && w.parquetEngine !== 'duckdb') throw invalidOption('parquetEngine', '"wasm", "parquetjs" or "duckdb"', w.parquetEngine);
  const format =
    w.rowFormat ??
    (settings.format === 'ndjson'
      ? new NdjsonFormat({ gzip: settings.gzip })
      : w.parquetEngine === 'duckdb'
        ? new DuckDbParquetFormat({ rowGroupSize: w.rowGroupSize, compression: codec(w.compression) })
        : w.parquetEngine === 'parquetjs'
          ? new ParquetFormat({ rowGroupSize: w.rowGroupSize, compression: codec(w.compression) })
          : new WasmParquetFormat({ rowGroupSize: w.rowGroupSize, compression: codec(w.compression), prestart: writer !== undefined }));
  codec(w.compression);
  return format;
}
