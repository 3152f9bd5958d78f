/**
 * Lakes in object storage, end to end, against the real S3 (Ceph RGW): every stream exported into
 * s3://bucket/prefix, replay, compaction, vacuum and the CLI, read back through the Delta log by an
 * independent reader (chDB's delta-kernel), which must see every version exactly once.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exportStream, exportTickets, replayTickets, type ExportTicketsOptions } from '../../src/export.js';
import type { MockZendesk } from '../../src/mock/server.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { compactTable } from '../../src/table/compact.js';
import { vacuumTable } from '../../src/table/vacuum.js';
import { mockEnv, runCli, startMock, tempDir, tokenCredentials } from '../helpers.js';
import { chdbQuery, deltaS3 } from '../support/chdb.js';
import { dropBucket, deltaS3Versions, freshBucket, listObjects, multipartUploads, useAwsEnv } from '../support/s3-lake.js';
import { s3Client, s3Env } from '../support/services.js';
import { exactly, readS3Log } from '../support/lake-oracle.js';

let bucket: string;

beforeEach(async () => {
  useAwsEnv();
  bucket = await freshBucket('zde-lake');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await dropBucket(bucket);
});

function common(mock: MockZendesk, out: string): ExportTicketsOptions {
  return { origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0, perPage: 250, maxRowsPerFile: 700 };
}

const key = (r: { id: number; generated_timestamp: number }): string => `${r.id}:${r.generated_timestamp}`;

/** What chDB reads of a table must be exactly `want`: nothing missing, twice, or unknown. */
async function expectDeltaExact(tableKey: string, want: readonly string[], version?: string): Promise<number> {
  const got = await deltaS3Versions(bucket, tableKey, version);
  const r = exactly(got, want);
  expect({ missing: r.missing.slice(0, 5), duplicates: r.duplicates.slice(0, 5), unknown: r.unknown.slice(0, 5) }).toEqual({ missing: [], duplicates: [], unknown: [] });
  expect(r.count).toBe(new Set(want).size);
  return r.count;
}

/** The data objects of a table that its log does not hold (uploaded, never committed, or removed). */
async function strayObjects(tableKey: string): Promise<string[]> {
  const log = await readS3Log(bucket, tableKey);
  const held = new Set(log.files);
  return (await listObjects(bucket, `${tableKey}/`))
    .map((o) => o.key.slice(tableKey.length + 1))
    .filter((k) => !k.startsWith('_') && /\.(parquet|ndjson|ndjson\.gz)$/.test(k) && !held.has(k));
}

