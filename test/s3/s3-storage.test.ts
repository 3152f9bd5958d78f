/**
 * S3Storage against the real S3 (Ceph RGW): the Storage contract the table log relies on, the data
 * file uploads, configuration from the SDK's standard chain, and the coded errors.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CreateMultipartUploadCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ZendeskEtlError } from '../../src/core/errors.js';
import { openStorage, parseS3Url } from '../../src/storage/open-storage.js';
import { S3Storage } from '../../src/storage/s3/client.js';
import { isLocalOrIp } from '../../src/storage/s3/endpoint.js';
import type { Storage } from '../../src/storage/storage.js';
import { FaultProxy, isUploadPart } from '../support/fault-proxy.js';
import { dropBucket, freshBucket, getObject, listObjects, multipartUploads, useAwsEnv } from '../support/s3-lake.js';
import { s3Client, s3Env } from '../support/services.js';

const MiB = 1024 * 1024;

async function open(url: string, opts: { s3ForcePathStyle?: boolean } = {}): Promise<S3Storage> {
  const storage = await openStorage(url, opts);
  expect(storage).toBeInstanceOf(S3Storage);
  return storage as S3Storage;
}

async function keys(storage: Storage, prefix: string, startAfter?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of storage.list(prefix, startAfter === undefined ? {} : { startAfter })) out.push(o.key);
  return out;
}

async function failure(p: Promise<unknown>): Promise<ZendeskEtlError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ZendeskEtlError);
  return err as ZendeskEtlError;
}

/** `bytes` of deterministic data, written into `out` with backpressure; resolves to its sha256. */
async function writeBytes(out: NodeJS.WritableStream, bytes: number, chunk = 256 * 1024): Promise<string> {
  const hash = createHash('sha256');
  for (let done = 0, n = 0; done < bytes; n++) {
    const piece = Buffer.alloc(Math.min(chunk, bytes - done), n % 251);
    hash.update(piece);
    done += piece.length;
    await new Promise<void>((resolve, reject) => {
      out.write(piece, (err) => (err ? reject(err) : resolve()));
    });
  }
  return hash.digest('hex');
}

let bucket: string;

beforeEach(async () => {
  useAwsEnv();
  bucket = await freshBucket('zde-store');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await dropBucket(bucket);
});

