import { S3Client } from '@aws-sdk/client-s3';
import { ErrorCodes, ZendeskEtlError } from '../../core/errors.js';

interface Endpoint {
  url: URL;
  /** Where it came from, for messages: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, or the profile. */
  from: string;
}

export function optionError(option: string, expected: string, value: unknown): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${option} must be ${expected}, got ${JSON.stringify(value)}`, { option, value });
}

/** The endpoint AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL names (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true). */
export function endpointFromEnv(env: NodeJS.ProcessEnv): Endpoint | undefined {
  if (/^true$/i.test(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '')) return undefined;
  for (const variable of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
    const raw = env[variable];
    if (raw) return { url: parseEndpoint(raw, variable), from: variable };
  }
  return undefined;
}

/** The endpoint the shared config file gives (`endpoint_url` of the profile, or of its services section). */
export async function endpointFromProfile(): Promise<Endpoint | undefined> {
  const probe = new S3Client({ region: 'us-east-1' });
  try {
    // Resolved by the SDK as it would for a request; `serviceConfiguredEndpoint` is how it exposes it.
    const config = probe.config as { serviceConfiguredEndpoint?: () => Promise<string | undefined> };
    const raw = await config.serviceConfiguredEndpoint?.().catch(() => undefined);
    return raw ? { url: parseEndpoint(raw, 'the endpoint_url of the AWS profile'), from: 'profile' } : undefined;
  } finally {
    probe.destroy();
  }
}

function parseEndpoint(raw: string, from: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    // The value is not echoed: a mistyped URL may hold a credential.
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${from} must be an http:// or https:// URL with no user or password in it, such as https://s3.example.com or http://127.0.0.1:9000 (the value is not shown)`, { option: from });
  }
  return url;
}

/** IP addresses and localhost: no DNS for `bucket.host`, so buckets go in the path. */
export function isLocalOrIp(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[');
}

export async function requireRegion(client: S3Client, bucket: string): Promise<void> {
  try {
    const region = await client.config.region();
    if (region) return;
  } catch {
    // "Region is missing": said below, with what to do.
  }
  client.destroy();
  throw new ZendeskEtlError(
    ErrorCodes.INVALID_OPTION,
    `no AWS region is set for the bucket ${bucket}: set AWS_REGION (for example us-east-1; Cloudflare R2 uses auto, MinIO and Ceph accept us-east-1), or region in the profile AWS_PROFILE names`,
    { option: 'AWS_REGION' },
  );
}
