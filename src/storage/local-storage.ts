import { createWriteStream, statSync, type WriteStream } from 'node:fs';
import { link, open, readdir, readFile, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Writable } from 'node:stream';
import { ErrorCodes, ZendeskEtlError, fsReason, isPermissionError } from '../core/errors.js';
import { fsyncDir, fsyncFile, makeDir, writeFileAtomic } from '../state/atomic.js';
import type { PendingFile, Storage, StoredObject } from './storage.js';

/**
 * A lake in a local folder. Commits are put-if-absent through `link(2)`, which fails when the name
 * exists; data files are written in staging and renamed into place (same file system: atomic), with
 * every file and folder fsynced so a commit survives a crash.
 */
export class LocalStorage implements Storage {
  readonly root: string;
  readonly url: string;
  readonly publishes = 'rename' as const;
  /** The option that named the folder, for messages. */
  readonly option: string;
  /** The nearest folder at or above the root that was there when the lake was opened. */
  readonly #existed: string;

  /** A lake in `root`; a file where that folder (or one of its parents) should be is a usage error. */
  constructor(root: string, option = 'out') {
    this.root = resolve(root);
    this.url = this.root;
    this.option = option;
    let existed = this.root;
    for (let p = this.root; ; p = dirname(p)) {
      let isDir: boolean | undefined;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        isDir = undefined; // not there (yet): look at its parent
      }
      if (isDir === false) throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${option} must be a folder, but ${p} is a file`, { option, value: root, path: p });
      existed = p;
      if (isDir === true || dirname(p) === p) break;
    }
    this.#existed = existed;
  }

  /** The absolute path of a key; refuses anything that would leave the lake. */
  path(key: string): string {
    const abs = resolve(this.root, key);
    const back = relative(this.root, abs);
    if (back === '' || back.startsWith('..') || back.split(sep).includes('..')) {
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `refusing to write outside the output folder: ${JSON.stringify(key)}`, { path: key });
    }
    return abs;
  }

  /** Run a file-system operation; a failure becomes a coded error naming the lake folder. */
  async #fs<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw storageError(this.root, err, this.option);
    }
  }

  putIfAbsent(key: string, data: string | Buffer): Promise<boolean> {
    return this.#fs(() => this.#putIfAbsent(key, data));
  }

  async #putIfAbsent(key: string, data: string | Buffer): Promise<boolean> {
    const target = this.path(key);
    const dir = dirname(target);
    await makeDir(dir);
    const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    await fsyncDir(dir);
    return true;
  }

  put(key: string, data: string | Buffer): Promise<void> {
    return this.#fs(() => writeFileAtomic(this.path(key), typeof data === 'string' ? data : data.toString('utf8'), 0o644));
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.#fs(async () => {
      try {
        return await readFile(this.path(key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    });
  }

  async *list(prefix: string, opts: { startAfter?: string } = {}): AsyncIterable<StoredObject> {
    const base = this.path(prefix.replace(/\/$/, '') || '.');
    const found: StoredObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw err;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          const key = relative(this.root, p).split(sep).join('/');
          if (opts.startAfter !== undefined && key <= opts.startAfter) continue;
          const st = await stat(p).catch(() => undefined);
          if (st) found.push({ key, size: st.size, modified: st.mtimeMs });
        }
      }
    };
    await this.#fs(() => walk(base));
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  async folders(prefix: string): Promise<string[] | undefined> {
    const dir = prefix.replace(/\/$/, '') === '' ? this.root : this.path(prefix);
    return this.#fs(async () => {
      try {
        const entries = await readdir(dir, { withFileTypes: true });
        return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
        throw err;
      }
    });
  }

  /**
   * Remove the folder `key` and the folders above it while they are empty, up to the lake, and the
   * lake's own folder (and those made for it) when they were not there before this lake was opened.
   */
  async pruneEmpty(key: string): Promise<void> {
    const stop = this.#existed;
    for (let p = this.path(key); p.length > stop.length && p.startsWith(stop); p = dirname(p)) {
      if (!(await this.#removeIfEmpty(p))) return;
    }
  }

  /** rmdir: true when gone (or never there), false when it holds something. */
  async #removeIfEmpty(dir: string): Promise<boolean> {
    try {
      await rmdir(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EBUSY') return false;
      throw storageError(this.root, err, this.option);
    }
  }

  /** Delete a file, or a folder with everything in it. */
  delete(key: string): Promise<void> {
    return this.#fs(() => rm(this.path(key), { recursive: true, force: true }));
  }

  create(key: string, staging: string): Promise<PendingFile> {
    return this.#fs(async () => {
      const file = new LocalPendingFile(this.path(key), this.path(staging), key, this.option);
      await makeDir(dirname(file.where));
      return file;
    });
  }
}

/** A data file in staging: written, fsynced, then renamed to its key. */
class LocalPendingFile implements PendingFile {
  readonly key: string;
  readonly where: string;
  readonly #final: string;
  readonly #option: string;
  #out: WriteStream | undefined;
  #error: Error | undefined;

  constructor(final: string, staged: string, key: string, option: string) {
    this.#final = final;
    this.#option = option;
    this.where = staged;
    this.key = key;
  }

  get bytes(): number {
    return this.#out?.bytesWritten ?? 0;
  }

  stream(): Writable {
    if (!this.#out) {
      const out = createWriteStream(this.where, { flags: 'wx', mode: 0o644, highWaterMark: 1 << 20 });
      out.on('error', (err) => {
        this.#error = err;
      });
      this.#out = out;
    }
    return this.#out;
  }

  localPath(): string {
    return this.where;
  }

  check(): void {
    if (this.#error) throw fileError(this.where, this.#error, this.#option);
  }

  async finish(): Promise<number> {
    try {
      const out = this.#out;
      if (out && !out.closed) {
        if (!out.writableEnded) out.end();
        await once(out, 'close');
      }
      this.check();
      await fsyncFile(this.where);
      return (await stat(this.where)).size;
    } catch (err) {
      throw fileError(this.where, err, this.#option);
    }
  }

  async promote(): Promise<void> {
    try {
      await makeDir(dirname(this.#final));
      await rename(this.where, this.#final);
      await fsyncDir(dirname(this.#final));
    } catch (err) {
      throw fileError(this.#final, err, this.#option);
    }
  }

  async abort(): Promise<void> {
    this.#out?.destroy();
    await rm(this.where, { force: true }).catch(() => undefined);
  }
}

/**
 * A lake folder that cannot be used, as a coded error: read-only or not this user's (EROFS, EACCES,
 * EPERM) is a setting to fix, exit 2, naming the option; anything else (a full disk) is SINK_WRITE.
 */
export function storageError(root: string, err: unknown, option = 'out'): ZendeskEtlError {
  if (err instanceof ZendeskEtlError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (isPermissionError(err)) {
    const at = (err as NodeJS.ErrnoException).path;
    return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${option} ${root} cannot be written: ${fsReason(err)} (${code}${at !== undefined && at !== root ? ` at ${at}` : ''}); give a folder this user can write`, { option, value: root, path: at ?? root }, { cause: err });
  }
  return new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot use the output folder ${root}: ${fsReason(err)} (${code ?? 'error'})`, { path: root }, { cause: err });
}

/** A coded SINK_WRITE error for a failed write, naming the file and the reason (full disk); a permission problem is a setting (exit 2). */
export function fileError(path: string, err: unknown, option = 'out'): ZendeskEtlError {
  if (err instanceof ZendeskEtlError) return err;
  if (isPermissionError(err)) return storageError(path, err, option);
  const code = (err as NodeJS.ErrnoException).code;
  return new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot write ${path}: ${fsReason(err)} (${code ?? 'error'}); nothing from this part was committed, and the next run redoes it`, { path }, { cause: err });
}
