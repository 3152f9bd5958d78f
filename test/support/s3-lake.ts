/**
 * Helpers for lakes on the real S3 (RGW) started by test/s3/global-setup.ts: the AWS_* environment a
 * run needs, a fresh bucket per test, what a bucket holds (read with the SDK, no code of the package),
 * the rows a Delta reader (chDB) sees, and the CLI run from source as a real process.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { AbortMultipartUploadCommand, DeleteBucketCommand, DeleteObjectsCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { chdbQuery, deltaS3 } from './chdb.js';
import { createBucket, s3Client, s3Env, uniqueBucketName } from './services.js';
import { spawnCli } from '../helpers.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The AWS_* variables that point the SDK's standard chain at the test RGW (or at `endpoint`, a proxy in front of it). */
export function awsEnv(endpoint?: string): Record<string, string> {
  const env = s3Env();
  return {
    AWS_ACCESS_KEY_ID: env.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
    AWS_REGION: env.region,
    AWS_ENDPOINT_URL: endpoint ?? env.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // Nothing from this machine's ~/.aws may change what a test sees.
    AWS_CONFIG_FILE: '/nonexistent/zde-aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/zde-aws-credentials',
  };
}

/** AWS variables that must not leak into a test from the machine it runs on. */
export const FOREIGN_AWS_VARS = ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL_S3', 'AWS_DEFAULT_REGION', 'AWS_MAX_ATTEMPTS', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS'] as const;

/**
 * Set this process's AWS_* variables (the SDK reads process.env) to `awsEnv(endpoint)` plus
 * `overrides` (undefined: unset), with foreign ones unset. Undone by `vi.unstubAllEnvs()`.
 */
export function useAwsEnv(endpoint?: string, overrides: Record<string, string | undefined> = {}): void {
  for (const name of FOREIGN_AWS_VARS) vi.stubEnv(name, undefined);
  for (const [name, value] of Object.entries({ ...awsEnv(endpoint), ...overrides })) vi.stubEnv(name, value);
}

/** A new bucket on RGW; resolves to its name. */
export async function freshBucket(prefix = 'zde-lake'): Promise<string> {
  const bucket = uniqueBucketName(prefix);
  await createBucket(bucket);
  return bucket;
}

/**
 * Empty a bucket (objects and unfinished uploads) and delete it. RGW here keeps everything in memory
 * (memstore, 2 GiB): a suite that leaves its buckets behind fills it for the next.
 */
export async function dropBucket(bucket: string): Promise<void> {
  const client = s3Client();
  try {
    for (const u of await multipartUploads(bucket)) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId })).catch(() => undefined);
    const keys = (await listObjects(bucket)).map((o) => o.key);
    for (let i = 0; i < keys.length; i += 1000) {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

export interface BucketObject {
  key: string;
  size: number;
  modified: number;
}

/** Every object below `prefix` of a bucket, in key order. */
export async function listObjects(bucket: string, prefix = ''): Promise<BucketObject[]> {
  const client = s3Client();
  try {
    const out: BucketObject[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  } finally {
    client.destroy();
  }
}

export async function getObject(bucket: string, key: string, client?: S3Client): Promise<Buffer> {
  const c = client ?? s3Client();
  try {
    const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await res.Body!.transformToByteArray());
  } finally {
    if (!client) c.destroy();
  }
}

/** The unfinished multipart uploads of a bucket below `prefix`. */
export async function multipartUploads(bucket: string, prefix = ''): Promise<{ key: string; uploadId: string }[]> {
  const client = s3Client();
  try {
    const res = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    return (res.Uploads ?? []).map((u) => ({ key: u.Key ?? '', uploadId: u.UploadId ?? '' }));
  } finally {
    client.destroy();
  }
}

/** `id:version` of every row a Delta reader (chDB's delta-kernel) sees in `s3://bucket/tableKey`. */
export async function deltaS3Versions(bucket: string, tableKey: string, version = 'generated_timestamp'): Promise<string[]> {
  const env = s3Env();
  const rows = await chdbQuery(`SELECT toString(id) AS id, toString(${version}) AS v FROM ${deltaS3(`${env.endpoint}/${bucket}/${tableKey}`, env.accessKeyId, env.secretAccessKey)}`);
  return rows.map((r) => `${String(r.id)}:${String(r.v)}`);
}

export interface SourceCliRun {
  child: ChildProcess;
  done: Promise<{ code: number; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * Run the CLI from source (src/cli/main.ts through tsx) as a real process, so the code under test is
 * what runs, whatever state dist/ is in. `env` is the child's whole environment (plus PATH and HOME).
 */
export function spawnSourceCli(args: string[], env: Record<string, string>): SourceCliRun {
  return spawnCli(args, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, { cli: ['--import', 'tsx', 'src/cli/main.ts'], cwd: REPO_ROOT });
}
