import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ledger, frontier, type Segment } from '../../src/core/delivery.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { METADATA_COLUMNS, TICKET_COLUMNS } from '../../src/schema/ticket-schema.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import { findConflict, type ProposedChange } from '../../src/table/conflicts.js';
import type { CommitSummary } from '../../src/table/delta-log.js';
import { LakeTable, type TableChange, type TableStep } from '../../src/table/lake-table.js';
import { dataFiles, tempDir } from '../helpers.js';
import { readLog } from '../support/lake-oracle.js';

/**
 * One test per named conflict, each raced for real between two writers of one folder table, and
 * each ending in ZDE_COMMIT_CONFLICT with the conflict's name; then the pure checks on their own.
 */

const COLUMNS = [...TICKET_COLUMNS, ...METADATA_COLUMNS];
const seg = (a: number, b: number): Segment => ({ from: frontier(a), to: frontier(b) });

async function open(dir: string, o: { format?: 'parquet' | 'ndjson'; onStep?: (s: TableStep) => void } = {}): Promise<LakeTable> {
  const table = await LakeTable.open({ storage: new LocalStorage(dir), name: 'tickets', stream: 'tickets', settings: { format: o.format ?? 'ndjson' }, onStep: o.onStep });
  // Leases are hints that keep runs of overlapping windows apart; here each writer leases a window
  // of its own, and races the others for real in the log.
  await table.begin('export', { start: 1000 * ++opened, end: 1000 * opened + 1 });
  return table;
}
let opened = 0;

/** A change adding one file with the versions (id, g) for g in [from, to), holding segment [from, to). */
async function append(table: LakeTable, from: number, to: number): Promise<TableChange> {
  const file = await table.newFile(undefined, table.schemaFor(COLUMNS));
  for (let g = from; g < to; g++) await file.write({ id: g, generated_timestamp: g });
  await file.finish();
  return { operation: 'WRITE', adds: [file], segments: [seg(from, to)] };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('named conflicts, raced between two writers', () => {
  it('fenced: a run another run fenced commits nothing, and its file leaves', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    const b = await open(dir);
    await b.commit(await append(b, 0, 10));
    const change = await append(a, 10, 20);
    await b.fence([a.run]);
    await expect(a.commit(change)).rejects.toMatchObject({ code: ErrorCodes.COMMIT_CONFLICT, conflict: 'fenced' });
    const log = await readLog(dir);
    expect(log.rows).toBe(10);
    expect((await dataFiles(join(dir, 'tickets'))).map((f) => f.slice(dir.length + 9))).toEqual(log.files);
    await a.close();
    await b.close();
  });

  it('a commit that lands before the fence stands: the fencing run sees it and keeps its files', async () => {
    const dir = await tempDir();
    // a dies right after its put landed, its lease still naming the file it made visible.
    const a = await open(dir, {
      onStep: (step) => {
        if (step === 'committed') throw new Error('simulated death after the put');
      },
    });
    const fencer = await open(dir);
    await expect(a.commit(await append(a, 0, 10))).rejects.toThrow(/simulated death/);
    await fencer.fence([a.run]);
    const log = await readLog(dir);
    expect(log.rows).toBe(10);
    expect(log.versions).toBe(2); // a's commit, then the fence
    expect((await dataFiles(join(dir, 'tickets'))).length).toBe(1);
    // Fenced now: a's next commit is refused, and nothing changes.
    const next = await append(a, 10, 20);
    await expect(a.commit(next)).rejects.toMatchObject({ conflict: 'fenced' });
    expect((await readLog(dir)).rows).toBe(10);
    expect((await dataFiles(join(dir, 'tickets'))).length).toBe(1);
    await a.close();
    await fencer.close();
  });

  it('concurrent-append: a winner committed versions this change holds too', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    const b = await open(dir);
    await b.commit(await append(b, 5, 15));
    await expect(a.commit(await append(a, 0, 10))).rejects.toMatchObject({ code: ErrorCodes.COMMIT_CONFLICT, conflict: 'concurrent-append' });
    expect((await readLog(dir)).rows).toBe(10);
    expect((await dataFiles(join(dir, 'tickets'))).length).toBe(1);
    await a.close();
    await b.close();
  });

  it('file-already-removed: a file this change removes was removed by a winner', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    await first.commit(await append(first, 0, 10));
    await first.close();
    const a = await open(dir);
    const b = await open(dir);
    const [path] = [...a.snapshot.files.keys()];
    await b.commit({ operation: 'DELETE', removes: [path!], dataChange: true });
    await expect(a.commit({ operation: 'OPTIMIZE', removes: [path!], dataChange: false })).rejects.toMatchObject({ code: ErrorCodes.COMMIT_CONFLICT, conflict: 'file-already-removed' });
    await a.close();
    await b.close();
  });

  it('reset-raced-write: a reset built before a write gives up, or is built again from the new table', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    await first.commit(await append(first, 0, 10));
    await first.close();
    const reset = await open(dir);
    const writer = await open(dir);
    const stale: TableChange = { operation: 'DELETE', removes: [...reset.snapshot.files.keys()], reset: true };
    await writer.commit(await append(writer, 10, 20));
    await expect(reset.commit(stale)).rejects.toMatchObject({ code: ErrorCodes.COMMIT_CONFLICT, conflict: 'reset-raced-write' });
    expect((await readLog(dir)).rows).toBe(20);
    // Built again from the table as it now stands: every file goes, and every segment is forgotten.
    await reset.commit({ ...stale, rederive: (s) => ({ operation: 'DELETE', removes: [...s.files.keys()], reset: true }) });
    expect((await readLog(dir)).rows).toBe(0);
    expect(reset.ledger().segments).toEqual([]);
    expect(await dataFiles(join(dir, 'tickets'))).toEqual([]);
    await reset.close();
    await writer.close();
  });

  it('metadata-changed: a winner created the table with other settings', async () => {
    const dir = await tempDir();
    const a = await open(dir, { format: 'ndjson' });
    const b = await open(dir, { format: 'parquet' });
    const change = await append(a, 0, 10);
    await b.commit(await append(b, 0, 10));
    await expect(a.commit(change)).rejects.toMatchObject({ code: ErrorCodes.COMMIT_CONFLICT, conflict: 'metadata-changed' });
    const log = await readLog(dir);
    expect(log.files.every((f) => f.endsWith('.parquet'))).toBe(true);
    expect(await exists(join(dir, 'tickets', change.adds![0]!.path))).toBe(false);
    await a.close();
    await b.close();
  });
});

