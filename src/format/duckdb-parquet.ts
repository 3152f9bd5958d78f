import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { TicketRow } from '../flatten/flatten.js';
import { toJsonText } from '../flatten/json-line.js';
import { EXTRA_COLUMN, type Column, type ColumnType } from '../schema/ticket-schema.js';
import type { PendingFile } from '../storage/storage.js';
import { DEFAULT_CODEC, NdjsonWriter, writeError, type ParquetOptions, type RowFileWriter, type RowFormat } from './file-writers.js';
import { ROW_GROUP_ROWS } from '../options/table.js';

/**
 * Parquet written by DuckDB (an optional engine: `npm install @duckdb/node-api`). Rows stream to an
 * NDJSON file beside the target, already shaped to the schema (unknown keys folded into `_extra`);
 * when the file closes, DuckDB's native `COPY ... TO (FORMAT PARQUET)` turns it into Parquet with the
 * same column types as the default engine. It is several times faster than parquetjs-lite, at the
 * cost of DuckDB's memory while a file is converted.
 */

/**
 * Timestamps are TIMESTAMPTZ: read from their ISO-8601 UTC text, written as TIMESTAMP(MICROS,
 * isAdjustedToUTC=true), the instant Delta's `timestamp` means (a naive TIMESTAMP reads as
 * `timestamp_ntz` in Spark and delta-rs).
 */
const DUCK_TYPES: Record<ColumnType, string> = {
  int64: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  text: 'VARCHAR',
  json: 'VARCHAR',
  timestamp: 'TIMESTAMPTZ',
  date: 'DATE',
  'list<int64>': 'BIGINT[]',
  'list<text>': 'VARCHAR[]',
};

/** What this package uses of a DuckDB connection (so its types never require DuckDB to be installed). */
export interface DuckConnection {
  run(sql: string): Promise<unknown>;
  runAndReadAll(sql: string): Promise<{ getRows(): unknown[][] }>;
}

let shared: Promise<DuckConnection> | undefined;

/** One shared in-process DuckDB connection (the optional @duckdb/node-api package). */
export async function duckdbConnection(): Promise<DuckConnection> {
  return connection();
}

async function connection(): Promise<DuckConnection> {
  shared ??= (async () => {
    let api: typeof import('@duckdb/node-api');
    try {
      api = await import('@duckdb/node-api');
    } catch (err) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, 'the duckdb Parquet engine needs the optional package @duckdb/node-api: npm install @duckdb/node-api', { option: 'parquetEngine' }, { cause: err });
    }
    const db = await api.DuckDBInstance.create(':memory:', { threads: '2', memory_limit: '2GB', preserve_insertion_order: 'true' });
    const conn = await db.connect();
    // A naive TIMESTAMP (files of parquetjs-lite) read beside instants (TIMESTAMPTZ) is cast as UTC, not
    // as the host's local time, when a table's files are compacted.
    await conn.run(`SET TimeZone = 'UTC'`);
    return conn;
  })();
  return shared;
}

export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

export class DuckDbParquetFormat implements RowFormat {
  readonly name = 'parquet';
  readonly extension = 'parquet';
  readonly #opts: ParquetOptions;

  constructor(opts: ParquetOptions = {}) {
    this.#opts = opts;
  }

  async open(file: PendingFile, columns: readonly Column[]): Promise<RowFileWriter> {
    await connection(); // fail at open, with a clear message, when DuckDB is not installed
    const path = file.localPath();
    const tmp = `${path}.ndjson`;
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
    let failed: Error | undefined;
    out.on('error', (err) => {
      failed = err;
    });
    const check = (): void => {
      if (failed) throw writeError(tmp, failed);
    };
    const inner = new NdjsonWriter(out, check, tmp, false);
    const all = [...columns.filter((c) => c.name !== EXTRA_COLUMN.name), EXTRA_COLUMN];
    const known = new Set(all.map((c) => c.name));
    // The default engine's (legacy, repeated) lists cannot hold null: store a null list as [] here too.
    const lists = all.filter((c) => c.type.startsWith('list<')).map((c) => c.name);
    // Required columns (`id`) are NOT NULL: checked here, since DuckDB's Parquet writer (1.5) marks
    // every column OPTIONAL, even one declared NOT NULL in a table (duckdb/duckdb#22144).
    const required = all.filter((c) => c.required === true).map((c) => c.name);
    const rowGroup = this.#opts.rowGroupSize ?? ROW_GROUP_ROWS.duckdb;
    const codec = this.#opts.compression ?? DEFAULT_CODEC;
    return {
      get rows() {
        return inner.rows;
      },
      get bytes() {
        return inner.bytes;
      },
      async write(row: TicketRow): Promise<void> {
        for (const name of required) {
          if (row[name] === null || row[name] === undefined) throw writeError(path, new Error(`column ${name} is required (NOT NULL), and a row has none`));
        }
        let extra: TicketRow | undefined;
        for (const key in row) if (!known.has(key)) (extra ??= {})[key] = row[key]!;
        const shaped: TicketRow = {};
        for (const key in row) if (known.has(key)) shaped[key] = row[key]!;
        for (const name of lists) shaped[name] ??= [];
        if (extra) shaped._extra = toJsonText(extra);
        await inner.write(shaped);
      },
      async close(): Promise<void> {
        await inner.close();
        if (!out.closed) await once(out, 'close');
        check();
        const spec = all.map((c) => `${sqlString(c.name)}: ${sqlString(DUCK_TYPES[c.type])}`).join(', ');
        const select = all.map((c) => `"${c.name.replaceAll('"', '""')}"`).join(', ');
        try {
          const c = await connection();
          await c.run(
            `COPY (SELECT ${select} FROM read_json(${sqlString(tmp)}, format='newline_delimited', columns={${spec}}, maximum_object_size=67108864)) ` +
              `TO ${sqlString(path)} (FORMAT PARQUET, COMPRESSION ${codec}, ROW_GROUP_SIZE ${rowGroup})`,
          );
        } catch (err) {
          throw writeError(path, err);
        } finally {
          await rm(tmp, { force: true });
        }
      },
      async abort(): Promise<void> {
        await inner.abort();
        out.destroy();
        await rm(tmp, { force: true });
      },
    };
  }
}
