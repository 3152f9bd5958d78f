import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { LocalStorage } from './local-storage.js';
import type { Storage } from './storage.js';

export interface StorageOptions {
  /** The option the location came from, for messages. Default 'out'. */
  option?: string;
  /** Object storage: address buckets by path (`http://host/bucket/key`). Default: only for IP or localhost endpoints. */
  s3ForcePathStyle?: boolean | undefined;
}

/** Where a lake in object storage lives: `s3://BUCKET/PREFIX`. */
export interface S3Location {
  bucket: string;
  /** Without leading or trailing '/'; '' for the bucket's root. */
  prefix: string;
}

/**
 * The storage behind an `--out`: a local folder (a path, or a `file://` URL), or a bucket
 * (`s3://BUCKET/PREFIX`, configured by the AWS SDK's standard chain; the SDK is loaded only then).
 * Any other scheme is refused, rather than written into a local folder named `ftp:`.
 */
export async function openStorage(out: string, opts: StorageOptions = {}): Promise<Storage> {
  const option = opts.option ?? 'out';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(out)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (/^s3:/i.test(out)) throw s3UrlError(option, out, 'it lacks the // after s3:');
    return new LocalStorage(out, option);
  }
  if (scheme === 'file') return new LocalStorage(new URL(out).pathname, option);
  if (scheme === 's3') {
    const location = parseS3Url(out, option);
    const { S3Storage } = await import('./s3/client.js');
    return S3Storage.open({ ...location, forcePathStyle: opts.s3ForcePathStyle, option });
  }
  throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${option} must be a folder or s3://BUCKET/PREFIX, got ${JSON.stringify(withoutUserInfo(out))}: the scheme ${scheme}:// is not supported`, { option, value: withoutUserInfo(out) });
}

/**
 * `s3://BUCKET/PREFIX` into its bucket and prefix. The bucket must be a valid S3 bucket name; the
 * prefix may be empty, and has no empty, `.` or `..` segment, no control character, `?` or `#`.
 */
export function parseS3Url(out: string, option = 'out'): S3Location {
  const rest = out.slice(out.indexOf('://') + 3);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/\/+$/, '');
  if (bucket.includes('@')) {
    // Never echoed: what stands before the @ is likely a key and a secret.
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${option} must be s3://BUCKET/PREFIX with no credentials in it (the value is not shown): credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) or a role`, { option });
  }
  if (bucket === '') throw s3UrlError(option, out, 'the bucket is missing');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw s3UrlError(option, out, `${JSON.stringify(bucket)} is not a valid bucket name (3 to 63 lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit)`);
  }
  if (prefix !== '') {
    if ([...prefix].some((ch) => ch.charCodeAt(0) < 0x20 || ch === '\u007f' || ch === '?' || ch === '#' || ch === '\\')) throw s3UrlError(option, out, 'the prefix holds a control character, ?, # or \\');
    if (prefix.split('/').some((s) => s === '' || s === '.' || s === '..')) throw s3UrlError(option, out, 'the prefix has an empty, "." or ".." segment');
    if (Buffer.byteLength(prefix) > 512) throw s3UrlError(option, out, 'the prefix is longer than 512 bytes');
  }
  return { bucket, prefix };
}

function s3UrlError(option: string, out: string, why: string): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${option} must be s3://BUCKET/PREFIX (PREFIX may be empty), got ${JSON.stringify(withoutUserInfo(out))}: ${why}`, { option, value: withoutUserInfo(out) });
}

/** A URL with any `user:password@` replaced, for messages. */
function withoutUserInfo(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}
