/**
 * Faults between the exporter and a real S3 (Ceph RGW), injected by a proxy on loopback
 * (test/support/fault-proxy.ts): 503s on an upload part, a connection reset mid-upload, a commit whose
 * answer never arrives, and a part that fails for good. The export completes exactly (the SDK
 * retries), or fails with a coded error and leaves nothing the next run cannot finish.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ZendeskEtlError } from '../../src/core/errors.js';
import { exportTickets, type ExportTicketsOptions } from '../../src/export.js';
import type { MockZendesk } from '../../src/mock/server.js';
import { startMock, tokenCredentials } from '../helpers.js';
import { FaultProxy, isCommitPut, isUploadPart, type ProxiedRequest } from '../support/fault-proxy.js';
import { dropBucket, freshBucket, listObjects, multipartUploads, useAwsEnv } from '../support/s3-lake.js';
import { s3Env } from '../support/services.js';
import { exactly, readS3Log } from '../support/lake-oracle.js';

let bucket: string;
let proxy: FaultProxy;

beforeEach(async () => {
  bucket = await freshBucket('zde-fault');
  proxy = new FaultProxy({ port: s3Env().port });
  useAwsEnv(await proxy.start());
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await dropBucket(bucket);
  await proxy.close();
});

/** NDJSON in one big file (~37 MB for 8000 tickets): a multipart upload of several 8 MiB parts. */
function bigFile(mock: MockZendesk, prefix: string): ExportTicketsOptions {
  return { origin: mock.url, credentials: tokenCredentials(mock), out: `s3://${bucket}/${prefix}`, format: 'ndjson', rateLimit: 0, perPage: 1000 };
}

async function expectExact(prefix: string, mock: MockZendesk): Promise<void> {
  const log = await readS3Log(bucket, `${prefix}/tickets`);
  const env = s3Env();
  const { chdbQuery } = await import('../support/chdb.js');
  const rows = await chdbQuery(
    `SELECT toString(id) AS id, toString(generated_timestamp) AS v FROM s3('${env.endpoint}/${bucket}/${prefix}/tickets/{${log.files.join(',')}}', '${env.accessKeyId}', '${env.secretAccessKey}', 'JSONEachRow')`,
    { settings: { input_format_json_read_numbers_as_strings: 1 } },
  );
  const r = exactly(
    rows.map((x) => `${String(x.id)}:${String(x.v)}`),
    mock.expectedTickets().map((t) => `${t.id}:${t.generated_timestamp}`),
  );
  expect({ missing: r.missing.length, duplicates: r.duplicates.length, unknown: r.unknown.length, rows: r.count }).toEqual({ missing: 0, duplicates: 0, unknown: 0, rows: mock.expectedTickets().length });
  expect(await multipartUploads(bucket)).toEqual([]);
}

/** Requests to the same part of the same upload as the faulted one, with their outcomes. */
function sameRequest(fired: { path: string; query: string }): (string | number)[] {
  return proxy.log.filter((e) => e.path === fired.path && e.query === fired.query).map((e) => e.outcome);
}

const part = (n: number) => (r: ProxiedRequest): boolean => isUploadPart(r) && r.query.get('partNumber') === String(n);