describe('s3:// URLs', () => {
  it('opens s3://BUCKET/PREFIX as object storage: url, keys relative to the prefix, uploads publish', async () => {
    const s = await open(`s3://${bucket}/lakes/one/`);
    expect(s.url).toBe(`s3://${bucket}/lakes/one`);
    expect(s.publishes).toBe('upload');
    await s.put('tickets/_zde/x.json', '{}');
    expect((await listObjects(bucket)).map((o) => o.key)).toEqual(['lakes/one/tickets/_zde/x.json']);
    const root = await open(`s3://${bucket}`);
    expect(root.url).toBe(`s3://${bucket}`);
    expect(await keys(root, '')).toEqual(['lakes/one/tickets/_zde/x.json']);
  });

  it('refuses malformed locations with a coded error that names the option and never echoes credentials', async () => {
    const cases: [string, RegExp][] = [
      ['s3://', /the bucket is missing/],
      ['s3:///prefix', /the bucket is missing/],
      ['s3://Bad_Bucket/p', /not a valid bucket name/],
      ['s3://ab/p', /not a valid bucket name/],
      ['s3://192.168.1.1/p', /not a valid bucket name/],
      ['s3://bucket/a//b', /empty, "\." or "\.\." segment/],
      ['s3://bucket/a/../b', /empty, "\." or "\.\." segment/],
      ['s3://bucket/a?b', /control character, \?, # or/],
      ['s3:bucket/p', /lacks the \/\/ after s3:/],
    ];
    for (const [url, why] of cases) {
      const err = await failure(openStorage(url, { option: '--out' }));
      expect(err.code, url).toBe('ZDE_INVALID_OPTION');
      expect(err.message, url).toMatch(/^--out must be s3:\/\/BUCKET\/PREFIX/);
      expect(err.message, url).toMatch(why);
    }
    const secret = 'wJalrXUtnFEMI-not-real-K7MDENG';
    const withKey = await failure(openStorage(`s3://AKIAEXAMPLE:${secret}@bucket/p`));
    expect(withKey.message).toMatch(/no credentials in it \(the value is not shown\)/);
    expect(JSON.stringify(withKey.toJSON())).not.toContain(secret);
    const ftp = await failure(openStorage(`ftp://user:${secret}@h/l`));
    expect(ftp.message).toMatch(/the scheme ftp:\/\/ is not supported/);
    expect(JSON.stringify(ftp.toJSON())).not.toContain(secret);
    expect(parseS3Url('s3://my.bucket-1/a/b/')).toEqual({ bucket: 'my.bucket-1', prefix: 'a/b' });
  });

  it('path style for IP and localhost endpoints, or when asked; virtual hosts otherwise', async () => {
    expect(isLocalOrIp(new URL('http://127.0.0.1:7480'))).toBe(true);
    expect(isLocalOrIp(new URL('http://localhost:9000'))).toBe(true);
    expect(isLocalOrIp(new URL('http://[::1]:9000'))).toBe(true);
    expect(isLocalOrIp(new URL('https://s3.eu-west-1.amazonaws.com'))).toBe(false);
    expect((await open(`s3://${bucket}/p`)).client.config.forcePathStyle).toBe(true);
    vi.stubEnv('AWS_ENDPOINT_URL', 'https://objects.example.test');
    expect((await open(`s3://${bucket}/p`)).client.config.forcePathStyle).toBe(false);
    expect((await open(`s3://${bucket}/p`, { s3ForcePathStyle: true })).client.config.forcePathStyle).toBe(true);
    // localhost is a name, not an IP: path style still. (This RGW serves 127.0.0.1 only: its rgw dns name.)
    vi.stubEnv('AWS_ENDPOINT_URL', `http://localhost:${s3Env().port}`);
    expect((await open(`s3://${bucket}/p`)).client.config.forcePathStyle).toBe(true);
  });

  it('AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL; an endpoint with a password in it is refused unseen', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_S3', s3Env().endpoint);
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9');
    const s = await open(`s3://${bucket}/p`);
    await s.put('k', 'v');
    expect(s.endpoint).toBe(s3Env().endpoint);
    vi.stubEnv('AWS_ENDPOINT_URL_S3', 'http://user:hunter2-not-real@127.0.0.1:7480');
    const err = await failure(openStorage(`s3://${bucket}/p`));
    expect(err.code).toBe('ZDE_INVALID_OPTION');
    expect(err.message).toMatch(/AWS_ENDPOINT_URL_S3 must be an http:\/\/ or https:\/\/ URL with no user or password/);
    expect(err.message).not.toContain('hunter2');
  });

  it('no region anywhere: a coded error that says to set AWS_REGION', async () => {
    vi.stubEnv('AWS_REGION', undefined);
    const err = await failure(openStorage(`s3://${bucket}/p`));
    expect(err.code).toBe('ZDE_INVALID_OPTION');
    expect(err.option).toBe('AWS_REGION');
    expect(err.message).toMatch(/no AWS region is set for the bucket .*: set AWS_REGION/);
  });
});

describe('the operations the table log needs', () => {
  it('putIfAbsent: the first writer wins, later ones get false and the first content stays', async () => {
    const s = await open(`s3://${bucket}/lake`);
    expect(await s.putIfAbsent('t/_delta_log/00000000000000000000.json', 'first')).toBe(true);
    expect(await s.putIfAbsent('t/_delta_log/00000000000000000000.json', 'second')).toBe(false);
    expect((await s.get('t/_delta_log/00000000000000000000.json'))?.toString()).toBe('first');
    const racers = await Promise.all(Array.from({ length: 8 }, (_, i) => s.putIfAbsent('t/_delta_log/00000000000000000001.json', `writer ${i}`)));
    expect(racers.filter(Boolean)).toHaveLength(1);
    expect((await s.get('t/_delta_log/00000000000000000001.json'))?.toString()).toBe(`writer ${racers.indexOf(true)}`);
    // The same bytes again are this writer's own (a retried request that landed): not a lost race.
    expect(await s.putIfAbsent('t/_delta_log/00000000000000000000.json', 'first')).toBe(true);
  });

  it('put replaces, get of a missing key is undefined', async () => {
    const s = await open(`s3://${bucket}/lake`);
    expect(await s.get('nothing/here.json')).toBeUndefined();
    await s.put('t/_zde/leases/a.json', 'one');
    await s.put('t/_zde/leases/a.json', Buffer.from('two'));
    expect((await s.get('t/_zde/leases/a.json'))?.toString()).toBe('two');
  });

  it('list: every key below a prefix in key order, from after startAfter, across pages; delete of a folder removes all below', async () => {
    const s = await open(`s3://${bucket}/lake`);
    const names = Array.from({ length: 1105 }, (_, i) => `t/_delta_log/${String(i).padStart(20, '0')}.json`);
    const client = s3Client();
    try {
      for (let i = 0; i < names.length; i += 64) {
        await Promise.all(names.slice(i, i + 64).map((k) => client.send(new PutObjectCommand({ Bucket: bucket, Key: `lake/${k}`, Body: k }))));
      }
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'lake/t/part-0.parquet', Body: 'x' }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'lake/t2/other.json', Body: 'x' }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'outside/t/x.json', Body: 'x' }));
    } finally {
      client.destroy();
    }
    expect(await keys(s, 't/_delta_log/')).toEqual(names);
    expect(await keys(s, 't/_delta_log/', names[1099])).toEqual(names.slice(1100));
    const listed: { size: number; modified: number }[] = [];
    for await (const o of s.list('t/')) listed.push(o);
    expect(listed).toHaveLength(1106);
    expect(listed.every((o) => o.size > 0 && o.modified > Date.now() - 3_600_000)).toBe(true);
    await s.delete('t'); // a folder: everything below t/, in batches of 1000
    expect(await keys(s, '')).toEqual(['t2/other.json']);
    await s.delete('t2/other.json');
    await s.delete('t2/other.json'); // gone already: fine
    expect((await listObjects(bucket)).map((o) => o.key)).toEqual(['outside/t/x.json']);
  });

  it('refuses keys that would leave the prefix', async () => {
    const s = await open(`s3://${bucket}/lake`);
    for (const key of ['../x', 'a/../../x', '/abs', '']) {
      const err = await failure(s.put(key, 'x'));
      expect(err.code).toBe('ZDE_SINK_WRITE');
      expect(err.message).toMatch(/it would leave the lake/);
    }
  });
});

