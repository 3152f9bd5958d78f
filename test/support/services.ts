/**
 * Where the real test servers started by scripts/services/*.sh listen, and small helpers on top.
 *
 * The defaults and environment variables are the scripts' own (ZDE_RGW_PORT, ZDE_RGW_ACCESS_KEY,
 * ZDE_RGW_SECRET_KEY, ZDE_REDIS_PORT), so a test reaches the servers that `npm run test:s3` /
 * `npm run test:redis` (or `scripts/services/<x>.sh start`) started. No mocks: these are real servers.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3Env {
  /** `http://127.0.0.1:PORT`, path-style buckets. */
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new Error(`${name}=${raw} is not a TCP port`);
  }
  return port;
}

/** The running RADOS Gateway's endpoint and the fixed test user's keys (test values, not secrets). */
export function s3Env(): S3Env {
  const port = portFromEnv('ZDE_RGW_PORT', 7480);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKeyId: process.env.ZDE_RGW_ACCESS_KEY || 'ZDETESTACCESSKEY',
    secretAccessKey: process.env.ZDE_RGW_SECRET_KEY || 'zde-test-secret-key-not-a-secret',
    region: 'us-east-1',
  };
}

/** An S3 client for the running RGW: path-style, static test credentials. The caller destroys it. */
export function s3Client(): S3Client {
  const env = s3Env();
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  });
}

/**
 * Creates `name` on the running RGW. RGW's memstore cluster starts empty on every `start`, but a
 * cluster left running is shared between runs: use a unique name (see uniqueBucketName).
 */
export async function createBucket(name: string): Promise<void> {
  const client = s3Client();
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
}

/** A valid, unique S3 bucket name (lowercase, <= 63 characters). */
export function uniqueBucketName(prefix = 'zde'): string {
  const suffix = `${Date.now().toString(36)}-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return `${prefix}-${suffix}`.toLowerCase().slice(0, 63);
}

/** `redis://127.0.0.1:PORT` of the running test Redis. */
export function redisUrl(): string {
  const { host, port } = redisHostPort();
  return `redis://${host}:${port}`;
}

export function redisHostPort(): { host: string; port: number } {
  return { host: '127.0.0.1', port: portFromEnv('ZDE_REDIS_PORT', 6390) };
}
