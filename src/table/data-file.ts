import type { TicketRow } from '../flatten/flatten.js';
import { toJsonText } from '../flatten/json-line.js';
import type { Column } from '../schema/ticket-schema.js';
import type { RowFileWriter } from '../format/file-writers.js';
import type { PendingFile } from '../storage/storage.js';

/** Int64 columns whose min and max go into a file's Delta stats (for readers' data skipping). */
const STATS_COLUMNS = ['id', 'generated_timestamp', 'ticket_id', 'timestamp'];

/**
 * One data file of a table being written: the format's writer over a pending file, with the row
 * count and the min and max of a few columns kept on the way for the file's Delta stats.
 */
export class DataFile {
  /** Path inside the table (`updated_at_month=2024-05/part-....parquet`). */
  readonly path: string;
  readonly partitionValues: Record<string, string | null>;
  readonly columns: readonly Column[];
  readonly pending: PendingFile;
  readonly #writer: RowFileWriter;
  readonly #stats: { name: string; min: number | bigint; max: number | bigint }[];
  #size = 0;

  constructor(path: string, partitionValues: Record<string, string | null>, columns: readonly Column[], pending: PendingFile, writer: RowFileWriter) {
    this.path = path;
    this.partitionValues = partitionValues;
    this.columns = columns;
    this.pending = pending;
    this.#writer = writer;
    const int64 = new Set(columns.filter((c) => c.type === 'int64').map((c) => c.name));
    this.#stats = STATS_COLUMNS.filter((n) => int64.has(n)).map((name) => ({ name, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY }));
  }

  get rows(): number {
    return this.#writer.rows;
  }

  /** Bytes so far (encoded, or handed to the encoder). */
  get bytes(): number {
    return this.#writer.bytes;
  }

  /** The size once finished. */
  get size(): number {
    return this.#size;
  }

  /** For a file written whole by another engine (compaction): the min and max it holds of a column. */
  recordRange(name: string, min: number | bigint, max: number | bigint): void {
    const s = this.#stats.find((x) => x.name === name);
    if (!s) return;
    if (min < s.min) s.min = min;
    if (max > s.max) s.max = max;
  }

  /** The int64 columns this file keeps min/max stats of. */
  get statsColumns(): string[] {
    return this.#stats.map((s) => s.name);
  }

  async write(row: TicketRow): Promise<void> {
    for (const s of this.#stats) {
      const v = row[s.name];
      if (typeof v === 'number' || typeof v === 'bigint') {
        if (v < s.min) s.min = v;
        if (v > s.max) s.max = v;
      }
    }
    await this.#writer.write(row);
  }

  /** Finish encoding, then make the file durable (fsynced, or uploaded). */
  async finish(): Promise<void> {
    await this.#writer.close();
    this.#size = await this.pending.finish();
  }

  async abort(): Promise<void> {
    await this.#writer.abort().catch(() => undefined);
    await this.pending.abort();
  }

  /** Delta `add.stats`: the row count, and min/max of the id and version columns. */
  stats(): string {
    const minValues: Record<string, number | bigint> = {};
    const maxValues: Record<string, number | bigint> = {};
    for (const s of this.#stats) {
      if (s.min > s.max) continue;
      minValues[s.name] = s.min;
      maxValues[s.name] = s.max;
    }
    return `{"numRecords":${this.rows},"minValues":${toJsonText(minValues)},"maxValues":${toJsonText(maxValues)}}`;
  }
}
