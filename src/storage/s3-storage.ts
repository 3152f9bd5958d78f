import { createReadStream, mkdtempSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { PendingFile, Storage, StoredObject } from './storage.js';

/**
 * A lake in object storage (S3, or anything that speaks its API: R2, MinIO, Ceph RGW, GCS interop).
 *
 * - A commit is `PutObject` with `If-None-Match: *`: the server keeps the first writer's version and
 *   answers 412 to the others. A 412 (or a failure whose outcome is unknown) is settled by reading the
 *   object back: if it holds this writer's bytes, a retried request of ours won, not another writer.
 * - Data files stream straight to their final key as multipart uploads, in parts of a fixed size from
 *   a small pool of reused buffers, a bounded number in flight, so memory stays flat whatever the
 *   file's size (see PartUploader). A file is uploaded whole before the commit that adds it; until then
 *   no Delta reader sees it (a plain glob reader does: see docs/object-storage.md). `promote()` has nothing to do.
 * - Configuration is the AWS SDK's standard chain: credentials (environment, `AWS_PROFILE`, web
 *   identity, container and instance roles), `AWS_REGION`, and `AWS_ENDPOINT_URL_S3` or
 *   `AWS_ENDPOINT_URL` (which this SDK reads itself; they are read here too, to choose path style).
 *
 * No credential is ever put in a message: the SDK's own texts for refused credentials are not passed
 * on, and the values of the AWS_* secrets are masked in any text that is.
 */

/** The defaults: 8 MiB parts, 2 in flight plus one filling: 24 MiB of buffers per file being written, at most. */
export const S3_DEFAULTS = { partSizeBytes: 8 * 1024 * 1024, queueSize: 2, maxAttempts: 6 } as const;
const MiB = 1024 * 1024;
const MIN_PART_SIZE = 5 * MiB;
/** How often a commit is tried again after 409 ConditionalRequestConflict (a concurrent conditional write to the key was in progress). */
const CONFLICT_RETRIES = 8;
const DELETE_BATCH = 1000;

export interface S3StorageOptions {
  bucket: string;
  /** Keys below this, without leading or trailing '/'; '' for the bucket's root. */
  prefix: string;
  /** Address buckets by path (`http://host/bucket/key`). Default: only for IP or localhost endpoints. */
  forcePathStyle?: boolean | undefined;
  /** Multipart part size, at least 5 MiB. Default: ZENDESK_ETL_S3_PART_MB (MiB), else 8 MiB. */
  partSizeBytes?: number | undefined;
  /** Parts uploaded at once per file. Default: ZENDESK_ETL_S3_QUEUE, else 2. */
  queueSize?: number | undefined;
  /** The option the location came from, for messages. Default 'out'. */
  option?: string | undefined;
  /** Where to read the AWS_* settings this class reads itself. Default process.env (the SDK always reads process.env). */
  env?: NodeJS.ProcessEnv | undefined;
}

interface Endpoint {
  url: URL;
  /** Where it came from, for messages: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, or the profile. */
  from: string;
}

export class S3Storage implements Storage {
  readonly url: string;
  readonly publishes = 'upload' as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  /** Multipart part size, bytes. */
  readonly partSizeBytes: number;
  /** Parts in flight per file. */
  readonly queueSize: number;
  /** Multipart uploads declare CRC32 (the SDK's requestChecksumCalculation is WHEN_SUPPORTED, its default). */
  readonly checksums: boolean;
  /** The endpoint (origin only), or `AWS S3`, for messages. */
  readonly endpoint: string;
  readonly #env: NodeJS.ProcessEnv;

  private constructor(o: S3StorageOptions, client: S3Client, resolved: { endpoint: string; partSizeBytes: number; queueSize: number; checksums: boolean }) {
    this.bucket = o.bucket;
    this.prefix = o.prefix;
    this.url = o.prefix === '' ? `s3://${o.bucket}` : `s3://${o.bucket}/${o.prefix}`;
    this.client = client;
    this.endpoint = resolved.endpoint;
    this.partSizeBytes = resolved.partSizeBytes;
    this.queueSize = resolved.queueSize;
    this.checksums = resolved.checksums;
    this.#env = o.env ?? process.env;
  }

  /**
   * Open a lake in a bucket, configured by the SDK's standard chain. Refuses (ZDE_INVALID_OPTION) a bad
   * endpoint URL, or no region anywhere; credentials are checked by the first request.
   */
  static async open(o: S3StorageOptions): Promise<S3Storage> {
    const env = o.env ?? process.env;
    const partSizeBytes = o.partSizeBytes ?? envNumber(env, 'ZENDESK_ETL_S3_PART_MB', 5, 5 * 1024, MiB) ?? S3_DEFAULTS.partSizeBytes;
    if (!Number.isInteger(partSizeBytes) || partSizeBytes < MIN_PART_SIZE) throw optionError('partSizeBytes', `a whole number of bytes >= ${MIN_PART_SIZE} (S3's smallest part)`, partSizeBytes);
    const queueSize = o.queueSize ?? envNumber(env, 'ZENDESK_ETL_S3_QUEUE', 1, 64, 1) ?? S3_DEFAULTS.queueSize;
    if (!Number.isInteger(queueSize) || queueSize < 1 || queueSize > 64) throw optionError('queueSize', 'a whole number from 1 to 64', queueSize);
    const endpoint = endpointFromEnv(env) ?? (await endpointFromProfile());
    const pathStyle = o.forcePathStyle === true || (endpoint !== undefined && isLocalOrIp(endpoint.url));
    const config: S3ClientConfig = {
      forcePathStyle: pathStyle,
      // The SDK reads AWS_MAX_ATTEMPTS itself; when it is not set, a failed part gets more tries than its default 3.
      ...(env.AWS_MAX_ATTEMPTS ? {} : { maxAttempts: S3_DEFAULTS.maxAttempts }),
      ...(endpoint ? { endpoint: endpoint.url.href } : {}),
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    };
    const client = new S3Client(config);
    await requireRegion(client, o.bucket);
    const checksums = (await client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
    return new S3Storage(o, client, { endpoint: endpoint ? endpoint.url.origin : 'AWS S3', partSizeBytes, queueSize, checksums });
  }

  // ------------------------------------------------------------------ keys

  /** The object key of a lake key; refuses keys that would leave the prefix. */
  objectKey(key: string): string {
    if (key === '' || key.startsWith('/') || key.split('/').some((s) => s === '..' || s === '.')) {
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `refusing to use the key ${JSON.stringify(key)} in ${this.url}: it would leave the lake`, { path: key });
    }
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  /** The lake key of an object key below the prefix. */
  #lakeKey(objectKey: string): string {
    return this.prefix === '' ? objectKey : objectKey.slice(this.prefix.length + 1);
  }

  /** A list prefix: '' is the whole lake. */
  #listPrefix(prefix: string): string {
    if (prefix === '') return this.prefix === '' ? '' : `${this.prefix}/`;
    return this.objectKey(prefix);
  }

  where(key: string): string {
    return `${this.url}/${key}`;
  }

  // ------------------------------------------------------------------ Storage

  async putIfAbsent(key: string, data: string | Buffer): Promise<boolean> {
    const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const Key = this.objectKey(key);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, IfNoneMatch: '*' }));
        return true;
      } catch (err) {
        const status = httpStatus(err);
        if (status === 409 && attempt < CONFLICT_RETRIES) {
          await delay(50 * 2 ** attempt * Math.random());
          continue;
        }
        // A 412, or a failure whose outcome is unknown: an earlier attempt of ours (the SDK retries) may
        // be the one that landed. The bytes tell: commits carry this run's id and a timestamp.
        const holds = await this.#holds(key, body).catch(() => undefined);
        if (holds === 'same') return true;
        if (holds === 'other') return false;
        // 412 and then nothing there: a write that was undone meanwhile (a lifecycle rule?); try again, a few times.
        if (holds === 'absent' && status === 412 && attempt < CONFLICT_RETRIES) continue;
        throw this.#error('committing', key, err);
      }
    }
  }

  /** Whether `key` holds exactly `body`, other bytes, or nothing. */
  async #holds(key: string, body: Buffer): Promise<'same' | 'other' | 'absent'> {
    const got = await this.get(key);
    if (got === undefined) return 'absent';
    return got.equals(body) ? 'same' : 'other';
  }

  async put(key: string, data: string | Buffer): Promise<void> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: typeof data === 'string' ? Buffer.from(data, 'utf8') : data }));
    } catch (err) {
      throw this.#error('writing', key, err);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    const Key = this.objectKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      if (!res.Body) return Buffer.alloc(0);
      const bytes = await res.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      if (errorName(err) === 'NoSuchKey' || (httpStatus(err) === 404 && errorName(err) !== 'NoSuchBucket')) return undefined;
      throw this.#error('reading', key, err);
    }
  }

  async *list(prefix: string, opts: { startAfter?: string } = {}): AsyncIterable<StoredObject> {
    const Prefix = this.#listPrefix(prefix);
    const StartAfter = opts.startAfter === undefined ? undefined : this.objectKey(opts.startAfter);
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ...(token ? { ContinuationToken: token } : StartAfter ? { StartAfter } : {}) }));
      } catch (err) {
        throw this.#error('listing', prefix, err);
      }
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(Prefix)) continue;
        yield { key: this.#lakeKey(o.Key), size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async folders(prefix: string): Promise<string[] | undefined> {
    const Prefix = this.#listPrefix(prefix);
    const names: string[] = [];
    let any = false;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, Delimiter: '/', ...(token ? { ContinuationToken: token } : {}) }));
      } catch (err) {
        throw this.#error('listing', prefix, err);
      }
      if ((page.Contents?.length ?? 0) > 0) any = true;
      for (const p of page.CommonPrefixes ?? []) {
        if (p.Prefix === undefined || !p.Prefix.startsWith(Prefix)) continue;
        names.push(p.Prefix.slice(Prefix.length).replace(/\/$/, ''));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return any || names.length > 0 ? names.sort() : undefined;
  }

  /** Delete an object, or a "folder": every object below `key/` (as LocalStorage deletes folders). */
  async delete(key: string): Promise<void> {
    const folder = key.endsWith('/') ? key : `${key}/`;
    if (!key.endsWith('/')) {
      const Key = this.objectKey(key);
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
      } catch (err) {
        if (httpStatus(err) !== 404 || errorName(err) === 'NoSuchBucket') throw this.#error('deleting', key, err);
      }
    }
    let batch: string[] = [];
    for await (const o of this.list(folder)) {
      batch.push(this.objectKey(o.key));
      if (batch.length === DELETE_BATCH) {
        await this.#deleteMany(folder, batch);
        batch = [];
      }
    }
    if (batch.length > 0) await this.#deleteMany(folder, batch);
  }

  async #deleteMany(folder: string, keys: string[]): Promise<void> {
    let res;
    try {
      res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
    } catch (err) {
      throw this.#error('deleting', folder, err);
    }
    const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      const first = failed[0]!;
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot delete ${failed.length} objects below ${this.where(folder)}, the first ${this.where(this.#lakeKey(first.Key ?? ''))}: ${first.Code ?? 'error'}`, { path: this.where(folder) });
    }
  }

  async create(key: string, _staging: string): Promise<PendingFile> {
    return new S3PendingFile(this, key);
  }

  /**
   * Abort the multipart uploads below `prefix` begun more than `olderThanMs` ago (a dead run's), except
   * those `keep` names (a live run's). Returns how many were aborted.
   */
  async abortStaleUploads(prefix: string, olderThanMs: number, opts: { keep?: (key: string) => boolean } = {}): Promise<number> {
    const Prefix = this.#listPrefix(prefix);
    const cutoff = Date.now() - olderThanMs;
    let aborted = 0;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix, KeyMarker, UploadIdMarker }));
      } catch (err) {
        throw this.#error('listing the unfinished uploads below', prefix, err);
      }
      for (const u of page.Uploads ?? []) {
        if (u.Key === undefined || u.UploadId === undefined) continue;
        if ((u.Initiated?.getTime() ?? 0) > cutoff || opts.keep?.(this.#lakeKey(u.Key))) continue;
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
          aborted++;
        } catch (err) {
          if (errorName(err) !== 'NoSuchUpload') throw this.#error('aborting the unfinished upload of', this.#lakeKey(u.Key), err);
        }
      }
      const more = page.IsTruncated === true;
      KeyMarker = more ? page.NextKeyMarker : undefined;
      UploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (KeyMarker !== undefined);
    return aborted;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** A coded error for a failed request about `key`. */
  #error(action: string, key: string, err: unknown): ZendeskEtlError {
    return s3Error(action, this.where(key), err, { bucket: this.bucket, endpoint: this.endpoint, secrets: secretsOf(this.#env) });
  }

  /** For S3PendingFile. */
  errorFor(action: string, key: string, err: unknown): ZendeskEtlError {
    return this.#error(action, key, err);
  }
}

// ------------------------------------------------------------------ data files

/**
 * A data file streamed to its final key while it is written (or, for engines that write a file
 * themselves, written to a temporary local file and uploaded by `finish()`), through a `PartUploader`.
 */
class S3PendingFile implements PendingFile {
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

/** S3's limit on the parts of one upload. */
const MAX_PARTS = 10_000;

/**
 * The bytes of one object on their way to S3, with bounded memory: they are copied into parts of a
 * fixed size, from a pool of at most `queue + 1` reused buffers; each full part is uploaded while the
 * next fills, with at most `queue` in flight, and a write waits for a free slot. An object smaller
 * than one part is one PutObject. The SDK retries each request; a part that fails for good fails the
 * next write at once (so the writer stops), and the multipart upload is aborted.
 */
class PartUploader extends Writable {
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

// ------------------------------------------------------------------ configuration

/** A whole number from an environment variable, times `unit`; undefined when unset. */
function envNumber(env: NodeJS.ProcessEnv, name: string, min: number, max: number, unit: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) throw optionError(name, `a whole number from ${min} to ${max}`, raw);
  return n * unit;
}

function optionError(option: string, expected: string, value: unknown): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${option} must be ${expected}, got ${JSON.stringify(value)}`, { option, value });
}

/** The endpoint AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL names (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true). */
export function endpointFromEnv(env: NodeJS.ProcessEnv): Endpoint | undefined {
  if (/^true$/i.test(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '')) return undefined;
  for (const variable of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
    const raw = env[variable];
    if (raw) return { url: parseEndpoint(raw, variable), from: variable };
  }
  return undefined;
}

/** The endpoint the shared config file gives (`endpoint_url` of the profile, or of its services section). */
async function endpointFromProfile(): Promise<Endpoint | undefined> {
  const probe = new S3Client({ region: 'us-east-1' });
  try {
    // Resolved by the SDK as it would for a request; `serviceConfiguredEndpoint` is how it exposes it.
    const config = probe.config as { serviceConfiguredEndpoint?: () => Promise<string | undefined> };
    const raw = await config.serviceConfiguredEndpoint?.().catch(() => undefined);
    return raw ? { url: parseEndpoint(raw, 'the endpoint_url of the AWS profile'), from: 'profile' } : undefined;
  } finally {
    probe.destroy();
  }
}

function parseEndpoint(raw: string, from: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    // The value is not echoed: a mistyped URL may hold a credential.
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${from} must be an http:// or https:// URL with no user or password in it, such as https://s3.example.com or http://127.0.0.1:9000 (the value is not shown)`, { option: from });
  }
  return url;
}