describe('exports into s3://bucket/prefix', () => {
  it('tickets (Parquet, partitioned by month, with a sideload table): every version once; the same command resumes and adds only new versions', async () => {
    const mock = await startMock({ tickets: 3000 });
    const out = `s3://${bucket}/lakes/acme`;
    const opts = { ...common(mock, out), partitionBy: 'updated_at:month', include: ['users'] };
    const first = await exportTickets(opts);
    expect(first.complete).toBe(true);
    expect(first.where).toBe(`${out}/tickets`);
    const want = new Set(mock.expectedTickets().map(key));
    await expectDeltaExact('lakes/acme/tickets', [...want]);
    const again = await exportTickets(opts);
    expect(again.committed.rows).toBe(0);
    mock.updateTickets(150);
    const more = await exportTickets(opts);
    expect(more.complete).toBe(true);
    for (const t of mock.expectedTickets()) want.add(key(t));
    expect(await expectDeltaExact('lakes/acme/tickets', [...want])).toBeGreaterThan(3000);
    const [users] = await chdbQuery(`SELECT count() AS n FROM ${deltaS3(`${s3Env().endpoint}/${bucket}/lakes/acme/tickets__users`, s3Env().accessKeyId, s3Env().secretAccessKey)}`);
    expect(Number(users!.n)).toBeGreaterThan(0);
    // Keys are relative to the prefix; partitions are Hive folders; nothing is outside the prefix.
    const objects = (await listObjects(bucket)).map((o) => o.key);
    expect(objects.every((k) => k.startsWith('lakes/acme/'))).toBe(true);
    expect(objects.some((k) => /^lakes\/acme\/tickets\/updated_at_month=\d{4}-\d{2}\/part-.*\.parquet$/.test(k))).toBe(true);
    // Nothing uploaded that no commit holds, no lease left, no staging.
    expect(await strayObjects('lakes/acme/tickets')).toEqual([]);
    expect(objects.filter((k) => k.includes('/_zde/leases/') || k.includes('_staging'))).toEqual([]);
  });

  const streams = [
    ['ticket_events', 'time', '"timestamp"'],
    ['users', 'cursor', 'toUnixTimestamp(updated_at)'],
    ['organizations', 'time', 'toUnixTimestamp(updated_at)'],
  ] as const;
  for (const [stream, pagination, version] of streams) {
    it(`${stream} (${pagination}): every record once, in its own table; the same command resumes`, async () => {
      const mock = await startMock({ tickets: 2500 });
      const out = `s3://${bucket}/lake`;
      const opts = { ...common(mock, out), pagination, perPage: 150, maxRowsPerFile: 400 };
      expect((await exportStream(stream, opts)).complete).toBe(true);
      if (stream === 'ticket_events') mock.updateTickets(9); // new events; the next run adds them
      const again = await exportStream(stream, opts);
      expect(again.complete).toBe(true);
      const want = mock.expectedRecords(stream).map((r) => `${r.id}:${r.version}`);
      await expectDeltaExact(`lake/${stream}`, want, version);
      expect(await strayObjects(`lake/${stream}`)).toEqual([]);
    });
  }

  it('NDJSON, gzipped: committed files read back exactly', async () => {
    const mock = await startMock({ tickets: 1200 });
    const out = `s3://${bucket}/nd`;
    expect((await exportTickets({ ...common(mock, out), format: 'ndjson', gzip: true })).complete).toBe(true);
    const log = await readS3Log(bucket, 'nd/tickets');
    expect(log.rows).toBe(1200);
    expect(log.files.every((f) => f.endsWith('.ndjson.gz'))).toBe(true);
    const env = s3Env();
    const rows = await chdbQuery(
      `SELECT toString(id) AS id, toString(generated_timestamp) AS v FROM s3('${env.endpoint}/${bucket}/nd/tickets/{${log.files.join(',')}}', '${env.accessKeyId}', '${env.secretAccessKey}', 'JSONEachRow')`,
      { settings: { input_format_json_read_numbers_as_strings: 1 } },
    );
    const r = exactly(rows.map((x) => `${String(x.id)}:${String(x.v)}`), mock.expectedTickets().map(key));
    expect([r.missing, r.duplicates, r.unknown]).toEqual([[], [], []]);
  });

  it('replay of a raw archive into S3, without calling Zendesk', async () => {
    const mock = await startMock({ tickets: 2000 });
    const raw = await tempDir('zde-raw-');
    expect((await exportTickets({ ...common(mock, `s3://${bucket}/live`), raw })).complete).toBe(true);
    const requests = mock.exportRequests;
    const replayed = await replayTickets({ rawDir: raw, out: `s3://${bucket}/replayed`, maxRowsPerFile: 500 });
    expect(replayed.complete).toBe(true);
    expect(mock.exportRequests).toBe(requests);
    await expectDeltaExact('replayed/tickets', mock.expectedTickets().map(key));
    const again = await replayTickets({ rawDir: raw, out: `s3://${bucket}/replayed` });
    expect(again.committed.rows).toBe(0);
  });
});

