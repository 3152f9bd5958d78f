import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { ErrorCodes, ZendeskEtlError, fsReason } from '../errors.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';
import { StateStore, type ExportState } from './state-store.js';

/** A finished, fsynced file in staging, and where it goes when committed (relative to the lake). */
export interface StagedFile {
  staged: string;
  final: string;
  rows: number;
  bytes: number;
}

/** The steps of a commit, for crash-injection tests and tracing. */
export type CommitStep = 'manifest-written' | 'file-renamed' | 'state-saved' | 'manifest-removed';

export interface CommitterOptions {
  /** The lake folder; committed files live below it. */
  outDir: string;
  /** The state file. */
  statePath: string;
  /** Called after each step of a commit (tests inject crashes here). */
  onStep?: (step: CommitStep) => void;
}

interface Manifest {
  version: 1;
  files: { staged: string; final: string }[];
  /** Committed files this commit replaces (compaction), lake-relative; deleted once the new ones are in. */
  removed?: string[];
  state: ExportState;
}

/**
 * The commit protocol. Publishing files and saving the state are one atomic step:
 *  1. the sink finishes each file in staging and fsyncs it;
 *  2. a manifest naming every staged file, its final path and the new state is written atomically;
 *  3. each staged file is renamed to its final path (same file system: atomic), folders fsynced;
 *  4. the state is saved atomically (temp, fsync, rename; mode 0600);
 *  5. the manifest is removed.
 * On start, `recover()` rolls a leftover manifest forward (its files were complete) and deletes
 * anything else left in staging, which was never committed and never visible.
 */
export class Committer {
  readonly outDir: string;
  readonly stagingDir: string;
  readonly store: StateStore;
  readonly #manifestPath: string;
  readonly #onStep: ((step: CommitStep) => void) | undefined;

  constructor(opts: CommitterOptions) {
    this.outDir = resolve(opts.outDir);
    this.store = new StateStore(resolve(opts.statePath));
    this.#manifestPath = `${this.store.path}.manifest`;
    // Staging sits inside the lake (same file system, so renames are atomic), in a folder readers skip.
    const key = this.store.path.split(sep).pop()!.replace(/\.json$/, '');
    this.stagingDir = join(this.outDir, '_staging', key);
    this.#onStep = opts.onStep;
  }

  /** Roll an interrupted commit forward, clear staging, and return the committed state (if any). */
  async recover(): Promise<ExportState | undefined> {
    return this.#inFolder(() => this.#recover());
  }

  /** Run `work`; a file-system failure becomes a coded error naming the output folder. */
  async #inFolder<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof ZendeskEtlError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot use the output folder ${this.outDir}: ${fsReason(err)} (${code ?? 'error'})`, { path: this.outDir }, { cause: err });
    }
  }

  async #recover(): Promise<ExportState | undefined> {
    let manifest: Manifest | undefined;
    try {
      manifest = JSON.parse(await readFile(this.#manifestPath, 'utf8')) as Manifest;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        // A manifest is written atomically, so a torn one means it was never complete: roll back.
        await rm(this.#manifestPath, { force: true });
      }
    }
    if (manifest) {
      await this.#remove(manifest.removed ?? []);
      await this.#publish(manifest.files, false);
      await this.store.save(manifest.state);
      await rm(this.#manifestPath, { force: true });
      await fsyncDir(dirname(this.#manifestPath));
    }
    await rm(this.stagingDir, { recursive: true, force: true });
    await mkdir(this.stagingDir, { recursive: true });
    return this.store.load();
  }

  /** A path in staging for a new file. */
  stagingPath(name: string): string {
    return join(this.stagingDir, name);
  }

  /**
   * Publish staged files and save the state, as one step. With `removed`, the listed committed files
   * are deleted in the same step (compaction: their rows are in the new files).
   */
  async commit(files: readonly StagedFile[], state: ExportState, removed: readonly string[] = []): Promise<void> {
    try {
      const manifest: Manifest = { version: 1, files: files.map((f) => ({ staged: f.staged, final: f.final })), removed: [...removed], state };
      await writeFileAtomic(this.#manifestPath, JSON.stringify(manifest), 0o600);
      this.#onStep?.('manifest-written');
      // Replaced files go first: a reader may briefly miss those rows, but never sees them twice.
      await this.#remove(removed);
      await this.#publish(manifest.files, true);
      await this.store.save(state);
      this.#onStep?.('state-saved');
      await rm(this.#manifestPath, { force: true });
      await fsyncDir(dirname(this.#manifestPath));
      this.#onStep?.('manifest-removed');
    } catch (err) {
      if (err instanceof ZendeskEtlError) throw err;
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `commit failed: ${(err as Error).message}; the state was not advanced, and the next run redoes this part`, { path: this.outDir }, { cause: err });
    }
  }

  async #publish(files: readonly { staged: string; final: string }[], live: boolean): Promise<void> {
    const dirs = new Set<string>();
    for (const f of files) {
      const target = this.finalPath(f.final);
      const present = await exists(f.staged);
      if (!present) {
        if (await exists(target)) continue; // renamed before the crash
        throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the commit manifest names ${f.staged}, which is neither in staging nor at ${target}`, { path: f.staged });
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(f.staged, target);
      dirs.add(dirname(target));
      if (live) this.#onStep?.('file-renamed');
    }
    for (const d of dirs) await fsyncDir(d);
  }

  async #remove(files: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const rel of files) {
      const abs = this.finalPath(rel);
      await rm(abs, { force: true }); // idempotent: a roll-forward may find it gone already
      dirs.add(dirname(abs));
    }
    for (const d of dirs) if (await exists(d)) await fsyncDir(d);
  }

  /**
   * Take the lock of this state file, so two runs never write the same state at once. A lock left by
   * a process that is gone (kill -9) is taken over. Returns the release function.
   */
  lock(): Promise<() => Promise<void>> {
    return this.#inFolder(() => this.#lock());
  }

  async #lock(): Promise<() => Promise<void>> {
    const path = `${this.store.path}.lock`;
    await mkdir(dirname(path), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        await fh.writeFile(String(process.pid));
        await fh.close();
        return () => rm(path, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
          throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `another run (pid ${pid}) is using ${this.store.path}; wait for it to finish, or stop it`, { path: this.store.path });
        }
        if (pid === process.pid) throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `this process already runs an export on ${this.store.path}`, { path: this.store.path });
        await rm(path, { force: true }); // left by a process that is gone
      }
    }
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `cannot take the lock ${path}`, { path });
  }

  /** The absolute path of a lake-relative path; refuses anything that would leave the lake. */
  finalPath(rel: string): string {
    const abs = resolve(this.outDir, rel);
    const back = relative(this.outDir, abs);
    if (back === '' || back.startsWith('..') || resolve(this.outDir, back) !== abs) {
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `refusing to write outside the output folder: ${JSON.stringify(rel)}`, { path: rel });
    }
    return abs;
  }

  /** Files in staging now (for tests: nothing uncommitted is ever visible outside it). */
  async stagedNow(): Promise<string[]> {
    try {
      return await readdir(this.stagingDir);
    } catch {
      return [];
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
