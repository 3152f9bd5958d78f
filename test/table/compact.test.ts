import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportTickets } from '../../src/export.js';
import { compactTable } from '../../src/table/compact.js';
import { dataFiles, deltaVersions, duck, lakeVersions, parquetGlob, runCli, startMock, tempDir, tokenCredentials } from '../helpers.js';
import { checkExactlyOnce, readLog } from '../support/lake-oracle.js';

describe('compaction of small files', () => {
  for (const format of ['parquet', 'ndjson'] as const) {
    it(`${format}: many small files from incremental runs become one commit's merged file, with the same rows, and exports go on`, async () => {
      const mock = await startMock({ tickets: 3000 });
      const out = await tempDir();
      const common = { origin: mock.url, credentials: tokenCredentials(mock), out, format, rateLimit: 0, perPage: 200, maxRowsPerFile: 200 } as const;
      await exportTickets(common);
      for (let i = 0; i < 4; i++) {
        mock.updateTickets(30);
        await exportTickets(common);
      }
      const before = await dataFiles(join(out, 'tickets'));
      expect(before.length).toBeGreaterThanOrEqual(19);
      const versionsBefore = (await lakeVersions(out, format)).sort();
      const logBefore = await readLog(out);
      const run = await runCli(['compact', out, '--min-files', '4'], {});
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/compacted 1 partitions: \d+ files -> 1 \(\d+ rows rewritten in 1 commits\)/);
      const after = await dataFiles(join(out, 'tickets'));
      expect(after.length).toBe(1);
      const logAfter = await readLog(out);
      expect(logAfter.versions).toBe(logBefore.versions + 1);
      expect(logAfter.files).toHaveLength(1);
      expect(logAfter.rows).toBe(logBefore.rows);
      expect((await lakeVersions(out, format)).sort()).toEqual(versionsBefore);
      if (format === 'parquet') expect((await deltaVersions(out)).sort()).toEqual(versionsBefore);
      mock.updateTickets(20);
      const more = await exportTickets(common);
      expect(more.complete).toBe(true);
      const r = checkExactlyOnce(await lakeVersions(out, format), mock.expectedTickets(), mock.history);
      expect(r.missing).toEqual([]);
      expect(r.duplicates).toEqual([]);
      if (format === 'parquet') {
        const types = Object.fromEntries((await duck(`DESCRIBE SELECT * FROM ${parquetGlob(out)}`)).map((x) => [x.column_name, x.column_type]));
        expect(types).toMatchObject({ id: 'BIGINT', created_at: 'TIMESTAMP WITH TIME ZONE', tags: 'VARCHAR[]', custom_fields__360005: 'BIGINT' });
        const delta = checkExactlyOnce(await deltaVersions(out), mock.expectedTickets(), mock.history);
        expect(delta.duplicates).toEqual([]);
        expect(delta.missing).toEqual([]);
      }
    });
  }

  for (const step of ['file-promoted', 'committed'] as const) {
    it(`a compaction that dies after "${step}" never shows a Delta reader a row twice, and the next start leaves the folder exact`, async () => {
      const mock = await startMock({ tickets: 2000 });
      const out = await tempDir();
      await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0, perPage: 200, maxRowsPerFile: 200 });
      const versions = (await lakeVersions(out, 'parquet')).sort();
      const err = await compactTable({
        out,
        minFiles: 2,
        onCommitStep: (s) => {
          if (s === step) throw new Error('simulated crash');
        },
      }).catch((e: unknown) => e);
      expect(String(err)).toMatch(/simulated crash/);
      // Through the log: the commit either happened whole or not at all.
      expect((await deltaVersions(out)).sort()).toEqual(versions);
      // The next start (an export here) cleans up what the dead compaction left in the folder.
      await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0 });
      expect((await lakeVersions(out, 'parquet')).sort()).toEqual(versions);
      const log = await readLog(out);
      const onDisk = (await dataFiles(join(out, 'tickets'))).map((f) => f.slice(join(out, 'tickets').length + 1)).sort();
      expect(onDisk).toEqual(log.files);
      expect(log.files.length).toBe(step === 'committed' ? 1 : 10);
    });
  }

  it('runs beside an export into the same table: both commit, nothing is lost or doubled', async () => {
    const mock = await startMock({ tickets: 4000 });
    const out = await tempDir();
    const common = { origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0, perPage: 200, maxRowsPerFile: 200 } as const;
    const cut = mock.expectedTickets().sort((a, b) => a.generated_timestamp - b.generated_timestamp)[2000]!.generated_timestamp;
    await exportTickets({ ...common, endTime: cut });
    const [exported, compacted] = await Promise.all([exportTickets({ ...common, startTime: cut }), compactTable({ out, minFiles: 2 })]);
    expect(exported.complete).toBe(true);
    expect(compacted.commits).toBeGreaterThan(0);
    const r = checkExactlyOnce(await deltaVersions(out), mock.expectedTickets(), mock.history);
    expect(r.missing).toEqual([]);
    expect(r.duplicates).toEqual([]);
    const glob = checkExactlyOnce(await lakeVersions(out, 'parquet'), mock.expectedTickets(), mock.history);
    expect(glob.duplicates).toEqual([]);
    expect(glob.missing).toEqual([]);
  });
});
