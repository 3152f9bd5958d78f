import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, ZendeskEtlError, invalidOption } from './errors.js';
import { duckdbConnection, sqlString } from './sink/duckdb-parquet.js';
import { Committer, type CommitStep } from './state/committer.js';
import { fsyncFile } from './state/atomic.js';
import type { ExportState } from './state/state-store.js';

export interface CompactOptions {
  /** The lake folder. */
  out: string;
  /** The state file whose files are compacted. Default `<out>/_state/tickets.json`. */
  statePath?: string;
  /** Compact a folder once it holds at least this many committed files. Default 8. */
  minFiles?: number;
  /** Merge files up to this many bytes together. Default 256 MiB. */
  targetBytes?: number;
  /** For crash-injection tests. */
  onCommitStep?: (step: CommitStep) => void;
}

export interface CompactResult {
  folders: number;
  filesBefore: number;
  filesAfter: number;
  rows: number;
}

/**
 * Merge the small files that incremental runs leave in a folder (one per run and partition) into
 * larger ones, through the same atomic commit as an export: the new file and the state are published
 * and the old files removed in one step, and a crash at any point rolls forward on the next start.
 * Parquet files are merged by DuckDB (the optional @duckdb/node-api); NDJSON files are concatenated.
 * Takes the state's lock, so it never runs beside an export of the same state.
 */
export async function compactLake(opts: CompactOptions): Promise<CompactResult> {
  const minFiles = opts.minFiles ?? 8;
  if (!Number.isInteger(minFiles) || minFiles < 2) throw invalidOption('minFiles', 'a whole number >= 2', opts.minFiles);
  const target = opts.targetBytes ?? 256 * 1024 * 1024;
  const outDir = resolve(opts.out);
  const committer = new Committer({ outDir, statePath: opts.statePath ?? join(outDir, '_state', 'tickets.json'), onStep: opts.onCommitStep });
  const release = await committer.lock();
  try {
    let state = await committer.recover();
    if (!state) throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `no committed state at ${committer.store.path}: nothing to compact`, { path: committer.store.path });
    const byFolder = new Map<string, string[]>();
    for (const f of state.files) byFolder.set(dirname(f), [...(byFolder.get(dirname(f)) ?? []), f]);
    const result: CompactResult = { folders: 0, filesBefore: state.files.length, filesAfter: state.files.length, rows: 0 };
    let seq = 0;
    for (const [folder, files] of byFolder) {
      if (files.length < minFiles) continue;
      const batches = await batchBySize(committer, files, target);
      for (const batch of batches) {
        if (batch.length < 2) continue;
        const ext = batch[0]!.endsWith('.parquet') ? 'parquet' : batch[0]!.slice(batch[0]!.indexOf('.ndjson') + 1);
        const name = `part-compacted-${Date.now().toString(36)}-${String(seq++).padStart(4, '0')}.${ext}`;
        const staged = committer.stagingPath(name);
        const rows = await merge(committer, batch, staged, ext);
        const final = `${folder}/${name}`;
        const at = state.files.indexOf(batch[0]!);
        const files2 = state.files.filter((f) => !batch.includes(f));
        files2.splice(Math.min(at, files2.length), 0, final);
        const next: ExportState = { ...state, files: files2, updatedAt: new Date().toISOString() };
        await committer.commit([{ staged, final, rows, bytes: (await stat(staged)).size }], next, batch);
        state = next;
        result.rows += rows;
      }
      result.folders++;
    }
    result.filesAfter = state.files.length;
    return result;
  } finally {
    await release();
  }
}

async function batchBySize(committer: Committer, files: readonly string[], target: number): Promise<string[][]> {
  const batches: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const f of files) {
    const bytes = (await stat(committer.finalPath(f))).size;
    if (bytes >= target) continue; // already big enough
    if (size + bytes > target && current.length > 0) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(f);
    size += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Merge `files` into `staged`; returns the row count, checked against the inputs. */
async function merge(committer: Committer, files: readonly string[], staged: string, ext: string): Promise<number> {
  const paths = files.map((f) => committer.finalPath(f));
  if (ext === 'parquet') {
    const c = await duckdbConnection();
    const list = `[${paths.map(sqlString).join(', ')}]`;
    const before = Number((await c.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${list}, union_by_name=true)`)).getRows()[0]![0]);
    await c.run(`COPY (SELECT * FROM read_parquet(${list}, union_by_name=true)) TO ${sqlString(staged)} (FORMAT PARQUET, COMPRESSION SNAPPY, ROW_GROUP_SIZE 100000)`);
    const after = Number((await c.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${sqlString(staged)})`)).getRows()[0]![0]);
    if (after !== before) throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `compaction of ${files.length} files gave ${after} rows instead of ${before}; nothing was changed`, { path: staged });
    await fsyncFile(staged);
    return after;
  }
  // NDJSON: the files are concatenated in one pass (gzip members concatenate into a valid gzip file);
  // lines are counted on the way when the files are plain text.
  const out = createWriteStream(staged, { flags: 'wx' });
  let rows = 0;
  const plain = !ext.endsWith('.gz');
  async function* concatenated(): AsyncGenerator<Buffer> {
    for (const p of paths) {
      for await (const chunk of createReadStream(p) as AsyncIterable<Buffer>) {
        if (plain) for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) rows++;
        yield chunk;
      }
    }
  }
  await pipeline(concatenated, out);
  await fsyncFile(staged);
  return rows;
}
