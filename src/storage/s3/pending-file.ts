import { createReadStream, mkdtempSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { ErrorCodes, ZendeskEtlError } from '../../core/errors.js';
import type { PendingFile } from '../storage.js';
import type { S3Storage } from './client.js';
import { PartUploader } from './part-uploader.js';

/**
 * A data file streamed to its final key while it is written (or, for engines that write a file
 * themselves, written to a temporary local file and uploaded by `finish()`), through a `PartUploader`.
 */
export class S3PendingFile implements PendingFile {
  readonly key: string;
  readonly where: string;
  readonly #storage: S3Storage;
  #sink: PartUploader | undefined;
  /** Settles when the sink has finished, or failed and cleaned up. */
  #done: Promise<void> = Promise.resolve();
  #error: ZendeskEtlError | undefined;
  #localDir: string | undefined;

  constructor(storage: S3Storage, key: string) {
    this.#storage = storage;
    this.key = key;
    this.where = storage.where(key);
    storage.objectKey(key); // refuse a bad key now
  }

  get bytes(): number {
    return this.#sink?.bytes ?? 0;
  }

  stream(): Writable {
    return this.#open();
  }

  #open(): PartUploader {
    if (this.#sink) return this.#sink;
    const sink = new PartUploader(this.#storage, this.key);
    // Failures are kept for check() and finish(); never an unhandled 'error' event.
    sink.on('error', (err) => {
      this.#error ??= this.#storage.errorFor('uploading', this.key, err);
    });
    this.#done = finished(sink).catch(() => undefined);
    this.#sink = sink;
    return sink;
  }

  localPath(): string {
    this.#localDir ??= mkdtempSync(join(tmpdir(), 'zde-s3-'));
    return join(this.#localDir, basename(this.key));
  }

  check(): void {
    const err = this.#error ?? this.#sink?.error;
    if (err) throw err;
  }

  async finish(): Promise<number> {
    if (this.#localDir !== undefined && this.#sink === undefined) return this.#finishLocal();
    const sink = this.#open();
    if (!sink.writableEnded && !sink.destroyed) sink.end();
    await this.#done;
    this.check();
    if (!sink.completed) throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `the upload of ${this.where} did not complete`, { path: this.where });
    return sink.bytes;
  }

  async promote(): Promise<void> {
    // Uploaded by finish(): already at its key.
  }

  async abort(): Promise<void> {
    const sink = this.#sink;
    if (sink && !sink.destroyed) sink.destroy(new ZendeskEtlError(ErrorCodes.SINK_WRITE, `the upload of ${this.where} was abandoned`, { path: this.where }));
    await this.#done;
    // Uploaded already (finished, never committed): it goes again.
    if (sink?.completed) await this.#storage.delete(this.key).catch(() => undefined);
    await this.#dropLocal();
  }

  async #finishLocal(): Promise<number> {
    const path = this.localPath();
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `nothing was written at ${path} for ${this.where}: ${(err as Error).message}`, { path: this.where }, { cause: err });
    }
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), this.#open()).catch(() => undefined);
    await this.#done;
    this.check();
    await this.#dropLocal();
    return size;
  }

  async #dropLocal(): Promise<void> {
    if (this.#localDir !== undefined) await rm(this.#localDir, { recursive: true, force: true });
  }
}
