import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { frontier } from '../../src/core/delivery.js';
import { METADATA_COLUMNS, TICKET_COLUMNS } from '../../src/schema/ticket-schema.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import type { PendingFile, Storage, StoredObject } from '../../src/storage/storage.js';
import { LakeTable } from '../../src/table/lake-table.js';
import { dataFiles, tempDir } from '../helpers.js';
import { readLog } from '../support/lake-oracle.js';

/** A folder whose next commit put lands but answers with an error (a timeout), and whose reads may fail too. */
class LostAnswers implements Storage {
  readonly inner: LocalStorage;
  readonly url: string;
  readonly publishes = 'rename' as const;
  loseNextPut = false;
  failReads = false;

  constructor(root: string) {
    this.inner = new LocalStorage(root);
    this.url = this.inner.url;
  }

  async putIfAbsent(key: string, data: string | Buffer): Promise<boolean> {
    const ok = await this.inner.putIfAbsent(key, data);
    if (this.loseNextPut && key.includes('_delta_log/')) {
      this.loseNextPut = false;
      throw new Error('socket hang up (the put landed, its answer did not)');
    }
    return ok;
  }

  put(key: string, data: string | Buffer): Promise<void> {
    return this.inner.put(key, data);
  }

  get(key: string): Promise<Buffer | undefined> {
    if (this.failReads && key.includes('_delta_log/')) return Promise.reject(new Error('connection refused'));
    return this.inner.get(key);
  }

  list(prefix: string, opts?: { startAfter?: string }): AsyncIterable<StoredObject> {
    if (this.failReads && prefix.includes('_delta_log')) throw new Error('connection refused');
    return this.inner.list(prefix, opts);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  create(key: string, staging: string): Promise<PendingFile> {
    return this.inner.create(key, staging);
  }
}

const COLUMNS = [...TICKET_COLUMNS, ...METADATA_COLUMNS];

async function writeOne(table: LakeTable, id: number, g: number): Promise<number> {
  const file = await table.newFile(undefined, table.schemaFor(COLUMNS));
  await file.write({ id, generated_timestamp: g });
  await file.finish();
  return table.commit({ operation: 'WRITE', adds: [file], segments: [{ from: frontier(g), to: frontier(g + 1) }] });
}

describe('a commit whose answer is lost', () => {
  it('is recognised in the log by its id: the commit stands and its file is kept', async () => {
    const dir = await tempDir();
    const storage = new LostAnswers(dir);
    const table = await LakeTable.open({ storage, name: 'tickets', stream: 'tickets', settings: { format: 'ndjson' } });
    await table.begin('export', { start: 0 });
    await writeOne(table, 1, 10);
    storage.loseNextPut = true;
    const version = await writeOne(table, 2, 20);
    await table.close();
    expect(version).toBe(1);
    const log = await readLog(dir);
    expect(log.versions).toBe(2);
    expect(log.rows).toBe(2);
    expect((await dataFiles(join(dir, 'tickets'))).length).toBe(2);
  });

  it('when the log cannot be read either, the files stay; the next run keeps those the log holds', async () => {
    const dir = await tempDir();
    const storage = new LostAnswers(dir);
    const table = await LakeTable.open({ storage, name: 'tickets', stream: 'tickets', settings: { format: 'ndjson' } });
    await table.begin('export', { start: 0 });
    storage.loseNextPut = true;
    storage.failReads = true;
    await expect(writeOne(table, 1, 10)).rejects.toThrow(/socket hang up|connection refused/);
    storage.failReads = false;
    await table.close();
    // The put had landed: the next run's cleanup must keep the file the log holds.
    const next = await LakeTable.open({ storage: new LocalStorage(dir), name: 'tickets', stream: 'tickets' });
    expect(next.snapshot.files.size).toBe(1);
    expect((await dataFiles(join(dir, 'tickets'))).length).toBe(1);
    expect(next.ledger().delivered(1, 10)).toBe(true);
  });
});
