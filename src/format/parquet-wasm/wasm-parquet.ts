import type { Writable } from 'node:stream';
import { ErrorCodes, ZendeskEtlError } from '../../core/errors.js';
import type { TicketRow } from '../../flatten/flatten.js';
import type { Column } from '../../schema/ticket-schema.js';
import type { PendingFile } from '../../storage/storage.js';
import { ColumnBatchBuilder, batchMemory, transferList } from './columnar/batch.js';
import { EncoderPool, type EncoderClient, type EncoderLink, type EncoderThreads } from './encoder-pool.js';
import type { EncoderFault, FromEncoder, ParquetCompression } from './encoder-protocol.js';
import { DEFAULT_CODEC, writeError, type RowFileWriter, type RowFormat } from '../file-writers.js';
import { ROW_GROUP_ROWS } from '../../options/table.js';

/**
 * The default Parquet engine: arrow-rs compiled to WebAssembly (parquet-wasm), encoding on a thread of
 * its own while the main thread parses and flattens. The main thread only cuts rows into Arrow-layout
 * column buffers (columnar.ts) and posts them, transferred; the encoding thread (encoder-service.ts)
 * makes Arrow IPC, encodes, and sends the file's bytes back, which the main thread writes into the
 * pending file's stream (so object storage uploads while the file is written).
 *
 * Memory is bounded by bytes at every step, whatever the ticket size: batches (`batchBytes`), batches
 * in flight per file (`queue`) and for all files (the pool's budget), row groups (`rowGroupBytes`,
 * counted by arrow-rs as encoded bytes), and the file's bytes not yet in its stream
 * (`maxUnackedBytes`).
 *
 * Every failure ends as a ZendeskEtlError (SINK_WRITE) naming the file: a value that does not fit its
 * column, an encoder error, the encoding thread dying (a WebAssembly trap) or making no progress for
 * `stallTimeoutMs`, and a footer whose row count is not the rows written (parquet-wasm 0.8's stream
 * writer ignores write errors, so the footer is checked).
 */

export interface WasmParquetOptions {
  /** Default SNAPPY. */
  compression?: ParquetCompression | undefined;
  /** Rows per row group at most. Default 100,000. */
  rowGroupSize?: number | undefined;
  /** Encoded bytes of a row group at most (arrow-rs's bound). Default 16 MiB. */
  rowGroupBytes?: number | undefined;
  /** Bytes of column buffers a batch posted to the encoder holds. Default 4 MiB. */
  batchBytes?: number | undefined;
  /** Batches of a file in flight to the encoder. Default 2. */
  queue?: number | undefined;
  /** Bytes of a file the encoder may send ahead of their being written into the file's stream. Default 8 MiB. */
  maxUnackedBytes?: number | undefined;
  /** Where to encode: a thread ('worker'), the main thread ('inline'), or a thread when one can be used ('auto', the default). */
  threads?: EncoderThreads | undefined;
  /** Fail a file whose encoder owes an answer and gives none for this long. Default 120 s. */
  stallTimeoutMs?: number | undefined;
  /** Start the encoding thread when the format is made, not when its first file opens (for a table about to be written). */
  prestart?: boolean | undefined;
  /** Tests only: a fault for the encoder to fake. */
  fault?: EncoderFault | undefined;
  /** Default: the process's pool. */
  pool?: EncoderPool | undefined;
}

const MIB = 1024 * 1024;

export class WasmParquetFormat implements RowFormat {
  readonly name = 'parquet';
  readonly extension = 'parquet';
  readonly #opts: WasmParquetOptions;

  constructor(opts: WasmParquetOptions = {}) {
    this.#opts = opts;
    if (opts.prestart) (opts.pool ?? EncoderPool.shared()).prestart(opts.threads);
  }

