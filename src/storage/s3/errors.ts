import { ErrorCodes, ZendeskEtlError } from '../../core/errors.js';

/** S3 error codes that mean the credentials themselves were refused. */
const REFUSED = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'InvalidClientTokenId', 'UnrecognizedClientException']);

export function errorName(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'Error';
  const e = err as { name?: unknown; Code?: unknown; code?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string' && (e.name === 'Error' || e.name === undefined)) return e.code;
  return typeof e.name === 'string' ? e.name : 'Error';
}

export function httpStatus(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata;
  return typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
}

function attempts(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { attempts?: unknown } } | null)?.$metadata;
  return typeof meta?.attempts === 'number' ? meta.attempts : undefined;
}

/** The values of the AWS secrets in the environment, to mask in any text passed on. */
export function secretsOf(env: NodeJS.ProcessEnv): string[] {
  return [env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, env.AWS_ACCESS_KEY_ID].filter((v): v is string => typeof v === 'string' && v.length >= 4);
}

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

/**
 * A coded error for a failed S3 request: refused credentials (ZDE_UNAUTHORIZED / ZDE_FORBIDDEN, exit 4),
 * settings that cannot work (ZDE_INVALID_OPTION, exit 2: no credentials found, no such bucket, another
 * region), anything else ZDE_SINK_WRITE (exit 1: what was committed is kept; run again).
 */
export function s3Error(action: string, where: string, err: unknown, ctx: { bucket: string; endpoint: string; secrets: readonly string[] }): ZendeskEtlError {
  if (err instanceof ZendeskEtlError) return err;
  const name = errorName(err);
  const status = httpStatus(err);
  const code = `${name}${status === undefined ? '' : `, HTTP ${status}`}`;
  if (name === 'CredentialsProviderError') {
    return new ZendeskEtlError(
      ErrorCodes.INVALID_OPTION,
      `no AWS credentials were found for ${where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where a web identity, container or instance role provides them`,
      { path: where, option: 'AWS_ACCESS_KEY_ID' },
    );
  }
  if (REFUSED.has(name) || status === 401) {
    return new ZendeskEtlError(ErrorCodes.UNAUTHORIZED, `the S3 credentials were refused (${code}) while ${action} ${where} at ${ctx.endpoint}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and the clock of this machine`, { path: where, ...(status ? { status } : {}) });
  }
  if (name === 'AccessDenied' || status === 403) {
    return new ZendeskEtlError(
      ErrorCodes.FORBIDDEN,
      `the S3 credentials were refused for ${action} ${where} (${code}): they need s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucketMultipartUploads and s3:AbortMultipartUpload on the bucket ${ctx.bucket} and this prefix`,
      { path: where, ...(status ? { status } : {}) },
    );
  }
  if (name === 'NoSuchBucket') {
    return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the bucket ${ctx.bucket} does not exist at ${ctx.endpoint} (${code}): create it, or check --out, AWS_ENDPOINT_URL and AWS_REGION`, { path: where, option: 'out' });
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || name === 'IllegalLocationConstraintException') {
    return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the bucket ${ctx.bucket} is not in the region this run uses (${code}): set AWS_REGION to the bucket's region`, { path: where, option: 'AWS_REGION' });
  }
  const tries = attempts(err);
  const text = err instanceof Error ? err.message : String(err);
  const detail = maskSecrets(text, ctx.secrets);
  // The cause travels into logs (`context: {..., cause}`): the original only when nothing had to be masked.
  const cause = detail === text ? err : new Error(detail);
  return new ZendeskEtlError(
    ErrorCodes.SINK_WRITE,
    `S3 failed while ${action} ${where} at ${ctx.endpoint}: ${code}${tries && tries > 1 ? ` after ${tries} attempts` : ''}${detail && detail !== name ? ` (${detail.slice(0, 300)})` : ''}; nothing from this part was committed, and the next run redoes it`,
    { path: where, ...(status ? { status } : {}) },
    { cause },
  );
}