describe('compaction and vacuum on object storage', () => {
  it('compaction merges with atomic commits (Delta readers see each version once); the files it retired stay for readers of older versions until vacuum, which removes them and orphans only past the retention', async () => {
    const mock = await startMock({ tickets: 2400 });
    const out = `s3://${bucket}/lake`;
    const opts = { ...common(mock, out), maxRowsPerFile: 200, perPage: 200 };
    await exportTickets(opts);
    mock.updateTickets(40);
    await exportTickets(opts);
    const exported = await deltaS3Versions(bucket, 'lake/tickets');
    const before = await readS3Log(bucket, 'lake/tickets');
    expect(before.files.length).toBeGreaterThanOrEqual(13);
    const storage = await openStorage(out);
    const result = await compactTable({ out: storage, minFiles: 4 });
    expect(result.commits).toBeGreaterThanOrEqual(1);
    const after = await readS3Log(bucket, 'lake/tickets');
    expect(after.files.length).toBe(result.filesAfter);
    expect(after.files.length).toBeLessThan(before.files.length);
    expect(after.rows).toBe(before.rows);
    await expectDeltaExact('lake/tickets', exported);
    // Object storage keeps what compaction removed (a reader of an older version may be reading it): vacuum's work.
    expect((await strayObjects('lake/tickets')).sort()).toEqual(after.removed);

    // An orphan: an object a crashed run uploaded and never committed.
    const orphan = 'lake/tickets/part-20200101T000000Z-0a0b0c-00000.parquet';
    const client = s3Client();
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: orphan, Body: 'half a file' }));
    } finally {
      client.destroy();
    }
    const young = await vacuumTable({ out: storage, retentionHours: 1 });
    expect(young.deleted).toEqual([]); // all younger than the retention
    const dry = await vacuumTable({ out: storage, retentionHours: 0, dryRun: true });
    expect(dry.deleted.sort()).toEqual([...after.removed, 'part-20200101T000000Z-0a0b0c-00000.parquet'].sort());
    expect((await strayObjects('lake/tickets')).length).toBe(after.removed.length + 1);
    const swept = await vacuumTable({ out: storage, retentionHours: 0 });
    expect(swept.deleted.sort()).toEqual(dry.deleted.sort());
    expect(await strayObjects('lake/tickets')).toEqual([]);
    await expectDeltaExact('lake/tickets', exported);
    // The table goes on after both.
    mock.updateTickets(25);
    expect((await exportTickets(opts)).complete).toBe(true);
    const all = new Set([...exported, ...mock.expectedTickets().map(key)]);
    await expectDeltaExact('lake/tickets', [...all]);
  });

  it("vacuum never takes a live run's uploaded, not yet committed file", async () => {
    const { LakeTable } = await import('../../src/table/lake-table.js');
    const mock = await startMock({ tickets: 300 });
    const out = `s3://${bucket}/lake`;
    await exportTickets(common(mock, out));
    const storage = await openStorage(out);
    const live = await LakeTable.open({ storage, name: 'tickets', stream: 'tickets' });
    await live.begin('export', { start: 0 });
    const file = await live.newFile(undefined, live.schemaFor([{ name: 'id', type: 'int64' }]));
    await file.write({ id: 1 });
    await file.finish(); // uploaded: at its key, not committed
    const uploaded = `${live.name}/${file.path}`;
    expect((await listObjects(bucket, `lake/${uploaded}`)).length).toBe(1);
    const swept = await vacuumTable({ out: storage, retentionHours: 0 });
    expect(swept.deleted).toEqual([]);
    await file.abort();
    await live.close();
    expect((await listObjects(bucket, `lake/${uploaded}`)).length).toBe(0);
  });
  // vacuumTable passes `keep` (files of runs with a live lease) to abortStaleUploads.
  it("vacuum never aborts a live run's multipart upload in flight, whatever the retention", async () => {
    const { LakeTable } = await import('../../src/table/lake-table.js');
    const storage = await openStorage(`s3://${bucket}/lake`);
    const live = await LakeTable.open({ storage, name: 'tickets', stream: 'tickets', settings: { format: 'ndjson' } });
    await live.begin('export', { start: 0 });
    const file = await live.newFile(undefined, live.schemaFor([{ name: 'id', type: 'int64' }]));
    const big = 'x'.repeat(100_000);
    for (let id = 0; id < 200; id++) await file.write({ id, big });
    for (let i = 0; i < 200 && (await multipartUploads(bucket)).length === 0; i++) await file.write({ id: -1, big });
    expect(await multipartUploads(bucket)).toHaveLength(1); // a part of it is up: the upload is open
    const swept = await vacuumTable({ out: storage, retentionHours: 0 });
    expect(swept.abortedUploads).toBe(0);
    await file.finish();
    await file.abort();
    await live.close();
  });
});