describe('the SDK retries what failed, and the export completes exactly', () => {
  it('four 503s in a row on one upload part (more than the SDK default of 3 attempts would survive)', async () => {
    const mock = await startMock({ tickets: 8000 });
    proxy.inject({ name: '503 on part 2', when: part(2), fault: { status: 503, code: 'ServiceUnavailable' }, times: 4 });
    const result = await exportTickets(bigFile(mock, 'a'));
    expect(result.complete).toBe(true);
    expect(proxy.pending).toEqual([]);
    expect(sameRequest(proxy.fired[0]!)).toEqual([503, 503, 503, 503, 200]);
    expect(proxy.log.filter((e) => e.query.includes('partNumber=')).length).toBeGreaterThanOrEqual(5 + 4);
    await expectExact('a', mock);
  });

  it('a connection reset in the middle of an upload part', async () => {
    const mock = await startMock({ tickets: 8000 });
    proxy.inject({ name: 'reset in part 3', when: part(3), fault: { resetAfterBytes: 1024 * 1024 } });
    const result = await exportTickets(bigFile(mock, 'b'));
    expect(result.complete).toBe(true);
    expect(proxy.pending).toEqual([]);
    expect(sameRequest(proxy.fired[0]!)).toEqual(['reset', 200]);
    await expectExact('b', mock);
  });

  it('a 503 on a commit: retried, committed once', async () => {
    const mock = await startMock({ tickets: 3000 });
    proxy.inject({ name: '503 on a commit', when: isCommitPut, fault: { status: 503, code: 'ServiceUnavailable' }, times: 2 });
    const result = await exportTickets({ ...bigFile(mock, 'c'), perPage: 500, maxRowsPerFile: 1000 });
    expect(result.complete).toBe(true);
    expect(proxy.pending).toEqual([]);
    expect(sameRequest(proxy.fired[0]!)).toEqual([503, 503, 200]);
    expect((await readS3Log(bucket, 'c/tickets')).versions).toBe(result.committed.commits);
    await expectExact('c', mock);
  });

  it('409 ConditionalRequestConflict on a commit (a concurrent conditional write was in progress): tried again, committed once', async () => {
    const mock = await startMock({ tickets: 2000 });
    proxy.inject({ name: '409 on a commit', when: isCommitPut, fault: { status: 409, code: 'ConditionalRequestConflict' }, times: 2 });
    const result = await exportTickets({ ...bigFile(mock, 'f'), perPage: 500, maxRowsPerFile: 1000 });
    expect(result.complete).toBe(true);
    expect(sameRequest(proxy.fired[0]!)).toEqual([409, 409, 200]);
    expect((await readS3Log(bucket, 'f/tickets')).versions).toBe(result.committed.commits);
    await expectExact('f', mock);
  });

  it('a commit whose answer is lost after it landed: the retry meets 412, reads its own bytes back, and is not taken for a lost race', async () => {
    const mock = await startMock({ tickets: 3000 });
    proxy.inject({ name: 'answer to a commit lost', when: isCommitPut, fault: { dropResponse: true } });
    const result = await exportTickets({ ...bigFile(mock, 'd'), perPage: 500, maxRowsPerFile: 1000 });
    expect(result.complete).toBe(true);
    expect(sameRequest(proxy.fired[0]!)).toEqual(['dropped 200', 412]);
    const log = await readS3Log(bucket, 'd/tickets');
    expect(log.versions).toBe(result.committed.commits); // no version written twice, none skipped
    expect(log.rows).toBe(3000);
    await expectExact('d', mock);
  });
});

describe('a failure that outlasts the retries', () => {
  it('a part that always fails ends the run with ZDE_SINK_WRITE naming the object; nothing is committed or left unfinished; the next run completes exactly', async () => {
    const mock = await startMock({ tickets: 8000 });
    vi.stubEnv('AWS_MAX_ATTEMPTS', '2');
    proxy.inject({ name: 'part 2 always fails', when: part(2), fault: { status: 500, code: 'InternalError' }, times: 1000 });
    const err = await exportTickets(bigFile(mock, 'e')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ZendeskEtlError);
    const e = err as ZendeskEtlError;
    expect(e.code).toBe('ZDE_SINK_WRITE');
    expect(e.message).toMatch(new RegExp(`S3 failed while uploading s3://${bucket}/e/tickets/part-[^ ]+\\.ndjson at http://127\\.0\\.0\\.1:\\d+: InternalError, HTTP 500 after 2 attempts`));
    expect(await multipartUploads(bucket)).toEqual([]);
    expect((await readS3Log(bucket, 'e/tickets')).rows).toBe(0);
    expect((await listObjects(bucket, 'e/tickets/')).filter((o) => /\.ndjson$/.test(o.key))).toEqual([]);
    vi.stubEnv('AWS_MAX_ATTEMPTS', undefined);
    const proxied = proxy.log.length;
    useAwsEnv(); // straight to RGW
    const again = await exportTickets(bigFile(mock, 'e'));
    expect(again.complete).toBe(true);
    expect(proxy.log.length).toBe(proxied);
    await expectExact('e', mock);
  });
});
