/**
 * Exactly once when a writer pauses past its lease (issue 17), on the real S3 (Ceph RGW): the four
 * filed scenarios in both formats. Uploads go straight to their final keys and a commit is a
 * PutObject with If-None-Match: *, which RGW enforces; so a fence is the only thing between a paused
 * run and a dangling add. Read back through the Delta log by chDB (Parquet) or through the log's
 * files (NDJSON); every add in the log must be in the bucket.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MockZendesk } from '../../src/mock/server.js';
import { mockEnv, runCli, startMock } from '../helpers.js';
import { SCENARIOS, runScenario } from '../support/fencing-scenarios.js';
import { awsEnv, deltaS3Versions, dropBucket, freshBucket, getObject, listObjects, useAwsEnv } from '../support/s3-lake.js';
import { exactly, readS3Log } from '../support/lake-oracle.js';

let bucket: string;

beforeEach(async () => {
  useAwsEnv();
  bucket = await freshBucket('zde-fence');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await dropBucket(bucket);
});

/** Every version once through the log, and every file the log adds present in the bucket. */
async function expectS3TableExact(prefix: string, mock: MockZendesk, format: 'parquet' | 'ndjson'): Promise<void> {
  const table = `${prefix}/tickets`;
  const log = await readS3Log(bucket, table);
  const objects = new Set((await listObjects(bucket, `${table}/`)).map((o) => o.key.slice(table.length + 1)));
  expect(log.files.filter((f) => !objects.has(f))).toEqual([]);
  let got: string[];
  if (format === 'parquet') got = await deltaS3Versions(bucket, table);
  else {
    got = [];
    for (const f of log.files) {
      for (const line of (await getObject(bucket, `${table}/${f}`)).toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        const row = JSON.parse(line) as { id: number; generated_timestamp: number };
        got.push(`${row.id}:${row.generated_timestamp}`);
      }
    }
  }
  const r = exactly(got, mock.expectedTickets().map((t) => `${t.id}:${t.generated_timestamp}`));
  expect({ missing: r.missing.slice(0, 5), duplicates: r.duplicates.slice(0, 5), unknown: r.unknown.slice(0, 5) }).toEqual({ missing: [], duplicates: [], unknown: [] });
}

describe('a writer paused past its lease is fenced on S3', () => {
  for (const { name, title } of SCENARIOS) {
    for (const format of ['parquet', 'ndjson'] as const) {
      it(`${title} (${format})`, async () => {
        const mock = await startMock({ tickets: 2000 });
        const out = `s3://${bucket}/lake`;
        const env = { ...mockEnv(mock), ...awsEnv() };
        await runScenario(name, { out, env, run: (args) => runCli(args, env) }, mock, format);
        await expectS3TableExact('lake', mock, format);
      });
    }
  }
});
