/**
 * What the real S3 (Ceph RGW, started by test/s3/global-setup.ts) enforces. The commit protocol relies on
 * these behaviours, so they are asserted against the server, not assumed.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chdbQuery, s3Table } from '../support/chdb.js';
import { createBucket, s3Client, s3Env, uniqueBucketName } from '../support/services.js';

let client: S3Client;
let bucket: string;

beforeAll(async () => {
  client = s3Client();
  bucket = uniqueBucketName('zde-rgw-smoke');
  await createBucket(bucket);
});

afterAll(() => {
  client.destroy();
});

async function getText(key: string): Promise<string> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!res.Body) throw new Error(`no body for ${key}`);
  return res.Body.transformToString();
}

async function put(key: string, body: string): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

describe('RGW: put-if-absent', () => {
  it('PutObject with If-None-Match: * succeeds once; the second writer gets 412 and the first content stays', async () => {
    const key = 'lake/_delta_log/00000000000000000000.json';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first writer', IfNoneMatch: '*' }));

    const second = client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'second writer', IfNoneMatch: '*' }));
    const err: unknown = await second.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(S3ServiceException);
    expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(412);

    expect(await getText(key)).toBe('first writer');
  });

  it('only one of several concurrent put-if-absent writers wins', async () => {
    const key = 'race/_delta_log/00000000000000000001.json';
    const writers = Array.from({ length: 8 }, (_, i) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `writer ${i}`, IfNoneMatch: '*' })).then(
        () => ({ i, status: 200 }),
        (e: unknown) => ({ i, status: e instanceof S3ServiceException ? e.$metadata.httpStatusCode : -1 }),
      ),
    );
    const results = await Promise.all(writers);
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    // Measured: 40 rounds of 16 racing writers, exactly one 200 and fifteen 412 each time.
    for (const r of results) expect([200, 412]).toContain(r.status);
    expect(await getText(key)).toBe(`writer ${winners[0]?.i}`);
  });
});

describe('RGW: ListObjectsV2', () => {
  const keys = ['list/a/1.json', 'list/a/2.json', 'list/a/sub/3.json', 'list/b/4.json', 'list/c.json'];

  beforeAll(async () => {
    for (const key of keys) await put(key, key);
  });

  it('Prefix + Delimiter splits objects from common prefixes', async () => {
    const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/', Delimiter: '/' }));
    expect((res.Contents ?? []).map((o) => o.Key)).toEqual(['list/c.json']);
    expect((res.CommonPrefixes ?? []).map((p) => p.Prefix)).toEqual(['list/a/', 'list/b/']);

    const a = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/a/', Delimiter: '/' }));
    expect((a.Contents ?? []).map((o) => o.Key)).toEqual(['list/a/1.json', 'list/a/2.json']);
    expect((a.CommonPrefixes ?? []).map((p) => p.Prefix)).toEqual(['list/a/sub/']);
  });

  it('StartAfter lists strictly after the given key', async () => {
    const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/', StartAfter: 'list/a/2.json' }));
    expect((res.Contents ?? []).map((o) => o.Key)).toEqual(['list/a/sub/3.json', 'list/b/4.json', 'list/c.json']);
  });

  it('MaxKeys pages with continuation tokens', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/', MaxKeys: 2, ContinuationToken: token }),
      );
      pages += 1;
      for (const o of res.Contents ?? []) if (o.Key) seen.push(o.Key);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token && pages < 10);
    expect(seen).toEqual([...keys].sort());
    expect(pages).toBe(3);
  });
});

describe('RGW: multipart upload through @aws-sdk/lib-storage', () => {
  it('streams ~12 MB in three parts and reads back the same bytes', async () => {
    const partSize = 5 * 1024 * 1024;
    const total = 12 * 1024 * 1024;
    const chunk = 64 * 1024;
    const expected = createHash('sha256');
    function* chunks(): Generator<Buffer> {
      for (let offset = 0, n = 0; offset < total; offset += chunk, n += 1) {
        const buf = Buffer.alloc(Math.min(chunk, total - offset), n % 251);
        expected.update(buf);
        yield buf;
      }
    }
    const key = 'multipart/big.bin';
    const upload = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: Readable.from(chunks()) },
      partSize,
      queueSize: 2,
    });
    const parts: number[] = [];
    upload.on('httpUploadProgress', (p) => {
      if (p.part !== undefined) parts.push(p.part);
    });
    await upload.done();
    expect(new Set(parts)).toEqual(new Set([1, 2, 3]));

    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ContentLength).toBe(total);
    expect(head.ETag).toMatch(/-3"?$/);

    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const actual = createHash('sha256');
    for await (const piece of res.Body as Readable) actual.update(piece as Buffer);
    expect(actual.digest('hex')).toBe(expected.digest('hex'));
  });
});

describe('chDB reads RGW', () => {
  it('s3() reads an object back, 64-bit integers exact', async () => {
    const big = '9007199254740993'; // 2^53 + 1: a JSON number would round it to ...992
    await put('chdb/rows.ndjson', `{"id":${big},"name":"a"}\n{"id":2,"name":"b"}\n`);
    const env = s3Env();
    const table = s3Table(`${env.endpoint}/${bucket}/chdb/rows.ndjson`, env.accessKeyId, env.secretAccessKey, 'JSONEachRow');
    const rows = await chdbQuery(`SELECT toInt64(id) AS id, name FROM ${table} ORDER BY name`);
    expect(rows).toEqual([
      { id: big, name: 'a' },
      { id: '2', name: 'b' },
    ]);
  });

  it('a failing query rejects with chDB’s message', async () => {
    const env = s3Env();
    const table = s3Table(`${env.endpoint}/${bucket}/chdb/missing.ndjson`, env.accessKeyId, env.secretAccessKey, 'JSONEachRow');
    await expect(chdbQuery(`SELECT * FROM ${table}`)).rejects.toThrow(/DB::Exception/);
  });
});
