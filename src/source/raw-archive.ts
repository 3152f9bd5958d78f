import { createWriteStream, type WriteStream } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';
import type { Frontier } from '../core/delivery.js';
import { ErrorCodes, ZendeskEtlError, fsReason, isPermissionError } from '../core/errors.js';
import { fsyncDir, fsyncFile, makeDir, writeFileAtomic } from '../state/atomic.js';

/**
 * The raw archive (a bronze layer): each page's bytes, gzipped as they stream by, one file per page,
 * and beside it a record of what the export delivered from that page. Memory stays bounded: bytes
 * go through gzip to disk chunk by chunk. A page is kept only once it was read completely and its
 * position taken; a failed attempt's file is deleted.
 *
 * Files: `<dir>/<stream>/page-<g at the page's start, 12 digits>-<run>-<seq>.json.gz`, and
 * `....meta.json` holding the page's `RawPageRecord`. Sorted by name, pages are in stream order;
 * replay takes from each page exactly what the export delivered from it (see `ReplaySource`),
 * so an archive holding several windows, or pages fetched twice around a crash, replays each
 * version once.
 */

/** What the export delivered from one page: the versions past `from`, up to `to`, within `range`. */
export interface RawPageRecord {
  version: 1;
  stream: string;
  /** Delivered before the page. */
  from: Frontier;
  /** Delivered once the page was read. */
  to: Frontier;
  /** The range the run was exporting (versions past its end were not delivered). */
  range: { from: Frontier; to?: Frontier | undefined };
  /** When the page was fetched (ms). */
  fetchedAt: number;
}

export const PAGE_FILE = /^page-\d{12}-[a-z0-9]+-\d{6}\.json\.gz$/;

/** The names in a folder; undefined when it is not a folder that can be read. */
async function namesIn(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch {
    return undefined;
  }
}

/**
 * Find the raw archive of `stream` at `dir`, reading only: a folder with `<stream>/page-*.json.gz`
 * in it. The stream's own folder (`raw/tickets`) is taken for its archive, and said so. Anything
 * else (no folder, an empty one, a lake) is a usage error that says what is there instead.
 */
export async function findRawArchive(dir: string, stream = 'tickets'): Promise<{ dir: string; pages: number; note?: string }> {
  const abs = resolve(dir);
  const fail = (why: string): ZendeskEtlError => new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `no raw archive at ${abs}: ${why}; export --raw DIR writes one`, { option: 'DIR', value: dir, path: abs });
  const top = await namesIn(abs);
  if (top === undefined) throw fail('there is no such folder');
  const pagesIn = (names: readonly string[]): number => names.filter((n) => PAGE_FILE.test(n)).length;
  const inStream = await namesIn(join(abs, stream));
  if (inStream !== undefined && pagesIn(inStream) > 0) return { dir: abs, pages: pagesIn(inStream) };
  if (pagesIn(top) > 0 && basename(abs) === stream) return { dir: dirname(abs), pages: pagesIn(top), note: `${abs} is the archive's ${stream} folder; replaying its archive ${dirname(abs)}` };
  const tables: string[] = [];
  for (const name of top) if ((await namesIn(join(abs, name, '_delta_log'))) !== undefined) tables.push(name);
  if (tables.length > 0 || top.includes('_delta_log')) throw fail(`it is a lake (tables ${tables.join(', ') || basename(abs)}), not an archive of pages`);
  if (pagesIn(top) > 0) throw fail(`its pages are not in a ${stream}/ folder`);
  throw fail(inStream === undefined ? `it holds no ${stream}/ folder of pages` : `${join(abs, stream)} holds no pages`);
}

export class RawArchive {
  readonly dir: string;
  readonly stream: string;
  readonly #run = Date.now().toString(36);
  #seq = 0;

  constructor(dir: string, stream = 'tickets') {
    this.dir = join(dir, stream);
    this.stream = stream;
  }

  async init(): Promise<void> {
    try {
      await makeDir(this.dir);
    } catch (err) {
      throw archiveError(this.dir, err);
    }
    // Attempts cut off by a crash never became pages.
    for (const f of await readdir(this.dir)) if (f.endsWith('.partial')) await rm(join(this.dir, f), { force: true });
  }

  /** Keep the field catalog beside the pages, so replay types custom fields without Zendesk. */
  async saveFields(fields: unknown): Promise<void> {
    await writeFileAtomic(join(this.dir, 'ticket_fields.json'), JSON.stringify(fields), 0o644);
  }

  /** A new attempt at a page starts at `from`: bytes follow. */
  begin(from: number): RawPage {
    const name = `page-${String(Math.max(0, from)).padStart(12, '0')}-${this.#run}-${String(this.#seq++).padStart(6, '0')}.json.gz`;
    return new RawPage(this.dir, name, this.stream);
  }
}

/** One attempt at a page: its bytes, then (if it was read completely) its record. */
export class RawPage {
  readonly final: string;
  readonly #dir: string;
  readonly #tmp: string;
  readonly #stream: string;
  readonly #gzip: Gzip;
  readonly #file: WriteStream;
  readonly #done: Promise<void>;
  #ended = false;

  constructor(dir: string, name: string, stream: string) {
    this.#dir = dir;
    this.#stream = stream;
    this.final = join(dir, name);
    this.#tmp = `${this.final}.partial`;
    this.#gzip = createGzip({ level: 6 });
    this.#file = createWriteStream(this.#tmp, { mode: 0o644 });
    this.#done = pipeline(this.#gzip, this.#file);
    this.#done.catch(() => undefined);
  }

  /** Bytes of the page. Waits when the disk is slower than the network. */
  async write(chunk: Buffer): Promise<void> {
    if (!this.#gzip.write(chunk)) await new Promise<void>((resolve) => this.#gzip.once('drain', resolve));
  }

  /** The page was read completely: flush its bytes (still invisible). */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#gzip.end();
    try {
      await this.#done;
      await fsyncFile(this.#tmp);
    } catch (err) {
      throw archiveError(this.final, err);
    }
  }

  /** The export took its position from the page: keep the page and its record. */
  async publish(record: Omit<RawPageRecord, 'version' | 'stream' | 'fetchedAt'>): Promise<void> {
    await this.end();
    const full: RawPageRecord = { version: 1, stream: this.#stream, ...record, fetchedAt: Date.now() };
    try {
      await rename(this.#tmp, this.final);
      await writeFileAtomic(this.final.replace(/\.json\.gz$/, '.meta.json'), JSON.stringify(full), 0o644);
      await fsyncDir(this.#dir);
    } catch (err) {
      throw archiveError(this.final, err);
    }
  }

  /** The attempt failed: forget its bytes. */
  abort(): void {
    this.#gzip.destroy();
    this.#file.destroy();
    void rm(this.#tmp, { force: true });
  }
}

function archiveError(path: string, err: unknown): ZendeskEtlError {
  if (isPermissionError(err)) return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `raw ${path} cannot be written: ${fsReason(err)} (${(err as NodeJS.ErrnoException).code})`, { option: 'raw', path }, { cause: err });
  return new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot write the raw archive file ${path}: ${(err as Error).message}`, { path }, { cause: err });
}
