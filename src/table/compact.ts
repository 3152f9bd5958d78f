import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { resolveOptions } from '../options/normalize.js';
import type { RowFileWriter } from '../format/file-writers.js';
import { duckdbConnection, sqlString } from '../format/duckdb-parquet.js';
import { LocalStorage } from '../storage/local-storage.js';
import { openStorage } from '../storage/open-storage.js';
import type { Storage } from '../storage/storage.js';
import { joinKey } from '../storage/storage.js';
import type { DataFile } from './data-file.js';
import type { TableFile } from './delta-log.js';
import { LakeTable, type TableStep } from './lake-table.js';

export interface CompactOptions {
  /** The lake: a folder. */
  out: string | Storage;
  /** The table (a stream's, or a sideload table's). Default 'tickets'. */
  table?: string;
  /** Compact a partition once it holds at least this many files. Default 8. */
  minFiles?: number;
  /** Merge files up to this many bytes together. Default 256 MiB. */
  targetBytes?: number;
  /** For crash-injection tests. */
  onCommitStep?: ((step: TableStep) => void) | undefined;
}

export interface CompactResult {
  partitions: number;
  filesBefore: number;
  filesAfter: number;
  rows: number;
  /** Table versions committed (one per merged file). */
  commits: number;
}

/**
 * Merge the small files that incremental runs leave in a partition (one per run) into larger ones.
 * Each merge is one table commit that removes the small files and adds the merged one, so a reader
 * through the log never sees a row twice or misses one, whatever else writes the table meanwhile.
 * In a folder, the removed files are deleted right after their commit, so a glob reader sees them
 * at most for that moment (or, after a crash there, until the next run's cleanup). Parquet is merged
 * by DuckDB (the optional @duckdb/node-api); NDJSON files are concatenated.
 */