describe('the CLI with --out s3://', () => {
  it('export, compact, vacuum and state with AWS_* in the environment; the same export again adds nothing', async () => {
    const mock = await startMock({ tickets: 1500 });
    const out = `s3://${bucket}/cli`;
    const args = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '200', '--max-rows-per-file', '200'];
    const run = await runCli(args, mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`${out}/tickets`); // where the table is, named as a URL
    const requests = mock.exportRequests;
    const again = await runCli(args, mockEnv(mock));
    expect(again.code, again.stderr).toBe(0);
    expect(mock.exportRequests - requests).toBeLessThanOrEqual(1); // a look for changes, no re-export
    await expectDeltaExact('cli/tickets', mock.expectedTickets().map(key));
    const before = await readS3Log(bucket, 'cli/tickets');
    const compact = await runCli(['compact', out, '--min-files', '2'], {});
    expect(compact.code, compact.stderr).toBe(0);
    expect((await readS3Log(bucket, 'cli/tickets')).files).toHaveLength(1);
    expect((await strayObjects('cli/tickets')).length).toBe(before.files.length);
    const vacuum = await runCli(['vacuum', out, '--retention-hours', '0'], {});
    expect(vacuum.code, vacuum.stderr).toBe(0);
    expect(await strayObjects('cli/tickets')).toEqual([]);
    await expectDeltaExact('cli/tickets', mock.expectedTickets().map(key));
    const shown = await runCli(['state', 'show', out, '--json'], {});
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ rows: 1500, files: 1 });
    const reset = await runCli(['state', 'reset', out, '--yes'], {});
    expect(reset.code, reset.stderr).toBe(0);
    expect((await readS3Log(bucket, 'cli/tickets')).files).toEqual([]);
  });

  it('replay --out s3://', async () => {
    const mock = await startMock({ tickets: 800 });
    const raw = await tempDir('zde-raw-');
    await exportTickets({ ...common(mock, await tempDir()), raw });
    const run = await runCli(['replay', raw, '--out', `s3://${bucket}/replayed`, '--quiet'], {});
    expect(run.code, run.stderr).toBe(0);
    await expectDeltaExact('replayed/tickets', mock.expectedTickets().map(key));
  });

  it('other schemes and malformed s3:// URLs exit 2 with a clear message; nothing is written locally', async () => {
    const mock = await startMock({ tickets: 50 });
    const cwd = process.cwd();
    for (const [out, why] of [
      ['ftp://h/l', /the scheme ftp:\/\/ is not supported/],
      ['s3://', /the bucket is missing/],
      ['s3://NotABucket/x', /not a valid bucket name/],
    ] as const) {
      const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out], mockEnv(mock));
      expect(run.code, out).toBe(2);
      expect(run.stderr, out).toMatch(/ZDE_INVALID_OPTION.*must be (a folder or )?s3:\/\/BUCKET\/PREFIX/);
      expect(run.stderr, out).toMatch(why);
    }
    expect(process.cwd()).toBe(cwd);
    const { existsSync } = await import('node:fs');
    expect(existsSync('ftp:')).toBe(false);
    expect(existsSync('s3:')).toBe(false);
    expect(mock.exportRequests).toBe(0);
  });

  it('refused S3 credentials exit 4 before any request to Zendesk; a missing region exits 2', async () => {
    const mock = await startMock({ tickets: 50 });
    const args = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', `s3://${bucket}/x`];
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'zde-wrong-secret-for-the-cli');
    const refused = await runCli(args, mockEnv(mock));
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/ZDE_UNAUTHORIZED.*the S3 credentials were refused/);
    expect(refused.stderr).not.toContain('zde-wrong-secret-for-the-cli');
    useAwsEnv(undefined, { AWS_REGION: undefined });
    const noRegion = await runCli(args, mockEnv(mock));
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toMatch(/set AWS_REGION/);
    expect(mock.exportRequests).toBe(0);
  });
});
