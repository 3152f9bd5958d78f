import { Writable } from 'node:stream';
import { isCheckpoint, isSideload, type Checkpoint, type Item } from '../core/checkpoint.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { TicketRow } from '../flatten/flatten.js';
import { ExportStats } from '../core/stats.js';
import { OBJECT_HIGH_WATER_MARK } from '../core/flow.js';
import { NdjsonEncoder } from '../format/ndjson-encoder.js';

/**
 * NDJSON to any byte stream (stdout for `--out -`): one JSON object per line, with backpressure.
 * A byte stream cannot take part in an atomic commit, so this sink is at-least-once: it emits
 * 'commit' for a checkpoint once every line before it was handed to the stream and flushed.
 */
export class NdjsonStreamSink extends Writable {
  readonly #out: NodeJS.WritableStream;
  readonly #stats: ExportStats;
  readonly #encoder = new NdjsonEncoder(256 * 1024);

  constructor(out: NodeJS.WritableStream, stats?: ExportStats) {
    super({ objectMode: true, highWaterMark: OBJECT_HIGH_WATER_MARK });
    this.#out = out;
    this.#stats = stats ?? new ExportStats();
    // A reader that goes away (`| head`) must end the run with a clear error, not crash the process.
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EPIPE') {
        // The reader's choice (`| head`): stop where we are; nothing after the last flushed checkpoint counts as done.
        this.destroy(new ZendeskEtlError(ErrorCodes.OUTPUT_CLOSED, 'the reader closed the output (EPIPE); stopped there', {}, { cause: err }));
        return;
      }
      this.destroy(new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot write NDJSON to the output stream: ${err.message} (${err.code ?? 'error'}); nothing after the last flushed checkpoint was saved as done`, {}, { cause: err }));
    };
    out.on('error', onError);
    this.once('close', () => out.removeListener('error', onError));
  }

  override _write(item: Item<TicketRow>, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (isSideload(item)) return callback();
    if (isCheckpoint(item)) {
      this.#flush().then(() => {
        this.#stats.checkpointsCommitted++;
        this.emit('commit', item satisfies Checkpoint);
        callback();
      }, callback);
      return;
    }
    this.#encoder.row(item);
    this.#stats.rowsWritten++;
    if (this.#encoder.ready) this.#flush(false).then(() => callback(), callback);
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#flush().then(() => callback(), callback);
  }

  /** Write the full buffers, and with `all` the partial one too; resolves once the stream takes more. */
  #flush(all = true): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => reject(new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot write NDJSON to the output stream: ${err.message}`, {}, { cause: err }));
      try {
        let more = true;
        for (let data = this.#encoder.take(all); data !== undefined; data = this.#encoder.take(all)) more = this.#out.write(data);
        if (more) resolve();
        else this.#out.once('drain', resolve);
      } catch (err) {
        fail(err as Error);
      }
    });
  }
}
