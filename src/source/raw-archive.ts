import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';
import { ErrorCodes, ZendeskEtlError } from '../errors.js';
import { fsyncDir, fsyncFile, writeFileAtomic } from '../state/atomic.js';

/**
 * The raw archive (a bronze layer): each page's bytes, gzipped as they stream by, one file per page.
 * Memory stays bounded: bytes go through gzip to disk chunk by chunk. A page is kept only once it was
 * read completely; a failed attempt's file is deleted.
 *
 * Files: `<dir>/<stream>/page-<watermark before the page, 12 digits>-<run>-<seq>.json.gz`. Sorted by
 * name they are in stream order; a page fetched again after a crash appears twice, and replay skips
 * what it has already delivered (see `ReplaySource`).
 */
export class RawArchive {
  readonly dir: string;
  readonly #run = Date.now().toString(36);
  #seq = 0;
  #current: { tmp: string; final: string; gzip: Gzip; file: WriteStream; done: Promise<void> } | undefined;

  constructor(dir: string, stream = 'tickets') {
    this.dir = join(dir, stream);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Attempts cut off by a crash never became pages.
    for (const f of await readdir(this.dir)) if (f.endsWith('.partial')) await rm(join(this.dir, f), { force: true });
  }

  /** Keep the field catalog beside the pages, so replay types custom fields without Zendesk. */
  async saveFields(fields: unknown): Promise<void> {
    await writeFileAtomic(join(this.dir, 'ticket_fields.json'), JSON.stringify(fields), 0o644);
  }

  /** A new attempt at a page starts: bytes follow. */
  begin(watermark: number): void {
    this.#drop();
    const name = `page-${String(Math.max(0, watermark)).padStart(12, '0')}-${this.#run}-${String(this.#seq++).padStart(6, '0')}.json.gz`;
    const final = join(this.dir, name);
    const tmp = `${final}.partial`;
    const gzip = createGzip({ level: 6 });
    const file = createWriteStream(tmp, { mode: 0o644 });
    const done = pipeline(gzip, file);
    done.catch(() => undefined);
    this.#current = { tmp, final, gzip, file, done };
  }

  /** Bytes of the page in progress. Waits when the disk is slower than the network. */
  async write(chunk: Buffer): Promise<void> {
    const c = this.#current;
    if (!c) return;
    if (!c.gzip.write(chunk)) await new Promise<void>((resolve) => c.gzip.once('drain', resolve));
  }

  /** The page was read completely: keep it. */
  async complete(): Promise<void> {
    const c = this.#current;
    if (!c) return;
    this.#current = undefined;
    c.gzip.end();
    try {
      await c.done;
      await fsyncFile(c.tmp);
      await rename(c.tmp, c.final);
      await fsyncDir(this.dir);
    } catch (err) {
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot write the raw archive file ${c.final}: ${(err as Error).message}`, { path: c.final }, { cause: err });
    }
  }

  /** The attempt failed: forget its bytes. */
  abort(): void {
    this.#drop();
  }

  #drop(): void {
    const c = this.#current;
    if (!c) return;
    this.#current = undefined;
    c.gzip.destroy();
    c.file.destroy();
    void rm(c.tmp, { force: true });
  }
}