  open(file: PendingFile, columns: readonly Column[]): Promise<RowFileWriter> {
    return WasmParquetWriter.open(file, columns, this.#opts);
  }
}

/** A SINK_WRITE error naming the file. */
function encodeError(where: string, cause: unknown): ZendeskEtlError {
  if (cause instanceof ZendeskEtlError) return cause;
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot write ${where}: ${why}; nothing from this part was committed, and the next run redoes it`, { path: where }, { cause });
}

type Waiter = { resolve: () => void; reject: (err: Error) => void };
type Closed = Extract<FromEncoder, { type: 'closed' }>;

class WasmParquetWriter implements RowFileWriter, EncoderClient {
  readonly #file: PendingFile;
  readonly #out: Writable;
  readonly #builder: ColumnBatchBuilder;
  readonly #pool: EncoderPool;
  readonly #queue: number;
  readonly #stallMs: number;
  #link: EncoderLink | undefined;
  #rows = 0;
  /** Budget bytes of each batch in flight, oldest first. */
  readonly #inFlight: number[] = [];
  /** The encoder owes an `opened` or a `closed`. */
  #owed = false;
  #pendingWrites = 0;
  #received = 0;
  #written = 0;
  #error: ZendeskEtlError | undefined;
  #done = false;
  #waiter: Waiter | undefined;
  #closed: { resolve: (m: Closed) => void; reject: (err: Error) => void } | undefined;
  #writesDone: (() => void) | undefined;
  #lastProgress = Date.now();
  #watchdog: NodeJS.Timeout | undefined;

  private constructor(file: PendingFile, out: Writable, columns: readonly Column[], opts: WasmParquetOptions) {
    this.#file = file;
    this.#out = out;
    this.#pool = opts.pool ?? EncoderPool.shared();
    this.#queue = Math.max(1, opts.queue ?? 2);
    this.#stallMs = opts.stallTimeoutMs ?? 120_000;
    this.#builder = new ColumnBatchBuilder(columns, { maxRows: Math.min(opts.rowGroupSize ?? ROW_GROUP_ROWS.wasm, 100_000), maxBytes: opts.batchBytes ?? 4 * MIB });
  }

  static async open(file: PendingFile, columns: readonly Column[], opts: WasmParquetOptions): Promise<WasmParquetWriter> {
    const w = new WasmParquetWriter(file, file.stream(), columns, opts);
    try {
      w.#link = await w.#pool.attach(w, opts.threads);
    } catch (err) {
      throw encodeError(file.where, err);
    }
    w.#startWatchdog();
    const opened = w.#wait();
    w.#owe(true);
    w.#link.post({
      type: 'open',
      file: w.#link.file,
      options: {
        where: file.where,
        columns: columns.map((c) => ({ ...c })),
        compression: opts.compression ?? DEFAULT_CODEC,
        maxRowGroupRows: opts.rowGroupSize ?? ROW_GROUP_ROWS.wasm,
        maxRowGroupBytes: opts.rowGroupBytes ?? 16 * MIB,
        maxUnackedBytes: opts.maxUnackedBytes ?? 8 * MIB,
        fault: opts.fault,
      },
    });
    await opened;
    w.#owe(false);
    return w;
  }

  get rows(): number {
    return this.#rows;
  }

  get bytes(): number {
    return this.#file.bytes;
  }

  async write(row: TicketRow): Promise<void> {
    if (this.#error) throw this.#error;
    let full: boolean;
    try {
      full = this.#builder.add(row);
    } catch (err) {
      throw this.#fail(err);
    }
    this.#rows++;
    if (full) await this.#send();
  }

  /** Post the batch built so far; waits while the file has `queue` batches in flight, or the pool has no budget. */
  async #send(): Promise<void> {
    while (this.#inFlight.length >= this.#queue) await this.#wait();
    const batch = this.#builder.finish();
    const bytes = batchMemory(batch);
    const reserved = this.#pool.reserve(bytes);
    if (reserved) await reserved;
    if (this.#error) {
      this.#pool.release(bytes);
      throw this.#error;
    }
    this.#inFlight.push(bytes);
    this.#link!.post({ type: 'batch', file: this.#link!.file, batch }, transferList(batch));
    this.#owe();
  }

  async close(): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#builder.rows > 0) await this.#send();
    const closed = new Promise<Closed>((resolve, reject) => (this.#closed = { resolve, reject }));
    this.#owe(true);
    this.#link!.post({ type: 'close', file: this.#link!.file });
    const r = await closed;
    this.#owe(false);
    if (this.#pendingWrites > 0) await new Promise<void>((resolve) => (this.#writesDone = resolve));
    if (this.#error) throw this.#error;
    if (r.rows !== this.#rows) throw this.#fail(new Error(`the Parquet footer holds ${r.rows} rows, but ${this.#rows} were written (the encoder lost some)`));
    if (r.bytes !== this.#received || this.#written !== this.#received) throw this.#fail(new Error(`the encoder emitted ${r.bytes} bytes, ${this.#received} arrived and ${this.#written} were written`));
    this.#finish();
    this.#out.end();
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#fail(new Error('aborted'));
    this.#out.destroy();
  }

  // ---------------------------------------------------------------- from the encoder

  onMessage(m: FromEncoder): void {
    this.#lastProgress = Date.now();
    switch (m.type) {
      case 'opened':
        this.#wake();
        break;
      case 'taken': {
        const bytes = this.#inFlight.shift();
        if (bytes !== undefined) this.#pool.release(bytes);
        this.#owe();
        this.#wake();
        break;
      }
      case 'chunk':
        this.#writeChunk(m.data);
        break;
      case 'closed': {
        const c = this.#closed;
        this.#closed = undefined;
        c?.resolve(m);
        break;
      }
      case 'error':
        this.#fail(new Error(`the Parquet encoder failed: ${m.message}`));
        break;
      case 'ready':
        break;
    }
  }

  onLost(err: Error): void {
    this.#fail(err);
  }

  /** Write one chunk of the file into its stream; acknowledge it once written (the encoder's credit). */
  #writeChunk(data: Uint8Array): void {
    if (this.#error) return;
    const n = data.byteLength;
    this.#received += n;
    try {
      this.#file.check();
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#pendingWrites++;
    this.#out.write(data, (err) => {
      this.#pendingWrites--;
      this.#lastProgress = Date.now();
      if (err) this.#fail(writeError(this.#file.where, err));
      else {
        this.#written += n;
        if (!this.#error) this.#link?.post({ type: 'written', file: this.#link.file, bytes: n });
      }
      if (this.#pendingWrites === 0) {
        const done = this.#writesDone;
        this.#writesDone = undefined;
        done?.();
      }
    });
  }

  // ---------------------------------------------------------------- waiting, failing

  #wait(): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise<void>((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve();
  }

  /** True while the encoder owes this file an answer. */
  #owes(): boolean {
    return this.#owed || this.#inFlight.length > 0;
  }

