import * as pw from 'parquet-wasm';
import type { Schema } from 'apache-arrow';
import type { Column } from '../../schema/ticket-schema.js';
import { arrowSchema, emptyIpcStream, toIpcStream, toRecordBatch } from './arrow-batch.js';
import type { ColumnBatch } from './columnar/batch.js';
import { StreamTail, readFooter, type FooterSummary } from './parquet-footer.js';

/**
 * One Parquet file encoded by parquet-wasm (arrow-rs compiled to WebAssembly), row group by row group.
 * It runs on the encoding thread, or on the main thread where threads are not available.
 *
 * parquet-wasm 0.8 streams through `transformParquetStream(ReadableStream<RecordBatch>)`: arrow-rs's
 * async writer pulls batches as it encodes and emits the file's bytes as row groups complete. Each
 * batch is fed one at a time (`write` resolves once the writer has taken it), and each output chunk
 * goes to `emit`, which resolves when the chunk may be followed by another: backpressure runs from the
 * file's stream back to the rows.
 *
 * Guards, since the stream writer ignores write errors (`let _ = writer.write(&batch)`) and a batch
 * that traps inside the stream would leave it open forever:
 *  - each batch is turned into WebAssembly memory in `write` (a malformed batch fails there);
 *  - `close` reads the footer from the bytes emitted and returns its row count, to be compared with
 *    the rows written.
 */

export type WasmCompression = 'SNAPPY' | 'GZIP' | 'ZSTD' | 'UNCOMPRESSED';

export interface WasmEncoderOptions {
  columns: Column[];
  compression: WasmCompression;
  /** A row group closes at this many rows... */
  maxRowGroupRows: number;
  /** ...or once its buffered, encoded bytes reach this (arrow-rs checks it between batches). */
  maxRowGroupBytes: number;
}

/** Long free text: no dictionary (built, then abandoned) and no min/max statistics (never used to prune). */
const PLAIN_COLUMNS = ['description', 'subject', 'raw_subject', '_extra', '_rejects'];

function properties(o: WasmEncoderOptions): pw.WriterProperties {
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression[o.compression])
    .setMaxRowGroupSize(o.maxRowGroupRows)
    .setMaxRowGroupBytes(o.maxRowGroupBytes)
    .setStatisticsEnabled(pw.EnabledStatistics.Chunk)
    .setDictionaryEnabled(true)
    .setCreatedBy('zendesk-stream-etl (parquet-wasm)');
  const names = new Set(o.columns.map((c) => c.name));
  for (const c of PLAIN_COLUMNS) if (names.has(c)) b = b.setColumnDictionaryEnabled(c, false).setColumnStatisticsEnabled(c, pw.EnabledStatistics.None);
  return b.build();
}

function toWasmBatch(ipc: Uint8Array): pw.RecordBatch {
  const table = pw.Table.fromIPCStream(ipc);
  try {
    const batch = table.recordBatch(0);
    if (!batch) throw new Error('an Arrow IPC stream without a record batch');
    return batch;
  } finally {
    table.free();
  }
}

/** Bytes of WebAssembly memory parquet-wasm holds (it never shrinks). */
export function wasmMemoryBytes(): number {
  return pw.wasmMemory().buffer.byteLength;
}

export class WasmFileEncoder {
  readonly #schema: Schema;
  readonly #emit: (chunk: Uint8Array) => Promise<void>;
  readonly #queue: pw.RecordBatch[] = [];
  /** Settles the `write` whose batch the writer has just taken (or fails them all, when the stream fails). */
  readonly #taken: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  readonly #tail = new StreamTail();
  #wake: (() => void) | undefined;
  #ending = false;
  #aborted = false;
  #rows = 0;
  #pump: Promise<void> = Promise.resolve();
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #failed: unknown;

  private constructor(schema: Schema, emit: (chunk: Uint8Array) => Promise<void>) {
    this.#schema = schema;
    this.#emit = emit;
  }

  static async open(opts: WasmEncoderOptions, emit: (chunk: Uint8Array) => Promise<void>): Promise<WasmFileEncoder> {
    const schema = arrowSchema(opts.columns);
    const enc = new WasmFileEncoder(schema, emit);
    // The schema comes from the first batch: an empty one, so a file of no rows is still valid.
    enc.#queue.push(toWasmBatch(emptyIpcStream(schema, opts.columns)));
    enc.#taken.push({ resolve: () => undefined, reject: () => undefined });
    const source = new ReadableStream<pw.RecordBatch>(
      {
        pull: async (controller) => {
          while (enc.#queue.length === 0 && !enc.#ending) await new Promise<void>((resolve) => (enc.#wake = resolve));
          const batch = enc.#aborted ? undefined : enc.#queue.shift();
          if (batch === undefined) {
            controller.close();
            return;
          }
          enc.#taken.shift()?.resolve();
          controller.enqueue(batch);
        },
      },
      { highWaterMark: 0 },
    );
    const out = (await pw.transformParquetStream(source, properties(opts))) as ReadableStream<Uint8Array>;
    enc.#reader = out.getReader();
    enc.#pump = enc.#drain(enc.#reader);
    enc.#pump.catch(() => undefined); // not unhandled: write() and close() report it
    return enc;
  }

  async #drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.#aborted) return;
        this.#tail.push(value);
        await this.#emit(value);
      }
    } catch (err) {
      this.#failed ??= err;
      for (const t of this.#taken.splice(0)) t.reject(err);
      throw err;
    } finally {
      // A stream that ends (or fails) before taking every batch leaves no `write` waiting.
      const left = this.#taken.splice(0);
      if (left.length > 0 && !this.#aborted) {
        const err = this.#failed ?? new Error('the Parquet stream ended before it took every batch');
        for (const t of left) t.reject(err);
      }
    }
  }

  /**
   * Queue one batch; resolves when the encoder has taken it. The batch is read into WebAssembly memory
   * here, so a malformed one fails this call instead of the stream.
   */
  write(batch: ColumnBatch): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    let wasmBatch: pw.RecordBatch;
    try {
      wasmBatch = toWasmBatch(toIpcStream(toRecordBatch(this.#schema, batch)));
    } catch (err) {
      this.#failed = err;
      return Promise.reject(err);
    }
    this.#rows += batch.rows;
    return new Promise<void>((resolve, reject) => {
      this.#queue.push(wasmBatch);
      this.#taken.push({ resolve, reject });
      this.#wake?.();
      this.#wake = undefined;
    });
  }

  /** Drop a batch without encoding it: the failure parquet-wasm's stream writer hides (tests only). */
  dropForTest(batch: ColumnBatch): void {
    this.#rows += batch.rows;
  }

  /** Rows handed to the encoder. */
  get rows(): number {
    return this.#rows;
  }

  /** Finish the file: the last row group and the footer are emitted; returns what the footer says. */
  async close(): Promise<FooterSummary & { bytes: number }> {
    if (this.#failed !== undefined) throw this.#failed;
    this.#ending = true;
    this.#wake?.();
    await this.#pump;
    const footer = readFooter(this.#tail.bytes);
    return { ...footer, bytes: this.#tail.total };
  }

  abort(): void {
    this.#aborted = true;
    this.#ending = true;
    for (const b of this.#queue) b.free();
    this.#queue.length = 0;
    for (const t of this.#taken.splice(0)) t.resolve();
    this.#wake?.();
    this.#reader?.cancel().catch(() => undefined);
  }
}
