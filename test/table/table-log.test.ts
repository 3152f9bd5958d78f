/**
 * Reading a table's log: commits are read many at a time (an object store answers each GET in tens of
 * ms) and applied in order; a gap or a failed read stops with a clear error, never a half-read snapshot
 * taken for whole, and never an unhandled rejection.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { commitKey, type Action } from '../../src/table/delta-log.js';
import { TableLog } from '../../src/table/table-log.js';
import { tempDir } from '../helpers.js';

const commit = (v: number): Action[] => [
  { add: { path: `part-${v}.parquet`, partitionValues: {}, size: 100 + v, modificationTime: 1, dataChange: true } },
  { commitInfo: { timestamp: v, operation: 'WRITE' } },
];

async function logOf(versions: number): Promise<{ dir: string; storage: LocalStorage }> {
  const dir = await tempDir();
  const storage = new LocalStorage(dir);
  const writer = new TableLog(storage, 'tickets');
  for (let v = 0; v < versions; v++) expect(await writer.tryCommit(commit(v))).toBe(true);
  return { dir, storage };
}

/** `storage`, counting the reads in flight at once, and failing the read of `failKey` if given. */
function watched(storage: Storage, failKey?: string): { storage: Storage; maxInFlight: () => number } {
  let inFlight = 0;
  let max = 0;
  const wrapped: Storage = {
    url: storage.url,
    publishes: storage.publishes,
    putIfAbsent: (key, data) => storage.putIfAbsent(key, data),
    put: (key, data) => storage.put(key, data),
    list: (prefix, opts) => storage.list(prefix, opts),
    delete: (key) => storage.delete(key),
    create: (key, staging) => storage.create(key, staging),
    get: async (key) => {
      inFlight++;
      max = Math.max(max, inFlight);
      try {
        await new Promise<void>((r) => setImmediate(r));
        if (key === failKey) throw Object.assign(new Error(`read of ${key} failed`), { code: 'EIO' });
        return await storage.get(key);
      } finally {
        inFlight--;
      }
    },
  };
  return { storage: wrapped, maxInFlight: () => max };
}

describe('reading a table log', () => {
  it('reads every commit, several at a time, applied in order; then only what is new', async () => {
    const { storage } = await logOf(150);
    const w = watched(storage);
    const log = new TableLog(w.storage, 'tickets');
    expect((await log.refresh({ summaries: true })).length).toBe(150);
    expect(log.snapshot.version).toBe(149);
    expect(log.snapshot.files.size).toBe(150);
    expect(log.snapshot.history.at(-1)?.version).toBe(149);
    expect(w.maxInFlight()).toBeGreaterThan(1);
    expect(w.maxInFlight()).toBeLessThanOrEqual(32);
    expect((await log.refresh({ summaries: true })).length).toBe(0);
    expect(await new TableLog(storage, 'tickets').tryCommit(commit(150))).toBe(false); // version 0 is taken
    const other = new TableLog(storage, 'tickets');
    await other.refresh();
    expect(await other.tryCommit(commit(150))).toBe(true);
    expect((await log.refresh({ summaries: true })).length).toBe(1);
    expect(log.snapshot.files.has('part-150.parquet')).toBe(true);
  });

  it('a missing version is an incomplete log: nothing is applied past the gap', async () => {
    const { dir, storage } = await logOf(80);
    await unlink(join(dir, 'tickets', commitKey(40)));
    const log = new TableLog(storage, 'tickets');
    await expect(log.refresh()).rejects.toMatchObject({ code: ErrorCodes.STATE_INVALID, message: expect.stringMatching(/has no version 40 before 41: it is incomplete/) });
    expect(log.snapshot.version).toBe(-1);
  });

  it('a read that fails mid-log ends the refresh with that error, and the reads ahead of it settle quietly', async () => {
    const { storage } = await logOf(120);
    const failing = `tickets/${commitKey(70)}`;
    const log = new TableLog(watched(storage, failing).storage, 'tickets');
    await expect(log.refresh()).rejects.toThrow(`read of ${failing} failed`);
    expect(log.snapshot.version).toBe(69);
  });
});
