import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Checkpoint } from '../core/checkpoint.js';
import { compare, contains, frontier, union, type ExportRange } from '../core/delivery.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { CustomField } from '../schema/custom-fields.js';
import { ExportStats } from '../core/stats.js';
import { streamSpec, type StreamSpec } from '../streams.js';
import { PullSource } from './pull-source.js';
import { createPageParser, type PageEvent, type ParserKind } from './page-parser.js';
import type { ExportPosition } from '../core/position.js';
import { PAGE_FILE, type RawPageRecord } from './raw-archive.js';
import type { ZendeskTicket } from '../schema/zendesk-ticket.js';
import { OPTION_DEFAULTS } from '../options/table.js';

export interface ReplaySourceOptions {
  /** The `--raw` folder an export wrote. */
  dir: string;
  stream?: string;
  /** The ranges to replay, in order (from `LakeTable.plan()`). Default: everything. */
  ranges?: readonly ExportRange[];
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

interface ArchivedPage {
  path: string;
  record: RawPageRecord;
}

/**
 * Record versions from a raw archive, as the live export delivered them: from each page, exactly
 * the versions its record says the export took (past the page's start, up to what it reached,
 * within the window it exported), each once however many times the page was fetched, and only
 * those a range still needs. A checkpoint follows each page. Where the archive has a hole (pages
 * never archived), the range stops there and goes on after it, so the table never claims what the
 * archive did not hold. Nothing calls Zendesk.
 */
export class ReplaySource extends PullSource<ZendeskTicket | Checkpoint> {
  readonly stats: ExportStats;
  readonly #o: ReplaySourceOptions;
  readonly #spec: StreamSpec;
  #position: ExportPosition;
  #complete = false;

  constructor(opts: ReplaySourceOptions) {
    super();
    this.#o = opts;
    this.#spec = streamSpec(opts.stream ?? OPTION_DEFAULTS.stream);
    this.stats = opts.stats ?? new ExportStats();
    const first = opts.ranges?.[0]?.from ?? frontier(0);
    this.#position = { mode: 'time', from: first, reached: first, done: false };
  }

  /** Where the replay stands in the range it replays. */
  position(): ExportPosition {
    return this.#position;
  }

  get complete(): boolean {
    return this.#complete;
  }

  async #pages(): Promise<ArchivedPage[]> {
    const dir = join(this.#o.dir, this.#spec.name);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `no raw archive at ${dir}: ${(err as Error).message}`, { path: dir });
    }
    const pages: ArchivedPage[] = [];
    const bare: string[] = [];
    for (const name of names.filter((n) => PAGE_FILE.test(n)).sort()) {
      const path = join(dir, name);
      let record: RawPageRecord;
      try {
        record = JSON.parse(await readFile(path.replace(/\.json\.gz$/, '.meta.json'), 'utf8')) as RawPageRecord;
      } catch {
        bare.push(name);
        continue;
      }
      pages.push({ path, record });
    }
    if (pages.length === 0 && bare.length > 0) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the raw archive ${dir} holds pages without records of what was delivered from them (written by zendesk-etl 0.1); replay it with that version`, { path: dir });
    }
    // Stream order: by where each page started, then by when it was fetched.
    pages.sort((a, b) => a.record.from.at - b.record.from.at || a.record.fetchedAt - b.record.fetchedAt || (a.path < b.path ? -1 : 1));
    return pages;
  }

  protected override async produce(): Promise<void> {
    const pages = await this.#pages();
    const ranges = this.#o.ranges ?? [{ from: frontier(0) }];
    for (const range of ranges) {
      let from = range.from;
      let reached = range.from;
      const emit = async (done: boolean): Promise<void> => {
        this.#position = { mode: 'time', from, to: range.to, reached, done };
        await this.deliver(new Checkpoint(this.#spec.name, this.#position, this.stats.pages));
      };
      for (const page of pages) {
        const rec = page.record;
        if (range.to && !(compare(rec.from, range.to) < 0)) break; // starts at or past the range's end
        const c = compare(rec.to, reached);
        if (c === 0 || c === -1) continue; // nothing this range lacks
        if (compare(rec.from, reached) === 1 || Number.isNaN(compare(rec.from, reached))) {
          // A hole: the archive lacks what lies between. Close what was replayed, go on after it.
          if (compare(reached, from) === 1) await emit(false);
          from = rec.from;
          reached = rec.from;
        }
        const floor = reached;
        const until = range.to && compare(range.to, rec.to) < 0 ? range.to : rec.to;
        const end = range.to;
        await this.#page(
          page,
          (id, g) => contains(until, id, g) && !contains(floor, id, g) && !contains(range.from, id, g),
          (id, g) => end !== undefined && !contains(end, id, g),
        );
        reached = union(reached, until);
        this.stats.pages++;
        this.stats.watermark = Math.max(this.stats.watermark, reached.at);
        await emit(false);
      }
      await emit(true);
    }
    this.#complete = true;
  }

  async #page(page: ArchivedPage, wanted: (id: number, g: number) => boolean, beyond: (id: number, g: number) => boolean): Promise<void> {
    const pending: PageEvent[] = [];
    const parser = createPageParser(this.#o.parser ?? OPTION_DEFAULTS.parser, pending);
    const gunzip = createGunzip();
    const piped = pipeline(createReadStream(page.path), gunzip);
    piped.catch(() => undefined); // the same failure surfaces on `gunzip` below
    const seen = new Set<string>();
    const key = this.#spec.key;
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        this.stats.bytes += chunk.length;
        parser.write(chunk);
        for (const ev of pending) {
          if (ev.kind !== 'element' || ev.key !== key) continue;
          const t = ev.value as ZendeskTicket;
          const g = t !== null && typeof t === 'object' ? this.#spec.version(t) : undefined;
          if (g === undefined || !Number.isInteger(t.id)) continue;
          const k = `${t.id}:${g}`;
          if (!wanted(t.id, g) || seen.has(k)) {
            if (beyond(t.id, g)) this.stats.beyondEnd++;
            else this.stats.duplicatesSkipped++;
            continue;
          }
          seen.add(k);
          this.stats.tickets++;
          await this.deliver(t);
        }
        pending.length = 0;
      }
      parser.end();
      await piped;
    } catch (err) {
      const e = err as ZendeskEtlError;
      throw new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `the raw page ${page.path} cannot be read: ${e.message}`, { path: page.path, byteOffset: e.byteOffset }, { cause: err });
    }
  }
}

