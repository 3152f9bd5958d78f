import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Checkpoint } from '../checkpoint.js';
import { ErrorCodes, ZendeskEtlError } from '../errors.js';
import type { CustomField } from '../schema/custom-fields.js';
import { ExportStats } from '../stats.js';
import { PullSource } from './pull-source.js';
import { createPageParser, type PageEvent, type ParserKind } from './page-parser.js';
import type { ExportPosition } from './pagination.js';
import type { ZendeskTicket } from './ticket-source.js';

export interface ReplaySourceOptions {
  /** The `--raw` folder an export wrote. */
  dir: string;
  stream?: string;
  /** Resume after the page file named in `position.cursor`. */
  position?: ExportPosition;
  parser?: ParserKind;
  stats?: ExportStats;
}

/** The custom fields saved beside a raw archive (undefined when the archive has none). */
export async function readArchivedFields(dir: string, stream = 'tickets'): Promise<CustomField[] | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, stream, 'ticket_fields.json'), 'utf8')) as CustomField[];
  } catch {
    return undefined;
  }
}

/**
 * Tickets from a raw archive, in stream order, as the live source would have delivered them: a
 * checkpoint after each page file, and each version once. Pages are ordered by generated_timestamp,
 * so a version older than the watermark, or at it and already seen, was delivered before (a page
 * fetched twice around a crash). Nothing calls Zendesk.
 */
export class ReplaySource extends PullSource<ZendeskTicket | Checkpoint> {
  readonly stats: ExportStats;
  readonly #o: ReplaySourceOptions;
  #watermark: number;
  #boundary: Set<number>;
  #lastFile: string | undefined;
  #done = false;

  constructor(opts: ReplaySourceOptions) {
    super(16);
    this.#o = opts;
    this.stats = opts.stats ?? new ExportStats();
    this.#watermark = opts.position?.watermark ?? -1;
    this.#boundary = new Set(opts.position?.boundary ?? []);
    this.#lastFile = opts.position?.cursor;
  }

  position(): ExportPosition {
    return { mode: 'time', cursor: this.#lastFile, startTime: Math.max(0, this.#watermark), watermark: this.#watermark, boundary: [...this.#boundary], done: this.#done };
  }

  protected override async produce(): Promise<void> {
    const dir = join(this.#o.dir, this.#o.stream ?? 'tickets');
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /^page-\d{12}-[a-z0-9]+-\d{6}\.json\.gz$/.test(n)).sort();
    } catch (err) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `no raw archive at ${dir}: ${(err as Error).message}`, { path: dir });
    }
    const todo = this.#lastFile === undefined ? names : names.filter((n) => n > this.#lastFile!);
    if (todo.length === 0) {
      this.#done = true;
      await this.deliver(new Checkpoint(this.#o.stream ?? 'tickets', this.position(), 0));
      return;
    }
    for (const [i, name] of todo.entries()) {
      await this.#page(join(dir, name));
      this.#lastFile = name;
      this.#done = i === todo.length - 1;
      this.stats.pages++;
      this.stats.watermark = this.#watermark;
      await this.deliver(new Checkpoint(this.#o.stream ?? 'tickets', this.position(), this.stats.pages));
    }
  }

  async #page(path: string): Promise<void> {
    const pending: PageEvent[] = [];
    const parser = createPageParser(this.#o.parser ?? 'scan', pending);
    const gunzip = createGunzip();
    const piped = pipeline(createReadStream(path), gunzip);
    piped.catch(() => undefined); // the same failure surfaces on `gunzip` below
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        this.stats.bytes += chunk.length;
        parser.write(chunk);
        for (const ev of pending) if (ev.kind === 'element' && ev.key === 'tickets') await this.#ticket(ev.value as ZendeskTicket);
        pending.length = 0;
      }
      parser.end();
      await piped;
    } catch (err) {
      const e = err as ZendeskEtlError;
      throw new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `the raw page ${path} cannot be read: ${e.message}`, { path, byteOffset: e.byteOffset }, { cause: err });
    }
  }

  async #ticket(t: ZendeskTicket): Promise<void> {
    const g = t.generated_timestamp;
    if (g < this.#watermark || (g === this.#watermark && this.#boundary.has(t.id))) {
      this.stats.duplicatesSkipped++;
      return;
    }
    if (g > this.#watermark) {
      this.#watermark = g;
      this.#boundary.clear();
    }
    this.#boundary.add(t.id);
    this.stats.tickets++;
    await this.deliver(t);
  }
}
