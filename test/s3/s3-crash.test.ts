/**
 * Concurrency and crashes on a real S3 (Ceph RGW): writers racing for one table version, an export
 * and a compaction committing into one table at once, kill -9 at random instants (then the same
 * command again), and crashes at each step of the commit protocol. Read back through the Delta log by
 * chDB, every version must be there exactly once.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { frontier, type Window } from '../../src/core/delivery.js';
import { exportTickets } from '../../src/export.js';
import type { MockZendesk } from '../../src/mock/server.js';
import { prng } from '../../src/mock/ticket-generator.js';
import type { Column } from '../../src/schema/ticket-schema.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { compactTable } from '../../src/table/compact.js';
import { LakeTable } from '../../src/table/lake-table.js';
import { vacuumTable } from '../../src/table/vacuum.js';
import { killAtRequest, startMock, tokenCredentials } from '../helpers.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { dropBucket, awsEnv, deltaS3Versions, freshBucket, getObject, listObjects, multipartUploads, spawnSourceCli, useAwsEnv } from '../support/s3-lake.js';
import { s3Env } from '../support/services.js';
import { exactly, readS3Log } from '../support/lake-oracle.js';

let bucket: string;

beforeEach(async () => {
  useAwsEnv();
  bucket = await freshBucket('zde-crash');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await dropBucket(bucket);
});

const key = (r: { id: number; generated_timestamp: number }): string => `${r.id}:${r.generated_timestamp}`;

async function expectDeltaExact(tableKey: string, want: readonly string[]): Promise<number> {
  const r = exactly(await deltaS3Versions(bucket, tableKey), want);
  expect({ missing: r.missing.slice(0, 5), duplicates: r.duplicates.slice(0, 5), unknown: r.unknown.slice(0, 5) }).toEqual({ missing: [], duplicates: [], unknown: [] });
  expect(r.count).toBe(new Set(want).size);
  return r.count;
}

/** Data objects below a table that its log does not hold. */
async function strays(tableKey: string): Promise<string[]> {
  const held = new Set((await readS3Log(bucket, tableKey)).files);
  return (await listObjects(bucket, `${tableKey}/`)).map((o) => o.key.slice(tableKey.length + 1)).filter((k) => !k.startsWith('_') && /\.(parquet|ndjson)$/.test(k) && !held.has(k));
}

const COLUMNS: Column[] = [
  { name: 'id', type: 'int64' },
  { name: 'generated_timestamp', type: 'int64' },
];

/** A writer of its own run: opens the table, takes its window, writes one file of `ids` at version `gts`. */
async function prepared(storage: Storage, run: string, window: Window, ids: number[], gts: number): Promise<{ table: LakeTable; commit: () => Promise<number> }> {
  const table = await LakeTable.open({ storage, name: 'tickets', stream: 'tickets', run });
  await table.begin('export', window);
  const file = await table.newFile(undefined, table.schemaFor(COLUMNS));
  for (const id of ids) await file.write({ id, generated_timestamp: gts });
  await file.finish();
  const segment = { from: frontier(window.start), to: frontier(window.end!) };
  return { table, commit: () => table.commit({ operation: 'WRITE', adds: [file], segments: [segment], window }) };
}

