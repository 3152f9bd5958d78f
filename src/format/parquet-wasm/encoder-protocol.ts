import type { Column } from '../../schema/ticket-schema.js';
import type { ColumnBatch } from './columnar/batch.js';

/**
 * The messages between a Parquet file's writer (main thread) and its encoder (the encoding thread, or
 * the main thread itself where threads are not available). Types only: importing this module loads
 * neither parquet-wasm nor apache-arrow.
 *
 * Per file: `open`, then `batch`es (each answered by `taken` once the encoder has it, so the writer
 * keeps a bounded number in flight), then `close` (answered by `closed` with what the footer says).
 * The encoder sends the file's bytes back as `chunk`s (their buffers transferred); the writer answers
 * each with `written` once it is in the file's stream, and the encoder stops emitting while too many
 * bytes are unacknowledged. `abort` drops the file at once.
 */

export type ParquetCompression = 'SNAPPY' | 'GZIP' | 'ZSTD' | 'UNCOMPRESSED';

/** Faults an encoder can be told to fake, for tests: after `afterBatches` batches it ... */
export interface EncoderFault {
  /** exit: the thread dies; trap: a WebAssembly trap; hang: stops answering; drop: loses a batch silently; throw: an ordinary error. */
  kind: 'exit' | 'trap' | 'hang' | 'drop' | 'throw';
  afterBatches: number;
}

export interface EncoderFileOptions {
  /** For messages: where the file is being written. */
  where: string;
  columns: Column[];
  compression: ParquetCompression;
  /** A row group closes at this many rows... */
  maxRowGroupRows: number;
  /** ...or once its buffered, encoded bytes reach this. */
  maxRowGroupBytes: number;
  /** Bytes the encoder may emit ahead of the writer's `written` (it always may emit one chunk). */
  maxUnackedBytes: number;
  fault?: EncoderFault | undefined;
}

export type ToEncoder =
  | { type: 'open'; file: number; options: EncoderFileOptions }
  | { type: 'batch'; file: number; batch: ColumnBatch }
  | { type: 'written'; file: number; bytes: number }
  | { type: 'close'; file: number }
  | { type: 'abort'; file: number };

export type FromEncoder =
  | { type: 'ready'; wasmMemory: number }
  | { type: 'opened'; file: number }
  | { type: 'taken'; file: number }
  | { type: 'chunk'; file: number; data: Uint8Array }
  | { type: 'closed'; file: number; rows: number; rowGroups: number; bytes: number; wasmMemory: number }
  | { type: 'error'; file: number; message: string; fatal: boolean };
