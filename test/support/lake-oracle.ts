import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { MockZendesk } from '../../src/mock/server.js';
import { dataFiles, deltaVersions, lakeVersions } from '../helpers.js';

/**
 * The lake oracle: what a table holds, read with no code of the package (one replay of its Delta log,
 * over a folder or S3), and one check that a set of versions holds each wanted one exactly once.
 */

/** A table's log replayed: its versions, active files, files removed (and not added again), committed rows and commits. */
export interface LogReplay {
  versions: number;
  files: string[];
  removed: string[];
  rows: number;
  commits: Record<string, unknown>[];
}

/** Replay the texts of a table's log versions, oldest first. */
export function replayLog(versions: readonly string[]): LogReplay {
  const files = new Map<string, number>();
  const removed = new Set<string>();
  const commits: Record<string, unknown>[] = [];
  for (const text of versions) {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const a = JSON.parse(line) as { add?: { path: string; stats?: string }; remove?: { path: string }; commitInfo?: Record<string, unknown> };
      if (a.add) {
        files.set(a.add.path, Number((JSON.parse(a.add.stats ?? '{}') as { numRecords?: number }).numRecords ?? 0));
        removed.delete(a.add.path);
      }
      if (a.remove) {
        files.delete(a.remove.path);
        removed.add(a.remove.path);
      }
      if (a.commitInfo) commits.push(a.commitInfo);
    }
  }
  return { versions: versions.length, files: [...files.keys()].sort(), removed: [...removed].sort(), rows: [...files.values()].reduce((s, n) => s + n, 0), commits };
}

/** A table's log in a folder lake (`<out>/<table>/_delta_log`). */
export async function readLog(out: string, table = 'tickets'): Promise<LogReplay> {
  const dir = join(out, table, '_delta_log');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^\d{20}\.json$/.test(n)).sort();
  } catch {
    return replayLog([]);
  }
  return replayLog(await Promise.all(names.map((name) => readFile(join(dir, name), 'utf8'))));
}

/** A table's log in S3 (`s3://bucket/tableKey/_delta_log`). */
export async function readS3Log(bucket: string, tableKey: string): Promise<LogReplay> {
  // Loaded only here: the S3 helpers bring the AWS SDK and chDB.
  const { getObject, listObjects } = await import('./s3-lake.js');
  const { s3Client } = await import('./services.js');
  const names = (await listObjects(bucket, `${tableKey}/_delta_log/`)).map((o) => o.key).filter((k) => /\/\d{20}\.json$/.test(k));
  const client = s3Client();
  try {
    const texts: string[] = [];
    for (const key of names) texts.push((await getObject(bucket, key, client)).toString('utf8'));
    return replayLog(texts);
  } finally {
    client.destroy();
  }
}

/** Rows the table's log says are committed. */
export async function committedRows(out: string, table = 'tickets'): Promise<number> {
  return (await readLog(out, table)).rows;
}

/**
 * Each wanted `id:version` once: what is missing, what came more than once, and what is not known
 * (`known`: the versions that may be there, by default the wanted ones).
 */
export function exactly(got: readonly string[], want: readonly string[], known: readonly string[] = want): { missing: string[]; duplicates: string[]; unknown: string[]; count: number } {
  const seen = new Map<string, number>();
  for (const k of got) seen.set(k, (seen.get(k) ?? 0) + 1);
  const wanted = new Set(want);
  const allowed = new Set(known);
  return {
    missing: [...wanted].filter((k) => !seen.has(k)),
    duplicates: [...seen].filter(([, n]) => n > 1).map(([k]) => k),
    unknown: [...seen.keys()].filter((k) => !allowed.has(k)),
    count: got.length,
  };
}

type Version = { id: number; generated_timestamp: number };
const keyOf = (v: Version): string => `${v.id}:${v.generated_timestamp}`;

/** `exactly` against the stand-in's versions (`history`: every version it ever had, which may be there too). */
export function checkExactlyOnce(got: readonly string[], expected: readonly Version[], history?: readonly Version[]): { missing: string[]; duplicates: string[]; unknown: string[] } {
  const { missing, duplicates, unknown } = exactly(got, expected.map(keyOf), (history ?? expected).map(keyOf));
  return { missing, duplicates, unknown };
}

/**
 * The table holds every version the stand-in has once, as a glob reader (DuckDB) and, for Parquet,
 * a Delta reader (chDB) see it; and the data files on disk are exactly those its log holds.
 * With `scope`, only the versions of that window are expected (and nothing else may be there).
 */
export async function expectTableExact(out: string, mock: MockZendesk, opts: { format?: 'parquet' | 'ndjson'; scope?: { startTime?: number; endTime?: number } } = {}): Promise<void> {
  const format = opts.format ?? 'parquet';
  const want = mock.expectedTickets(opts.scope ?? {});
  const reads: [string, string[]][] = [['glob', await lakeVersions(out, format)]];
  if (format === 'parquet') reads.push(['delta', await deltaVersions(out)]);
  for (const [reader, got] of reads) {
    const r = checkExactlyOnce(got, want, opts.scope ? want : mock.history);
    expect({ reader, missing: r.missing.slice(0, 5), duplicates: r.duplicates.slice(0, 5), unknown: r.unknown.slice(0, 5) }).toEqual({ reader, missing: [], duplicates: [], unknown: [] });
  }
  const onDisk = (await dataFiles(join(out, 'tickets'))).map((f) => f.slice(join(out, 'tickets').length + 1)).sort();
  expect(onDisk).toEqual((await readLog(out)).files);
}