describe('data files', () => {
  it('stream straight to the final key as a multipart upload, counting bytes; no upload is left unfinished', async () => {
    const s = await open(`s3://${bucket}/lake`);
    const file = await s.create('t/part-1.ndjson', 't/_staging/1.inprogress');
    expect(file.where).toBe(`s3://${bucket}/lake/t/part-1.ndjson`);
    const sha = await writeBytes(file.stream(), 20 * MiB + 12345);
    file.check();
    expect(file.bytes).toBe(20 * MiB + 12345);
    expect(await file.finish()).toBe(20 * MiB + 12345);
    await file.promote();
    const body = await getObject(bucket, 'lake/t/part-1.ndjson');
    expect(createHash('sha256').update(body).digest('hex')).toBe(sha);
    expect(await multipartUploads(bucket)).toEqual([]);
    expect((await listObjects(bucket)).map((o) => o.key)).toEqual(['lake/t/part-1.ndjson']); // no staging object
  });

  it('a small file is one PutObject; an empty one is an empty object', async () => {
    const s = await open(`s3://${bucket}/lake`);
    const small = await s.create('t/small.ndjson', 'x');
    small.stream().write('{"id":1}\n');
    expect(await small.finish()).toBe(9);
    expect((await getObject(bucket, 'lake/t/small.ndjson')).toString()).toBe('{"id":1}\n');
    const empty = await s.create('t/empty.ndjson', 'y');
    expect(await empty.finish()).toBe(0);
    expect((await getObject(bucket, 'lake/t/empty.ndjson')).length).toBe(0);
  });

  it('abort() mid-upload aborts the multipart upload; abort() after finish() deletes the object', async () => {
    const s = await open(`s3://${bucket}/lake`);
    const file = await s.create('t/part-2.ndjson', 'x');
    await writeBytes(file.stream(), 19 * MiB);
    await file.abort();
    expect(await multipartUploads(bucket)).toEqual([]);
    expect(await listObjects(bucket)).toEqual([]);
    const done = await s.create('t/part-3.ndjson', 'y');
    await writeBytes(done.stream(), 1000);
    await done.finish();
    expect(await listObjects(bucket)).toHaveLength(1);
    await done.abort();
    expect(await listObjects(bucket)).toEqual([]);
  });

  it('localPath(): a file an engine writes itself is uploaded by finish(), and the local copy removed', async () => {
    const s = await open(`s3://${bucket}/lake`);
    const file = await s.create('t/part-4.parquet', 'x');
    const path = file.localPath();
    const bytes = randomBytes(6 * MiB + 7);
    await writeFile(path, bytes);
    expect(await file.finish()).toBe(bytes.length);
    expect((await getObject(bucket, 'lake/t/part-4.parquet')).equals(bytes)).toBe(true);
    expect(existsSync(dirname(path))).toBe(false);
    const none = await s.create('t/part-5.parquet', 'y');
    none.localPath();
    const err = await failure(none.finish());
    expect(err.code).toBe('ZDE_SINK_WRITE');
    expect(err.message).toMatch(/nothing was written at .* for s3:\/\/.*\/lake\/t\/part-5\.parquet/);
    await none.abort();
  });

  it('a part that keeps failing surfaces through check() and finish() as ZDE_SINK_WRITE naming the object; a writer blocked on backpressure is released', async () => {
    const proxy = new FaultProxy({ port: s3Env().port });
    const url = await proxy.start();
    try {
      useAwsEnv(url, { AWS_MAX_ATTEMPTS: '2' });
      proxy.inject({ name: 'every part fails', when: isUploadPart, fault: { status: 500, code: 'InternalError' }, times: 1000 });
      const s = await open(`s3://${bucket}/lake`);
      const file = await s.create('t/part-6.ndjson', 'x');
      const writing = await writeBytes(file.stream(), 200 * MiB).then(
        () => 'wrote all',
        (e: unknown) => e,
      );
      expect(writing).toBeInstanceOf(Error);
      expect(() => file.check()).toThrow(/S3 failed while uploading s3:\/\/.*\/lake\/t\/part-6\.ndjson at http:\/\/127\.0\.0\.1:\d+: InternalError, HTTP 500 after 2 attempts/);
      const err = await failure(file.finish());
      expect(err.code).toBe('ZDE_SINK_WRITE');
      expect(err.path).toBe(`s3://${bucket}/lake/t/part-6.ndjson`);
      await file.abort();
      expect(await multipartUploads(bucket)).toEqual([]);
      expect(proxy.fired.length).toBeGreaterThanOrEqual(2);
    } finally {
      await proxy.close();
    }
  });
});

