import { cp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { frontier } from '../../src/core/delivery.js';
import { exportTickets } from '../../src/export.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { LAST_CHECKPOINT, checkpointKey, stateKey } from '../../src/table/checkpoint.js';
import { LakeTable } from '../../src/table/lake-table.js';
import { TableLog } from '../../src/table/table-log.js';
import { deltaVersions, lakeVersions, startMock, tempDir, tokenCredentials } from '../helpers.js';
import { checkExactlyOnce } from '../support/lake-oracle.js';

/**
 * Delta checkpoints (issue 19): every 10th version is checkpointed; opening reads the newest
 * checkpoint and the commits after it; zendesk-etl's own state (segments, fences, resets) survives;
 * a missing or torn checkpoint falls back to the commits; chDB reads a table through its checkpoints.
 */

/** A folder whose reads of commit files are counted. */
function counted(dir: string): { storage: Storage; commitReads: () => number } {
  const inner = new LocalStorage(dir);
  let reads = 0;
  const storage = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'get') {
        return (key: string) => {
          if (/_delta_log\/\d{20}\.json$/.test(key)) reads++;
          return target.get(key);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { storage, commitReads: () => reads };
}

/** A table of `n` versions: segments only (each commit holds the next second of the stream), a fence and a reset on the way. */
async function longLog(dir: string, n: number): Promise<void> {
  const table = await LakeTable.open({ storage: new LocalStorage(dir), name: 'tickets', stream: 'tickets', settings: { format: 'ndjson' } });
  await table.begin('export', { start: 0 });
  for (let v = 0; v < n; v++) {
    if (v === Math.floor(n / 2)) await table.commit({ operation: 'DELETE', removes: [], reset: true });
    else if (v === Math.floor(n / 3)) await table.fence(['20200101T000000Z-abcdef']);
    else await table.commit({ operation: 'WRITE', segments: [{ from: frontier(v), to: frontier(v + 1) }], window: { start: 0 } });
  }
  await table.close();
}

describe('Delta checkpoints', () => {
  it('a log of 1,000 versions reopens reading at most 10 commit files, with the same state as from its commits', async () => {
    const dir = await tempDir();
    await longLog(dir, 1000);
    const log = await readdir(join(dir, 'tickets', '_delta_log'));
    expect(log.filter((f) => f.endsWith('.checkpoint.parquet')).length).toBe(99); // versions 10, 20, ... 990
    const { storage, commitReads } = counted(dir);
    const fast = new TableLog(storage, 'tickets');
    await fast.refresh();
    expect(fast.snapshot.version).toBe(999);
    expect(commitReads()).toBeLessThanOrEqual(10);
    // The same table as a full replay: files, segments (what of the stream it holds), fences, settings.
    const slow = new TableLog(new LocalStorage(dir), 'tickets');
    await slow.refresh({ summaries: true });
    expect(fast.snapshot.metaData).toEqual(slow.snapshot.metaData);
    expect([...fast.snapshot.fenced]).toEqual([...slow.snapshot.fenced]);
    expect([...fast.snapshot.fenced]).toEqual(['20200101T000000Z-abcdef']);
    const open = async (s: Storage): Promise<LakeTable> => LakeTable.open({ storage: s, name: 'tickets', stream: 'tickets' });
    const [a, b] = [await open(storage), await open(new LocalStorage(dir))];
    // The reset at version 500 forgot what came before it; windows plan the same either way.
    expect(a.plan({ start: 0 })).toEqual(b.plan({ start: 0 }));
    expect(a.plan({ start: 0 })[0]!.from.at).toBe(0);
    expect(a.ledger().delivered(7, 600)).toBe(true);
    expect(a.ledger().delivered(7, 100)).toBe(false);
  });

  it('a missing, torn or side-file-less checkpoint falls back to the commits, exactly', async () => {
    const dir = await tempDir();
    await longLog(dir, 35);
    const whole = new TableLog(new LocalStorage(dir), 'tickets');
    await whole.refresh({ summaries: true });
    const damage: [string, () => Promise<void>][] = [
      ['the checkpoint deleted', () => rm(join(dir, 'tickets', checkpointKey(30)))],
      ['its side file deleted', () => rm(join(dir, 'tickets', stateKey(30)))],
      ['_last_checkpoint deleted', () => rm(join(dir, 'tickets', LAST_CHECKPOINT))],
    ];
    for (const [what, harm] of damage) {
      const copy = await tempDir();
      await cp(dir, copy, { recursive: true });
      await harm.call(undefined).catch(() => undefined);
      const log = new TableLog(new LocalStorage(dir), 'tickets');
      await log.refresh();
      expect(log.snapshot.version, what).toBe(34);
      expect(new Map(log.snapshot.files), what).toEqual(new Map(whole.snapshot.files));
      expect(log.snapshot.segments.length > 0, what).toBe(true);
      await rm(dir, { recursive: true });
      await cp(copy, dir, { recursive: true });
    }
  });

  it('chDB reads a table through its checkpoints, with the commits before the newest one gone', async () => {
    const mock = await startMock({ tickets: 1500 });
    const out = await tempDir();
    await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0, perPage: 100, maxRowsPerFile: 50, partitionBy: 'updated_at:month' });
    const log = join(out, 'tickets', '_delta_log');
    const checkpoints = (await readdir(log)).filter((f) => f.endsWith('.checkpoint.parquet')).sort();
    expect(checkpoints.length).toBeGreaterThan(0);
    const newest = Number(checkpoints.at(-1)!.slice(0, 20));
    // A glob over the data files (part-*) does not read the checkpoints' rows.
    const glob = checkExactlyOnce(await lakeVersions(out, 'parquet'), mock.expectedTickets());
    expect({ missing: glob.missing.length, duplicates: glob.duplicates.length, unknown: glob.unknown.length }).toEqual({ missing: 0, duplicates: 0, unknown: 0 });
    for (const f of await readdir(log)) if (/^\d{20}\.json$/.test(f) && Number(f.slice(0, 20)) <= newest) await rm(join(log, f));
    const r = checkExactlyOnce(await deltaVersions(out), mock.expectedTickets());
    expect({ missing: r.missing.length, duplicates: r.duplicates.length }).toEqual({ missing: 0, duplicates: 0 });
    // And this project reads it the same way.
    const table = await LakeTable.open({ storage: new LocalStorage(out), name: 'tickets', stream: 'tickets' });
    expect(table.version).toBeGreaterThan(newest - 1);
    expect(table.plan({ start: 0 }).length).toBe(1); // only the open end is left to export
  });
});
