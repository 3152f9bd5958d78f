import { Writable } from 'node:stream';
import { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand, type CompletedPart } from '@aws-sdk/client-s3';
import { ErrorCodes, ZendeskEtlError } from '../../core/errors.js';
import { MiB, type S3Storage } from './client.js';

/** S3's limit on the parts of one upload. */
const MAX_PARTS = 10_000;

/**
 * The bytes of one object on their way to S3, with bounded memory: they are copied into parts of a
 * fixed size, from a pool of at most `queue + 1` reused buffers; each full part is uploaded while the
 * next fills, with at most `queue` in flight, and a write waits for a free slot. An object smaller
 * than one part is one PutObject. The SDK retries each request; a part that fails for good fails the
 * next write at once (so the writer stops), and the multipart upload is aborted.
 */
export class PartUploader extends Writable {
  readonly #s: S3Storage;
  readonly #key: string;
  readonly #objectKey: string;
  readonly #pool: Buffer[] = [];
  #current: Buffer | undefined;
  #filled = 0;
  #nextPart = 1;
  #creating: Promise<string> | undefined;
  readonly #inflight = new Set<Promise<void>>();
  readonly #parts: CompletedPart[] = [];
  #failure: unknown;
  #completing: Promise<void> | undefined;
  /** The object is at its key. */
  completed = false;
  bytes = 0;
  /** The upload's failure, as soon as a write or the end meets it (before the 'error' event, which waits for the cleanup). */
  error: ZendeskEtlError | undefined;

  constructor(storage: S3Storage, key: string) {
    super({ highWaterMark: 1 << 20 });
    this.#s = storage;
    this.#key = key;
    this.#objectKey = storage.objectKey(key);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#append(chunk).then(
      () => cb(),
      (err: unknown) => cb(this.#fail(err)),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#completing = this.#complete();
    this.#completing.then(
      () => cb(),
      (err: unknown) => cb(this.#fail(err)),
    );
  }

  #fail(err: unknown): ZendeskEtlError {
    this.error ??= this.#s.errorFor('uploading', this.#key, err);
    return this.error;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#abandon().then(
      () => cb(err),
      () => cb(err),
    );
  }

  async #append(chunk: Buffer): Promise<void> {
    this.#throwIfFailed();
    this.bytes += chunk.length;
    const size = this.#s.partSizeBytes;
    for (let at = 0; at < chunk.length; ) {
      this.#current ??= this.#pool.pop() ?? Buffer.allocUnsafe(size);
      const n = chunk.copy(this.#current, this.#filled, at);
      at += n;
      this.#filled += n;
      if (this.#filled === size) await this.#ship();
    }
  }

  /** Upload the part being filled, once a slot is free. */
  async #ship(): Promise<void> {
    while (this.#inflight.size >= this.#s.queueSize) await Promise.race(this.#inflight);
    this.#throwIfFailed();
    const UploadId = await (this.#creating ??= this.#create());
    if (this.destroyed) throw new Error('the upload was abandoned');
    const PartNumber = this.#nextPart++;
    if (PartNumber > MAX_PARTS) {
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `${this.#s.where(this.#key)} needs more than ${MAX_PARTS} parts of ${this.#s.partSizeBytes / MiB} MiB: set ZENDESK_ETL_S3_PART_MB higher, or make files smaller (--max-file-mb)`, { path: this.#s.where(this.#key) });
    }
    const buffer = this.#current!;
    const body = buffer.subarray(0, this.#filled);
    this.#current = undefined;
    this.#filled = 0;
    const sent: Promise<void> = this.#s.client
      .send(new UploadPartCommand({ Bucket: this.#s.bucket, Key: this.#objectKey, UploadId, PartNumber, Body: body }))
      .then(
        (res) => {
          this.#parts.push({ PartNumber, ETag: res.ETag, ...(res.ChecksumCRC32 ? { ChecksumCRC32: res.ChecksumCRC32 } : {}) });
        },
        (err: unknown) => {
          this.#failure ??= err;
        },
      )
      .finally(() => {
        this.#inflight.delete(sent);
        this.#pool.push(buffer);
      });
    this.#inflight.add(sent);
  }

  async #create(): Promise<string> {
    const res = await this.#s.client.send(new CreateMultipartUploadCommand({ Bucket: this.#s.bucket, Key: this.#objectKey, ...(this.#s.checksums ? { ChecksumAlgorithm: 'CRC32' as const } : {}) }));
    if (!res.UploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
    return res.UploadId;
  }

  async #complete(): Promise<void> {
    this.#throwIfFailed();
    if (this.#creating === undefined) {
      // Smaller than one part: one request.
      const body = this.#current?.subarray(0, this.#filled) ?? Buffer.alloc(0);
      await this.#s.client.send(new PutObjectCommand({ Bucket: this.#s.bucket, Key: this.#objectKey, Body: body }));
    } else {
      if (this.#filled > 0) await this.#ship();
      await Promise.all(this.#inflight);
      this.#throwIfFailed();
      const parts = [...this.#parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      await this.#s.client.send(new CompleteMultipartUploadCommand({ Bucket: this.#s.bucket, Key: this.#objectKey, UploadId: await this.#creating, MultipartUpload: { Parts: parts } }));
    }
    this.completed = true;
    this.#release();
  }

  /** After a failure or an abort: wait for what is in flight, then abort the multipart upload (else vacuum does). */
  async #abandon(): Promise<void> {
    await this.#completing?.catch(() => undefined);
    const uploadId = await this.#creating?.catch(() => undefined);
    await Promise.all(this.#inflight);
    if (uploadId !== undefined && !this.completed) {
      await this.#s.client.send(new AbortMultipartUploadCommand({ Bucket: this.#s.bucket, Key: this.#objectKey, UploadId: uploadId })).catch(() => undefined);
    }
    this.#release();
  }

  #release(): void {
    this.#pool.length = 0;
    this.#current = undefined;
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}
