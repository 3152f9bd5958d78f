import { setTimeout as delay } from 'node:timers/promises';
import { AbortMultipartUploadCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { ErrorCodes, ZendeskEtlError } from '../../core/errors.js';
import type { PendingFile, Storage, StoredObject } from '../storage.js';
import { S3PendingFile } from './pending-file.js';
import { envSetting } from '../../options/normalize.js';
import { OPTION_DEFAULTS } from '../../options/table.js';
import { endpointFromEnv, endpointFromProfile, isLocalOrIp, optionError, requireRegion } from './endpoint.js';
import { errorName, httpStatus, s3Error, secretsOf } from './errors.js';

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
export const S3_DEFAULTS = { partSizeBytes: OPTION_DEFAULTS.s3PartSizeBytes, queueSize: OPTION_DEFAULTS.s3QueueSize, maxAttempts: 6 } as const;
export const MiB = 1024 * 1024;
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
    const partSizeBytes = o.partSizeBytes ?? envSetting('s3PartSizeBytes', env) ?? S3_DEFAULTS.partSizeBytes;
    if (!Number.isInteger(partSizeBytes) || partSizeBytes < MIN_PART_SIZE) throw optionError('partSizeBytes', `a whole number of bytes >= ${MIN_PART_SIZE} (S3's smallest part)`, partSizeBytes);
    const queueSize = o.queueSize ?? envSetting('s3QueueSize', env) ?? S3_DEFAULTS.queueSize;
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
