import type { Writable } from 'node:stream';

/**
 * Where a lake lives, behind the few operations a table log needs: put-if-absent (a commit),
 * streaming writes of data files that become visible only when promoted, list, read and delete.
 * Keys are `/`-separated and relative to the lake's root (`tickets/_delta_log/...`).
 * The local folder is one backend; object storage is another; the log above them is the same.
 */
export interface Storage {
  /** The lake's location for messages (`/abs/lake`, `s3://bucket/prefix`). */
  readonly url: string;
  /** How data files become visible: renamed into place (a folder), or at upload (object storage). */
  readonly publishes: 'rename' | 'upload';
  /** Write `key` only if nothing is there. False when something is (another writer won). */
  putIfAbsent(key: string, data: string | Buffer): Promise<boolean>;
  /** Write `key` whole, replacing what is there (small files only: leases, caches). */
  put(key: string, data: string | Buffer): Promise<void>;
  /** Read `key`, or undefined when it does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  /** Every object below `prefix` (a folder: ends with '/'), in key order, from after `startAfter`. */
  list(prefix: string, opts?: { startAfter?: string }): AsyncIterable<StoredObject>;
  /**
   * The names of the folders directly below `prefix` ('' for the lake's root, else ending with '/'),
   * sorted; undefined when nothing is there at all (no folder, no object below it).
   */
  folders?(prefix: string): Promise<string[] | undefined>;
  delete(key: string): Promise<void>;
  /**
   * Remove the folder `key` and those above it while empty, the lake's own folder included when it
   * was not there before (a folder lake: a run that committed nothing leaves a new lake as it found it).
   */
  pruneEmpty?(key: string): Promise<void>;
  /** A new data file for `key`, written by streaming; `staging` is a unique key for its bytes meanwhile. */
  create(key: string, staging: string): Promise<PendingFile>;
  /** Drop what uploads a dead run left unfinished below `prefix` (object storage), older than `olderThanMs`. */
  abortStaleUploads?(prefix: string, olderThanMs: number, opts?: { keep?: (key: string) => boolean }): Promise<number>;
  close?(): Promise<void>;
}

export interface StoredObject {
  key: string;
  size: number;
  /** Last modified, ms since the epoch. */
  modified: number;
}

/**
 * A data file being written. A format writes its bytes into `stream()`, or writes a local file at
 * `localPath()` by itself (engines like DuckDB); then `finish()` makes it durable and `promote()`
 * makes it visible at its key. `abort()` drops it, whatever state it is in.
 */
export interface PendingFile {
  readonly key: string;
  /** Where it is while being written, for messages. */
  readonly where: string;
  /** Bytes written into `stream()` so far. */
  readonly bytes: number;
  stream(): Writable;
  localPath(): string;
  /** Throws the write error, if the stream has failed (full disk, ...). */
  check(): void;
  /** Durable (fsynced, or uploaded). Returns its size in bytes. */
  finish(): Promise<number>;
  /** Visible at `key`. */
  promote(): Promise<void>;
  abort(): Promise<void>;
}

/** Join key parts with '/', dropping empty ones. */
export function joinKey(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/').replace(/\/{2,}/g, '/');
}
