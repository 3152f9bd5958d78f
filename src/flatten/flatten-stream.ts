import { Transform, type TransformCallback } from 'node:stream';
import { SideloadRecord, isCheckpoint, isSideload, type Item } from '../core/checkpoint.js';
import type { FieldCatalog } from '../schema/custom-fields.js';
import type { ZendeskTicket } from '../schema/zendesk-ticket.js';
import { ExportStats } from '../core/stats.js';
import type { Column, ColumnType } from '../schema/ticket-schema.js';
import { flattenRecord, type TicketRow } from './flatten.js';
import { OBJECT_HIGH_WATER_MARK } from '../core/flow.js';

export interface FlattenOptions {
  /** Custom ticket fields (tickets only). */
  catalog?: FieldCatalog;
  /** The stream's documented columns. Default: tickets. */
  columns?: readonly Column[];
  /** Flatten sideload rows too, each with its table's columns (they stay `SideloadRecord`s). */
  sideloadColumns?: (table: string) => readonly Column[];
  /** Re-read the field catalog when a ticket carries a custom field it does not know. */
  refreshCatalog?: () => Promise<void>;
  /** Drop versions whose updated_at is older than this (Unix seconds): `--exclude-system-updates`. */
  excludeUpdatedBefore?: number;
  stats?: ExportStats;
  /** Default: now. */
  extractedAt?: Date;
}

/**
 * The flatten stage: tickets in, rows out, checkpoints and sideload rows passed through in order.
 * A custom field created mid-run triggers one catalog refresh, so its column gets its real type; a
 * field the refreshed catalog still does not list (a deleted field) gets a JSON text column.
 */
export class FlattenStream extends Transform {
  readonly #opts: FlattenOptions;
  readonly #stats: ExportStats;
  readonly #extractedAt: string;
  readonly #tried = new Set<number>();
  readonly #types: ReadonlyMap<string, ColumnType> | undefined;
  readonly #sideloadTypes = new Map<string, ReadonlyMap<string, ColumnType>>();

  constructor(opts: FlattenOptions) {
    super({ objectMode: true, highWaterMark: OBJECT_HIGH_WATER_MARK });
    this.#opts = opts;
    this.#stats = opts.stats ?? new ExportStats();
    this.#extractedAt = (opts.extractedAt ?? new Date()).toISOString();
    this.#types = opts.columns ? new Map(opts.columns.map((c) => [c.name, c.type])) : undefined;
  }

  #sideload(item: SideloadRecord): SideloadRecord {
    const columnsOf = this.#opts.sideloadColumns;
    if (!columnsOf) return item;
    let types = this.#sideloadTypes.get(item.table);
    if (!types) {
      types = new Map(columnsOf(item.table).map((c) => [c.name, c.type]));
      this.#sideloadTypes.set(item.table, types);
    }
    return new SideloadRecord(item.table, flattenRecord(item.record, { extractedAt: this.#extractedAt, types }).row);
  }

  override _transform(item: Item<ZendeskTicket>, _enc: BufferEncoding, callback: TransformCallback): void {
    if (isCheckpoint(item)) {
      callback(null, item);
      return;
    }
    if (isSideload(item)) {
      callback(null, this.#sideload(item));
      return;
    }
    const before = this.#opts.excludeUpdatedBefore;
    if (before !== undefined && typeof item.updated_at === 'string' && Date.parse(item.updated_at) < before * 1000) {
      this.#stats.systemUpdatesExcluded++;
      callback();
      return;
    }
    const ctx = { catalog: this.#opts.catalog, extractedAt: this.#extractedAt, types: this.#types };
    let result = flattenRecord(item, ctx);
    if (result.unknownFields.length === 0) {
      this.#done(result.row, result.rejects, callback);
      return;
    }
    const fresh = result.unknownFields.filter((id) => !this.#tried.has(id));
    if (fresh.length > 0 && this.#opts.refreshCatalog) {
      for (const id of fresh) this.#tried.add(id);
      this.#opts.refreshCatalog().then(
        () => {
          result = flattenRecord(item, ctx);
          this.#keepDeleted(result.unknownFields);
          this.#done(result.row, result.rejects, callback);
        },
        (err: unknown) => callback(err as Error),
      );
      return;
    }
    this.#keepDeleted(result.unknownFields);
    this.#done(result.row, result.rejects, callback);
  }

  /**
   * Ids still unknown after a re-read of the catalog (or with no way to re-read it) are fields
   * `GET /ticket_fields` does not list: deleted ones. Each gets its column, `custom_fields__<id>` as JSON
   * text (the row already holds that value), before the row reaches the sink, which then widens its
   * schema (the catalog's version moved) instead of folding the value into `_extra`.
   */
  #keepDeleted(ids: readonly number[]): void {
    const catalog = this.#opts.catalog;
    if (!catalog) return;
    for (const id of ids) catalog.addDeleted(id);
  }

  #done(row: TicketRow, rejects: number, callback: TransformCallback): void {
    if (rejects > 0) {
      this.#stats.rejects += rejects;
      // Reported, never fatal: the value is kept raw in _rejects.
      this.emit('reject', { id: row.id, rejects: row._rejects });
    }
    callback(null, row);
  }
}