describe('writers racing for one version', () => {
  /** Run ids as LakeTable makes them (`part-<run>-<seq>` names the files). */
  const runId = (round: number, who: string): string => `20260101T000000Z-${round.toString(16).padStart(2, '0')}${who.repeat(4)}`;

  it('two commits prepared on the same version, sent at once: both land, at consecutive versions, nothing lost (8 rounds)', async () => {
    const proxy = new FaultProxy({ port: s3Env().port }); // only to count the 412s the losers got
    useAwsEnv(await proxy.start());
    try {
      const storage = await openStorage(`s3://${bucket}/race`);
      // The table exists (see the next test for a new one).
      const first = await prepared(storage, runId(255, 'f'), { start: 100_000, end: 100_001 }, [1], 100_000);
      expect(await first.commit()).toBe(0);
      await first.table.close();
      const want: string[] = ['1:100000'];
      const versions: number[][] = [];
      for (let round = 0; round < 8; round++) {
        const base = round * 2000;
        const idsA = Array.from({ length: 50 }, (_, i) => base + i);
        const idsB = Array.from({ length: 50 }, (_, i) => base + 1000 + i);
        const a = await prepared(storage, runId(round, 'a'), { start: base, end: base + 1000 }, idsA, base + 10);
        const b = await prepared(storage, runId(round, 'b'), { start: base + 1000, end: base + 2000 }, idsB, base + 1010);
        expect(a.table.version).toBe(b.table.version); // both read the log at the same version
        versions.push((await Promise.all([a.commit(), b.commit()])).sort((x, y) => x - y));
        await a.table.close();
        await b.table.close();
        want.push(...idsA.map((id) => `${id}:${base + 10}`), ...idsB.map((id) => `${id}:${base + 1010}`));
      }
      expect(versions).toEqual(Array.from({ length: 8 }, (_, r) => [2 * r + 1, 2 * r + 2]));
      const commits = proxy.log.filter((e) => e.method === 'PUT' && e.conditional && /\/_delta_log\/\d{20}\.json$/.test(e.path));
      expect(commits.filter((e) => e.outcome === 412)).toHaveLength(8); // one loser per round, which moved on
      expect(commits.filter((e) => e.outcome === 200)).toHaveLength(17);
      expect((await readS3Log(bucket, 'race/tickets')).versions).toBe(17);
      await expectDeltaExact('race/tickets', want);
    } finally {
      await proxy.close();
    }
  });

  // On object storage a run's data file is at its final key before the first commit; a second writer
  // opening the still log-less table must not take it for a foreign folder.
  it('two writers on a brand-new table: the second opens while the first has uploaded its first file', async () => {
    const storage = await openStorage(`s3://${bucket}/fresh`);
    const a = await prepared(storage, runId(0, 'a'), { start: 0, end: 1000 }, [1, 2], 10);
    const b = await prepared(storage, runId(0, 'b'), { start: 1000, end: 2000 }, [3, 4], 1010);
    expect((await Promise.all([a.commit(), b.commit()])).sort()).toEqual([0, 1]);
    await a.table.close();
    await b.table.close();
    await expectDeltaExact('fresh/tickets', ['1:10', '2:10', '3:1010', '4:1010']);
  });

  it('an export and a compaction commit into one table at the same time', async () => {
    const mock = await startMock({ tickets: 2000 });
    const out = `s3://${bucket}/mixed`;
    const opts = { origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0, perPage: 200, maxRowsPerFile: 200 };
    await exportTickets(opts);
    const want = new Set(mock.expectedTickets().map(key));
    mock.updateTickets(300);
    for (const t of mock.expectedTickets()) want.add(key(t));
    const storage = await openStorage(out);
    const [exported, compacted] = await Promise.all([exportTickets(opts), compactTable({ out: storage, minFiles: 3 })]);
    expect(exported.complete).toBe(true);
    expect(compacted.commits).toBeGreaterThanOrEqual(1);
    await expectDeltaExact('mixed/tickets', [...want]);
  });
});