describe('findConflict (pure)', () => {
  const view = { where: 'lake/tickets', files: new Set(['a.ndjson']), fenced: new Set<string>(), ledger: new Ledger([seg(0, 10)]), metaData: undefined };
  const change: ProposedChange = { run: 'r1', segments: [seg(10, 20)], removes: [], addColumns: [], reset: false, configuration: undefined, partitionColumns: [] };
  const winner = (o: Partial<CommitSummary>): CommitSummary => ({ version: 3, run: 'r2', operation: 'WRITE', adds: [], removes: [], segments: [], reset: false, fences: [], metaData: undefined, ...o });

  it('finds nothing when the change still holds', () => {
    expect(findConflict(view, [winner({ adds: ['b.ndjson'], segments: [seg(30, 40)] })], change)).toBeUndefined();
  });

  it('names each conflict', () => {
    expect(findConflict(view, [winner({ fences: ['r1'] })], change)?.name).toBe('fenced');
    expect(findConflict({ ...view, fenced: new Set(['r1']) }, [], change)?.name).toBe('fenced');
    expect(findConflict(view, [], { ...change, segments: [seg(5, 15)] })?.name).toBe('concurrent-append');
    expect(findConflict(view, [winner({ removes: ['x.ndjson'] })], { ...change, removes: ['x.ndjson'] })?.name).toBe('file-already-removed');
    expect(findConflict(view, [winner({ adds: ['b.ndjson'] })], { ...change, segments: [], reset: true })?.name).toBe('reset-raced-write');
  });

  it('a reset racing only a fence, or a compaction racing an append, is no conflict', () => {
    expect(findConflict(view, [winner({ fences: ['r9'] })], { ...change, segments: [], reset: true })).toBeUndefined();
    expect(findConflict(view, [winner({ adds: ['b.ndjson'], segments: [seg(30, 40)] })], { ...change, segments: [], removes: ['a.ndjson'] })).toBeUndefined();
  });
});