export async function compactTable(opts: CompactOptions): Promise<CompactResult> {
  const r = resolveOptions('compact', { minFiles: opts.minFiles, targetBytes: opts.targetBytes, table: opts.table });
  const minFiles = r.minFiles;
  const target = r.targetBytes;
  const storage: Storage = typeof opts.out === 'string' ? await openStorage(opts.out) : opts.out;
  const name = opts.table ?? 'tickets';
  const table = await LakeTable.open({ storage, name, onStep: opts.onCommitStep });
  try {
    if (!table.snapshot.metaData) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${storage.url}/${name} is not a table (no ${name}/_delta_log/): nothing to compact`, { path: `${storage.url}/${name}` });
    }
    await table.begin('compact');
    const files = [...table.snapshot.files.values()];
    const byFolder = new Map<string, TableFile[]>();
    for (const f of files) byFolder.set(posix.dirname(f.path), [...(byFolder.get(posix.dirname(f.path)) ?? []), f]);
    const result: CompactResult = { partitions: 0, filesBefore: files.length, filesAfter: files.length, rows: 0, commits: 0 };
    for (const group of byFolder.values()) {
      if (group.length < minFiles) continue;
      let merged = false;
      for (const batch of batchBySize(group, target)) {
        if (batch.length < 2) continue;
        const file = await merge(table, batch);
        await table.commit({ operation: 'OPTIMIZE', adds: [file], removes: batch.map((f) => f.path), dataChange: false, parameters: { predicate: '[]', zOrderBy: '[]' } });
        result.rows += file.rows;
        result.commits++;
        merged = true;
      }
      if (merged) result.partitions++;
    }
    result.filesAfter = table.snapshot.files.size;
    return result;
  } finally {
    await table.close();
  }
}

function batchBySize(files: readonly TableFile[], target: number): TableFile[][] {
  const batches: TableFile[][] = [];
  let current: TableFile[] = [];
  let size = 0;
  for (const f of [...files].sort((a, b) => a.modificationTime - b.modificationTime)) {
    if (f.size >= target) continue; // already big enough
    if (size + f.size > target && current.length > 0) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(f);
    size += f.size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** A writer for a file another engine writes whole: it only carries the row count. */
class WrittenWhole implements RowFileWriter {
  rows = 0;
  bytes = 0;
  async write(): Promise<void> {
    throw new Error('a merged file is written whole');
  }
  async close(): Promise<void> {}
  async abort(): Promise<void> {}
}

/** Merge a batch of one partition's files into a new data file of the table (finished, not yet committed). */
async function merge(table: LakeTable, batch: readonly TableFile[]): Promise<DataFile> {
  const storage = table.storage;
  const first = batch[0]!;
  const partitionValue = table.partition ? (Object.values(first.partitionValues)[0] ?? null) : undefined;
  const counter = new WrittenWhole();
  const file = await table.newFile(partitionValue, table.schemaFor([]), async () => counter);
  const local = await localCopies(storage, table.name, batch);
  try {
    if (table.settings.format === 'parquet') {
      const c = await duckdbConnection();
      const list = `[${local.paths.map(sqlString).join(', ')}]`;
      const from = `read_parquet(${list}, union_by_name=true, hive_partitioning=false)`;
      const statCols = file.statsColumns;
      const agg = ['count(*)', ...statCols.flatMap((n) => [`min("${n}")`, `max("${n}")`])].join(', ');
      const before = (await c.runAndReadAll(`SELECT ${agg} FROM ${from}`)).getRows()[0]!;
      await c.run(`COPY (SELECT * FROM ${from}) TO ${sqlString(file.pending.localPath())} (FORMAT PARQUET, COMPRESSION SNAPPY, ROW_GROUP_SIZE 100000)`);
      const after = Number((await c.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(file.pending.localPath())})`)).getRows()[0]![0]);
      if (after !== Number(before[0])) throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `compaction of ${batch.length} files gave ${after} rows instead of ${Number(before[0])}; nothing was changed`, { path: file.pending.where });
      counter.rows = after;
      statCols.forEach((n, i) => {
        const min = before[1 + 2 * i];
        const max = before[2 + 2 * i];
        if (min !== null && max !== null && min !== undefined && max !== undefined) file.recordRange(n, int64(min), int64(max));
      });
    } else {
      // NDJSON: the files are concatenated in one pass (gzip members concatenate into a valid gzip
      // file); lines are counted on the way when the files are plain text.
      const plain = !table.settings.gzip;
      let rows = 0;
      async function* concatenated(): AsyncGenerator<Buffer> {
        for (const p of local.paths) {
          for await (const chunk of createReadStream(p) as AsyncIterable<Buffer>) {
            if (plain) for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) rows++;
            yield chunk;
          }
        }
      }
      await pipeline(concatenated, file.pending.stream());
      const recorded = batch.reduce((n, f) => n + numRecords(f), 0);
      if (plain && rows !== recorded) throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `compaction of ${batch.length} files gave ${rows} rows where the log records ${recorded}; nothing was changed`, { path: file.pending.where });
      counter.rows = recorded;
    }
    await file.finish();
    return file;
  } catch (err) {
    await file.abort();
    throw err;
  } finally {
    await local.cleanup();
  }
}

/** An int64 from DuckDB: a number where that is exact, else a bigint. */
function int64(v: unknown): number | bigint {
  const b = typeof v === 'bigint' ? v : BigInt(String(v));
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function numRecords(f: TableFile): number {
  try {
    return Number((JSON.parse(f.stats ?? '{}') as { numRecords?: unknown }).numRecords ?? 0);
  } catch {
    return 0;
  }
}

/** Local paths of a table's files (a folder's own, or downloaded copies from object storage). */
async function localCopies(storage: Storage, table: string, files: readonly TableFile[]): Promise<{ paths: string[]; cleanup: () => Promise<void> }> {
  if (storage instanceof LocalStorage) return { paths: files.map((f) => storage.path(joinKey(table, f.path))), cleanup: async () => undefined };
  const dir = await mkdtemp(join(tmpdir(), 'zde-compact-'));
  const paths: string[] = [];
  for (const [i, f] of files.entries()) {
    const body = await storage.get(joinKey(table, f.path));
    if (!body) throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `${storage.url}/${table}/${f.path} is in the table's log but not in storage`, { path: f.path });
    const p = join(dir, `${i}-${posix.basename(f.path)}`);
    await writeFile(p, body);
    paths.push(p);
  }
  return { paths, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
