import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ZendeskEtlError } from '../src/core/errors.js';
import { exportTickets } from '../src/export.js';
import { ParquetFormat, type RowFileWriter, type RowFormat } from '../src/format/file-writers.js';
import type { TableStep } from '../src/table/lake-table.js';
import { listFiles, mockEnv, spawnCli, startMock, tempDir, tokenCredentials, exportArgs } from './helpers.js';
import { committedRows, expectTableExact, readLog } from './support/lake-oracle.js';

describe('exactly once at each step of a commit', () => {
  const steps: TableStep[] = ['lease-noted', 'file-promoted', 'committed'];
  for (const step of steps) {
    it(`a crash right after "${step}" in the commit protocol loses and repeats nothing`, async () => {
      const mock = await startMock({ tickets: 3000 });
      const out = await tempDir();
      for (const format of ['parquet'] as const) {
        const crashed = await spawnCli(exportArgs(mock, out, format, 'cursor'), mockEnv(mock, { ZENDESK_ETL_CRASH_AT: step, ZENDESK_ETL_CRASH_AFTER: '1' })).done;
        expect(crashed.signal).toBe('SIGKILL');
        const resumed = await spawnCli(exportArgs(mock, out, format, 'cursor'), mockEnv(mock)).done;
        expect(resumed.code, resumed.stderr).toBe(0);
        expect(resumed.stderr).not.toMatch(/error/);
        await expectTableExact(out, mock, { format });
      }
    });
  }
});

describe('signals, full disks, bad state', () => {
  it('SIGINT stops fetching, commits what is complete, exits 130; the same command then finishes exactly once', async () => {
    const mock = await startMock({ tickets: 6000 });
    const out = await tempDir();
    const run = spawnCli([...exportArgs(mock, out, 'parquet', 'cursor'), '--rate-limit', '600'], mockEnv(mock));
    const timer = setInterval(() => {
      if (mock.exportRequests >= 4) {
        run.child.kill('SIGINT');
        clearInterval(timer);
      }
    }, 2);
    const done = await run.done;
    clearInterval(timer);
    expect(done.code).toBe(130);
    expect(done.stderr).toMatch(/SIGINT: stopping cleanly \(an export first commits the page in progress\)/);
    expect(done.stderr).toMatch(/interrupted: everything complete was committed/);
    const rows = await committedRows(out);
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(6000);
    expect(rows % 200).toBe(0); // whole pages only
    const again = await spawnCli(exportArgs(mock, out, 'parquet', 'cursor'), mockEnv(mock)).done;
    expect(again.code, again.stderr).toBe(0);
    await expectTableExact(out, mock);
  });

  it('a full disk ends with a clear error; the state does not advance past what was written; the next run completes', async () => {
    const mock = await startMock({ tickets: 3000 });
    const out = await tempDir();
    const real = new ParquetFormat();
    let budget = 1500; // rows the "disk" takes before it is full
    const fullDisk: RowFormat = {
      name: 'parquet',
      extension: 'parquet',
      async open(file, columns): Promise<RowFileWriter> {
        const w = await real.open(file, columns);
        return {
          get rows() {
            return w.rows;
          },
          get bytes() {
            return w.bytes;
          },
          async write(row) {
            if (budget-- <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
            await w.write(row);
          },
          close: () => w.close(),
          abort: () => w.abort(),
        };
      },
    };
    const common = { origin: mock.url, credentials: tokenCredentials(mock), out, perPage: 200, maxRowsPerFile: 600, rateLimit: 0 } as const;
    const err = (await exportTickets({ ...common, rowFormat: fullDisk }).catch((e: unknown) => e)) as ZendeskEtlError;
    expect(err).toBeInstanceOf(ZendeskEtlError);
    expect(err.code).toBe('ZDE_SINK_WRITE');
    expect(err.message).toMatch(/the disk is full \(ENOSPC\)/);
    expect(err.message).toMatch(/next run redoes it/);
    expect(await committedRows(out)).toBeLessThanOrEqual(1500);
    expect(await listFiles(join(out, '_staging'))).toEqual([]);
    const result = await exportTickets(common);
    expect(result.complete).toBe(true);
    await expectTableExact(out, mock);
  });

  it('a corrupt table log, or one that asks for a newer Delta protocol, stops with a clear error and is left as it is', async () => {
    const mock = await startMock({ tickets: 200 });
    const out = await tempDir();
    const common = { origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0 } as const;
    await exportTickets(common);
    const path = join(out, 'tickets', '_delta_log', '00000000000000000001.json');
    await writeFile(path, '{"commitInfo": {"timestamp": ');
    const corrupt = (await exportTickets(common).catch((e: unknown) => e)) as ZendeskEtlError;
    expect(corrupt.code).toBe('ZDE_STATE_INVALID');
    expect(corrupt.message).toMatch(/table log file .*00000000000000000001\.json is not a whole commit: line 1 is not JSON/);
    const newer = JSON.stringify({ protocol: { minReaderVersion: 3, minWriterVersion: 7 } });
    await writeFile(path, `${newer}\n`);
    const err = (await exportTickets(common).catch((e: unknown) => e)) as ZendeskEtlError;
    expect(err.code).toBe('ZDE_STATE_INVALID');
    expect(err.message).toMatch(/asks for Delta reader 3 and writer 7/);
    expect(await readFile(path, 'utf8')).toBe(`${newer}\n`);
  });
});

describe('output folders that cannot be used', () => {
  it('an --out where a file stands in the way ends with a clear error before any request', async () => {
    const mock = await startMock({ tickets: 50 });
    const dir = await tempDir();
    const file = join(dir, 'not-a-folder');
    await writeFile(file, 'x');
    for (const out of [file, '/dev/null/zendesk-lake']) {
      const err = (await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0 }).catch((e: unknown) => e)) as ZendeskEtlError;
      expect(err).toBeInstanceOf(ZendeskEtlError);
      expect(err.code).toBe('ZDE_INVALID_OPTION'); // a usage error: exit 2
      expect(err.message).toMatch(/out must be a folder, but .* is a file/);
    }
    expect(mock.exportRequests).toBe(0);
  });
});

describe('windows', () => {
  it('two --end-time windows side by side into one lake: no overlap, no gap', async () => {
    const mock = await startMock({ tickets: 5000 });
    const out = await tempDir();
    const cut = mock.expectedTickets().sort((a, b) => a.generated_timestamp - b.generated_timestamp)[2600]!.generated_timestamp;
    const base = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '200', '--max-rows-per-file', '400', '--quiet'];
    const [a, b] = await Promise.all([
      spawnCli([...base, '--end-time', String(cut)], mockEnv(mock)).done,
      spawnCli([...base, '--start-time', String(cut), '--pagination', 'time'], mockEnv(mock)).done,
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    await expectTableExact(out, mock);
    // Both windows' commits are in the one log.
    const windows = (await readLog(out)).commits.map((c) => JSON.stringify((c.zendeskEtl as { window?: unknown }).window));
    expect(new Set(windows)).toEqual(new Set([JSON.stringify({ start: 0, end: cut }), JSON.stringify({ start: cut })]));
  });
});