  /** Note whether an `opened`/`closed` is owed; the watchdog keeps the process alive only while an answer is. */
  #owe(owed = this.#owed): void {
    this.#owed = owed;
    if (this.#owes()) this.#watchdog?.ref();
    else this.#watchdog?.unref();
  }

  /**
   * Fails the file when the encoder owes an answer and has given none for `stallMs`. Time spent writing
   * into the file's stream (a slow disk, an upload) is not the encoder's and does not count. The timer
   * keeps the process alive only while an answer is owed.
   */
  #startWatchdog(): void {
    const every = Math.max(50, Math.min(5_000, this.#stallMs / 4));
    this.#watchdog = setInterval(() => {
      if (!this.#owes() || this.#pendingWrites > 0) {
        this.#lastProgress = Date.now();
        return;
      }
      if (Date.now() - this.#lastProgress < this.#stallMs) return;
      const err = new Error(`the Parquet encoder gave no answer for ${Math.round(this.#stallMs / 1000)} s (stopped)`);
      this.#link?.kill(err);
      this.#fail(err);
    }, every);
    this.#watchdog.unref();
  }

  #finish(): void {
    this.#done = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    this.#link?.detach();
    for (const bytes of this.#inFlight.splice(0)) this.#pool.release(bytes);
  }

  #fail(cause: unknown): ZendeskEtlError {
    if (this.#error) return this.#error;
    const err = encodeError(this.#file.where, cause);
    this.#error = err;
    // The encoder drops the file (a no-op when the encoder is the one that failed, or is gone).
    if (this.#link && !this.#done) this.#link.post({ type: 'abort', file: this.#link.file });
    this.#finish();
    const w = this.#waiter;
    const c = this.#closed;
    const d = this.#writesDone;
    this.#waiter = undefined;
    this.#closed = undefined;
    this.#writesDone = undefined;
    w?.reject(err);
    c?.reject(err);
    d?.();
    return err;
  }
}