describe('unfinished uploads', () => {
  it('abortStaleUploads aborts the old ones below a prefix, and keeps what `keep` names', async () => {
    const s = await open(`s3://${bucket}/lake`);
    const client = s3Client();
    try {
      for (const key of ['lake/t/part-a.parquet', 'lake/t/part-b.parquet', 'lake/other/part-c.parquet']) {
        await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      }
    } finally {
      client.destroy();
    }
    expect(await s.abortStaleUploads('t/', 3_600_000)).toBe(0); // all younger than an hour
    expect(await s.abortStaleUploads('t/', 0, { keep: (k) => k === 't/part-b.parquet' })).toBe(1);
    expect((await multipartUploads(bucket)).map((u) => u.key).sort()).toEqual(['lake/other/part-c.parquet', 'lake/t/part-b.parquet']);
    expect(await s.abortStaleUploads('t/', 0)).toBe(1);
    expect((await multipartUploads(bucket)).map((u) => u.key)).toEqual(['lake/other/part-c.parquet']);
  });
});

describe('coded errors', () => {
  it('a wrong secret: ZDE_UNAUTHORIZED, "the S3 credentials were refused", and no secret in it', async () => {
    const secret = 'zde-wrong-secret-4f9c2b7e1a';
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', secret);
    const s = await open(`s3://${bucket}/lake`);
    const err = await failure(s.get('t/_delta_log/00000000000000000000.json'));
    expect(err.code).toBe('ZDE_UNAUTHORIZED');
    expect(err.message).toMatch(/the S3 credentials were refused \(SignatureDoesNotMatch, HTTP 403\) while reading s3:\/\//);
    expect(JSON.stringify(err.toJSON())).not.toContain(secret);
  });

  it('an unknown key id: ZDE_UNAUTHORIZED naming InvalidAccessKeyId', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'ZDEUNKNOWNKEYID0000');
    const s = await open(`s3://${bucket}/lake`);
    const err = await failure(s.put('k', 'v'));
    expect(err.code).toBe('ZDE_UNAUTHORIZED');
    expect(err.message).toMatch(/InvalidAccessKeyId/);
    expect(JSON.stringify(err.toJSON())).not.toContain('ZDEUNKNOWNKEYID0000');
  });

  it('no credentials anywhere: ZDE_INVALID_OPTION that says where they come from', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', undefined);
    const s = await open(`s3://${bucket}/lake`);
    const err = await failure(s.get('k'));
    expect(err.code).toBe('ZDE_INVALID_OPTION');
    expect(err.message).toMatch(/no AWS credentials were found for s3:\/\/.*: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/);
  });

  it('a bucket that does not exist: ZDE_INVALID_OPTION naming it', async () => {
    const s = await open(`s3://${bucket}-missing/lake`);
    const err = await failure(keys(s, 't/'));
    expect(err.code).toBe('ZDE_INVALID_OPTION');
    expect(err.message).toMatch(new RegExp(`the bucket ${bucket}-missing does not exist at http://127\\.0\\.0\\.1:\\d+ \\(NoSuchBucket, HTTP 404\\)`));
  });

  it('nothing listening: ZDE_SINK_WRITE naming the endpoint and the network error', async () => {
    useAwsEnv('http://127.0.0.1:9', { AWS_MAX_ATTEMPTS: '1' });
    const s = await open(`s3://${bucket}/lake`);
    const err = await failure(s.put('k', 'v'));
    expect(err.code).toBe('ZDE_SINK_WRITE');
    expect(err.message).toMatch(/S3 failed while writing s3:\/\/.*\/lake\/k at http:\/\/127\.0\.0\.1:9: ECONNREFUSED/);
  });
});