/** IP addresses and localhost: no DNS for `bucket.host`, so buckets go in the path. */
export function isLocalOrIp(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[');
}

async function requireRegion(client: S3Client, bucket: string): Promise<void> {
  try {
    const region = await client.config.region();
    if (region) return;
  } catch {
    // "Region is missing": said below, with what to do.
  }
  client.destroy();
  throw new ZendeskEtlError(
    ErrorCodes.INVALID_OPTION,
    `no AWS region is set for the bucket ${bucket}: set AWS_REGION (for example us-east-1; Cloudflare R2 uses auto, MinIO and Ceph accept us-east-1), or region in the profile AWS_PROFILE names`,
    { option: 'AWS_REGION' },
  );
}

// ------------------------------------------------------------------ errors

/** S3 error codes that mean the credentials themselves were refused. */
const REFUSED = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'InvalidClientTokenId', 'UnrecognizedClientException']);

function errorName(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'Error';
  const e = err as { name?: unknown; Code?: unknown; code?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string' && (e.name === 'Error' || e.name === undefined)) return e.code;
  return typeof e.name === 'string' ? e.name : 'Error';
}

function httpStatus(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata;
  return typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
}

function attempts(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { attempts?: unknown } } | null)?.$metadata;
  return typeof meta?.attempts === 'number' ? meta.attempts : undefined;
}

