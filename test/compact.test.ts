import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compactLake } from '../src/compact.js';
import { exportTickets } from '../src/export.js';
import { checkExactlyOnce, duck, lakeVersions, listFiles, mockEnv, parquetGlob, runCli, startMock, tempDir, tokenCredentials } from './helpers.js';

describe('compaction of small files', () => {
  for (const format of ['parquet', 'ndjson'] as const) {
    it(`${format}: many small files from incremental runs become a few, with the same rows, and exports go on`, async () => {
      const mock = await startMock({ tickets: 3000 });
      const out = await tempDir();
      const common = { origin: mock.url, credentials: tokenCredentials(mock), out, format, rateLimit: 0, perPage: 200, maxRowsPerFile: 200 } as const;
      await exportTickets(common);
      for (let i = 0; i < 4; i++) {
        mock.updateTickets(30);
        await exportTickets(common);
      }
      const before = await listFiles(join(out, 'tickets'));
      expect(before.length).toBeGreaterThanOrEqual(19);
      const versionsBefore = (await lakeVersions(out, format)).sort();
      const run = await runCli(['compact', out, '--min-files', '4'], {});
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/compacted 1 folders: \d+ files -> 1 \(\d+ rows rewritten\)/);
      const after = await listFiles(join(out, 'tickets'));
      expect(after.length).toBe(1);
      expect((await lakeVersions(out, format)).sort()).toEqual(versionsBefore);
      mock.updateTickets(20);
      const more = await exportTickets(common);
      expect(more.complete).toBe(true);
      const r = checkExactlyOnce(await lakeVersions(out, format), mock.expectedTickets(), mock.history);
      expect(r.missing).toEqual([]);
      expect(r.duplicates).toEqual([]);
      if (format === 'parquet') {
        const types = Object.fromEntries((await duck(`DESCRIBE SELECT * FROM ${parquetGlob(out)}`)).map((x) => [x.column_name, x.column_type]));
        expect(types).toMatchObject({ id: 'BIGINT', created_at: 'TIMESTAMP', tags: 'VARCHAR[]', custom_fields__360005: 'BIGINT' });
      }
    });
  }

  it('a crash in the middle of a compaction never shows a row twice, and the next start finishes it', async () => {
    const mock = await startMock({ tickets: 2000 });
    const out = await tempDir();
    await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0, perPage: 200, maxRowsPerFile: 200 });
    const versions = (await lakeVersions(out, 'parquet')).sort();
    const err = await compactLake({ out, minFiles: 2, onCommitStep: (step) => {
      if (step === 'manifest-written') throw new Error('simulated crash');
    } }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/simulated crash/);
    // Old files already gone or all still there, never both old and new: no duplicate is visible.
    const mid = await lakeVersions(out, 'parquet');
    expect(new Set(mid).size).toBe(mid.length);
    // The next start (an export here) rolls the compaction forward.
    await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0 });
    expect((await lakeVersions(out, 'parquet')).sort()).toEqual(versions);
    expect((await listFiles(join(out, 'tickets'))).length).toBe(1);
  });

  it('refuses to run beside an export of the same state', async () => {
    const mock = await startMock({ tickets: 400 });
    const out = await tempDir();
    await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0 });
    const { writeFile } = await import('node:fs/promises');
    // A live process holds the lock (pid 1 always exists).
    await writeFile(join(out, '_state', 'tickets.json.lock'), '1');
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out], mockEnv(mock));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/another run \(pid 1\) is using .*tickets\.json; wait for it to finish, or stop it/);
    const compact = await runCli(['compact', out], {});
    expect(compact.stderr).toMatch(/another run \(pid 1\)/);
  });
});