describe('kill -9 at random instants, then the same command again', () => {
  function args(mock: MockZendesk, out: string, format: string, perPage: number, maxRows: number): string[] {
    return ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--format', format, '--per-page', String(perPage), '--max-rows-per-file', String(maxRows), '--quiet'];
  }

  async function killLoop(mock: MockZendesk, argv: string[], kills: number, seed: number, maxAfter: number): Promise<{ kills: number; runs: number }> {
    const rand = prng(seed);
    const env = { ...awsEnv(), ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
    let killed = 0;
    let runs = 0;
    while (runs < kills * 3) {
      runs++;
      const run = spawnSourceCli(argv, env);
      const target = mock.exportRequests + 1 + Math.floor(rand() * maxAfter);
      const killing = killed < kills;
      const stopWatching = killing ? killAtRequest(run.child, mock, target) : undefined;
      const done = await run.done;
      stopWatching?.();
      if (done.signal === 'SIGKILL') {
        killed++;
        continue;
      }
      expect(done.code, done.stderr).toBe(0);
      if (killed >= kills) break;
    }
    return { kills: killed, runs };
  }

  it('Parquet, small files: 8 kills, then a complete run; chDB sees every version once; vacuum leaves only what the log holds', async () => {
    const mock = await startMock({ tickets: 6000 });
    const out = `s3://${bucket}/k9`;
    const { kills, runs } = await killLoop(mock, args(mock, out, 'parquet', 200, 600), 8, 17, 6);
    expect(kills).toBe(8);
    await expectDeltaExact('k9/tickets', mock.expectedTickets().map(key));
    const storage = await openStorage(out);
    await vacuumTable({ out: storage, retentionHours: 0 });
    expect(await strays('k9/tickets')).toEqual([]);
    expect(await multipartUploads(bucket)).toEqual([]);
    console.log(`parquet on S3: ${kills} kills in ${runs} runs`);
  });

  it('NDJSON, files of several upload parts: 4 kills mid-upload, then a complete run; vacuum aborts the uploads the kills left', async () => {
    const mock = await startMock({ tickets: 12000 });
    const out = `s3://${bucket}/k9nd`;
    const { kills } = await killLoop(mock, args(mock, out, 'ndjson', 1000, 4000), 4, 29, 8);
    expect(kills).toBe(4);
    const log = await readS3Log(bucket, 'k9nd/tickets');
    expect(log.rows).toBe(12000);
    const { chdbQuery } = await import('../support/chdb.js');
    const env = s3Env();
    const rows = await chdbQuery(
      `SELECT toString(id) AS id, toString(generated_timestamp) AS v FROM s3('${env.endpoint}/${bucket}/k9nd/tickets/{${log.files.join(',')}}', '${env.accessKeyId}', '${env.secretAccessKey}', 'JSONEachRow')`,
      { settings: { input_format_json_read_numbers_as_strings: 1 } },
    );
    const r = exactly(rows.map((x) => `${String(x.id)}:${String(x.v)}`), mock.expectedTickets().map(key));
    expect([r.missing.length, r.duplicates.length, r.unknown.length]).toEqual([0, 0, 0]);
    const left = (await multipartUploads(bucket)).length;
    const storage = await openStorage(out);
    const swept = await vacuumTable({ out: storage, retentionHours: 0 });
    expect(swept.abortedUploads).toBe(left);
    expect(await multipartUploads(bucket)).toEqual([]);
    expect(await strays('k9nd/tickets')).toEqual([]);
  });

  for (const step of ['lease-noted', 'file-promoted', 'committed'] as const) {
    it(`a crash right after "${step}" in the commit protocol loses and repeats nothing`, async () => {
      const mock = await startMock({ tickets: 2000 });
      const out = `s3://${bucket}/step`;
      const env = { ...awsEnv(), ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
      const argv = args(mock, out, 'parquet', 200, 600);
      const crashed = await spawnSourceCli(argv, { ...env, ZENDESK_ETL_CRASH_AT: step, ZENDESK_ETL_CRASH_AFTER: '1' }).done;
      expect(crashed.signal).toBe('SIGKILL');
      const resumed = await spawnSourceCli(argv, env).done;
      expect(resumed.code, resumed.stderr).toBe(0);
      await expectDeltaExact('step/tickets', mock.expectedTickets().map(key));
      // The next start cleaned up what the dead run was making visible (its lease named the files).
      expect(await strays('step/tickets')).toEqual([]);
    });
  }
});

describe('a crash before the first commit of a new table', () => {
  // The dead run's uploaded file must not be taken for a foreign folder before cleanup runs.
  it('the next run cleans up and completes', async () => {
    const mock = await startMock({ tickets: 1000 });
    const out = `s3://${bucket}/first`;
    const env = { ...awsEnv(), ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
    const argv = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '200', '--max-rows-per-file', '600', '--quiet'];
    const crashed = await spawnSourceCli(argv, { ...env, ZENDESK_ETL_CRASH_AT: 'file-promoted', ZENDESK_ETL_CRASH_AFTER: '0' }).done;
    expect(crashed.signal).toBe('SIGKILL');
    const resumed = await spawnSourceCli(argv, env).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectDeltaExact('first/tickets', mock.expectedTickets().map(key));
  }, 60_000);
});

describe('the order of requests', () => {
  it('a commit is If-None-Match: * of _delta_log/%020d.json, sent after the data files it adds are uploaded', async () => {
    const proxy = new FaultProxy({ port: s3Env().port });
    useAwsEnv(await proxy.start());
    try {
      const mock = await startMock({ tickets: 900 });
      await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out: `s3://${bucket}/order`, rateLimit: 0, perPage: 300, maxRowsPerFile: 300 });
      const puts = proxy.log.map((e, i) => ({ ...e, i })).filter((e) => e.method === 'PUT' && e.outcome === 200);
      const commits = puts.filter((e) => /\/order\/tickets\/_delta_log\/\d{20}\.json$/.test(e.path));
      expect(commits.length).toBe((await readS3Log(bucket, 'order/tickets')).versions);
      expect(commits.every((c) => c.conditional)).toBe(true);
      let checked = 0;
      for (const c of commits) {
        const body = (await getObject(bucket, c.path.slice(`/${bucket}/`.length))).toString('utf8');
        for (const line of body.split('\n').filter(Boolean)) {
          const add = (JSON.parse(line) as { add?: { path: string } }).add;
          if (!add) continue;
          const upload = puts.find((p) => p.path === `/${bucket}/order/tickets/${add.path}`);
          expect(upload, add.path).toBeDefined();
          expect(upload!.i).toBeLessThan(c.i);
          checked++;
        }
      }
      expect(checked).toBe(3);
    } finally {
      await proxy.close();
    }
  });
});