/** The values of the AWS secrets in the environment, to mask in any text passed on. */
function secretsOf(env: NodeJS.ProcessEnv): string[] {
  return [env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, env.AWS_ACCESS_KEY_ID].filter((v): v is string => typeof v === 'string' && v.length >= 4);
}

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

/**
 * A coded error for a failed S3 request: refused credentials (ZDE_UNAUTHORIZED / ZDE_FORBIDDEN, exit 4),
 * settings that cannot work (ZDE_INVALID_OPTION, exit 2: no credentials found, no such bucket, another
 * region), anything else ZDE_SINK_WRITE (exit 1: what was committed is kept; run again).
 */
export function s3Error(action: string, where: string, err: unknown, ctx: { bucket: string; endpoint: string; secrets: readonly string[] }): ZendeskEtlError {
  if (err instanceof ZendeskEtlError) return err;
  const name = errorName(err);
  const status = httpStatus(err);
  const code = `${name}${status === undefined ? '' : `, HTTP ${status}`}`;
  if (name === 'CredentialsProviderError') {
    return new ZendeskEtlError(
      ErrorCodes.INVALID_OPTION,
      `no AWS credentials were found for ${where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where a web identity, container or instance role provides them`,
      { path: where, option: 'AWS_ACCESS_KEY_ID' },
    );
  }
  if (REFUSED.has(name) || status === 401) {
    return new ZendeskEtlError(ErrorCodes.UNAUTHORIZED, `the S3 credentials were refused (${code}) while ${action} ${where} at ${ctx.endpoint}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and the clock of this machine`, { path: where, ...(status ? { status } : {}) });
  }
  if (name === 'AccessDenied' || status === 403) {
    return new ZendeskEtlError(
      ErrorCodes.FORBIDDEN,
      `the S3 credentials were refused for ${action} ${where} (${code}): they need s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucketMultipartUploads and s3:AbortMultipartUpload on the bucket ${ctx.bucket} and this prefix`,
      { path: where, ...(status ? { status } : {}) },
    );
  }
  if (name === 'NoSuchBucket') {
    return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the bucket ${ctx.bucket} does not exist at ${ctx.endpoint} (${code}): create it, or check --out, AWS_ENDPOINT_URL and AWS_REGION`, { path: where, option: 'out' });
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || name === 'IllegalLocationConstraintException') {
    return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the bucket ${ctx.bucket} is not in the region this run uses (${code}): set AWS_REGION to the bucket's region`, { path: where, option: 'AWS_REGION' });
  }
  const tries = attempts(err);
  const text = err instanceof Error ? err.message : String(err);
  const detail = maskSecrets(text, ctx.secrets);
  // The cause travels into logs (`context: {..., cause}`): the original only when nothing had to be masked.
  const cause = detail === text ? err : new Error(detail);
  return new ZendeskEtlError(
    ErrorCodes.SINK_WRITE,
    `S3 failed while ${action} ${where} at ${ctx.endpoint}: ${code}${tries && tries > 1 ? ` after ${tries} attempts` : ''}${detail && detail !== name ? ` (${detail.slice(0, 300)})` : ''}; nothing from this part was committed, and the next run redoes it`,
    { path: where, ...(status ? { status } : {}) },
    { cause },
  );
}
