/**
 * One error root for everything the exporter throws. Callers match on `code`, never on message text.
 * `kind` groups codes by what the caller should do (after the Singer SDK): retry, stop, fix the config,
 * or keep going past one bad record.
 */
export type ErrorKind = 'retriable' | 'fatal' | 'config' | 'record';

export const ErrorCodes = {
  /** An option or environment variable is missing or has a bad value. */
  INVALID_OPTION: 'ZDE_INVALID_OPTION',
  /** 401: the credentials were refused. */
  UNAUTHORIZED: 'ZDE_UNAUTHORIZED',
  /** 403: the credentials are valid but not allowed (the export endpoints are for admins only). */
  FORBIDDEN: 'ZDE_FORBIDDEN',
  /** 404: usually a wrong subdomain or base URL. */
  NOT_FOUND: 'ZDE_NOT_FOUND',
  /** 429 from Zendesk. Retriable; waits exactly Retry-After. */
  RATE_LIMITED: 'ZDE_RATE_LIMITED',
  /** 5xx from Zendesk or a proxy. Retriable. */
  SERVER_ERROR: 'ZDE_SERVER_ERROR',
  /** Another 4xx. Final. */
  CLIENT_ERROR: 'ZDE_CLIENT_ERROR',
  /** The cursor was refused (400). Recovered by falling back to start_time. */
  INVALID_CURSOR: 'ZDE_INVALID_CURSOR',
  /** Connection reset, refused, timed out, or a body that stopped early. Retriable. */
  NETWORK: 'ZDE_NETWORK',
  /** A page body that is not the JSON envelope expected (HTML from a proxy, a truncated body). Retriable. */
  MALFORMED_PAGE: 'ZDE_MALFORMED_PAGE',
  /** Retries ran out (attempts or time). The cause is the last error. */
  RETRIES_EXHAUSTED: 'ZDE_RETRIES_EXHAUSTED',
  /** Pagination would request the same position again without progress. */
  PAGINATION_LOOP: 'ZDE_PAGINATION_LOOP',
  /** A response tried to send us to another origin. */
  FOREIGN_ORIGIN: 'ZDE_FOREIGN_ORIGIN',
  /** Writing output or state failed (disk full, read-only folder). */
  SINK_WRITE: 'ZDE_SINK_WRITE',
  /** The state file is unreadable, corrupt, or from a newer version. */
  STATE_INVALID: 'ZDE_STATE_INVALID',
  /** One value in one ticket did not fit its column. The value is kept raw; the run goes on. */
  BAD_VALUE: 'ZDE_BAD_VALUE',
  /** The run was stopped by a signal after committing what was complete. */
  INTERRUPTED: 'ZDE_INTERRUPTED',
  /** Another live run holds a lease on the same part of the table. Try again once it is done. */
  LEASE_HELD: 'ZDE_LEASE_HELD',
  /** Another writer committed an overlapping part of the table first; this run's part was dropped. */
  COMMIT_CONFLICT: 'ZDE_COMMIT_CONFLICT',
  /** The run's settings differ from those the table pinned (format, partitioning, ...). */
  TABLE_SETTINGS: 'ZDE_TABLE_SETTINGS',
  /** The reader of the output went away (`| head`): the run stops where it is, quietly. */
  OUTPUT_CLOSED: 'ZDE_OUTPUT_CLOSED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Context fields an error may carry. URLs are always redacted before they get here. */
export interface ErrorContext {
  url?: string;
  status?: number;
  attempt?: number;
  byteOffset?: number;
  ticketId?: number;
  option?: string;
  value?: unknown;
  retryAfterMs?: number;
  path?: string;
  column?: string;
  /** The named conflict a commit ran into (`fenced`, `concurrent-append`, ...). */
  conflict?: string;
}

const KIND: Record<ErrorCode, ErrorKind> = {
  ZDE_INVALID_OPTION: 'config',
  ZDE_UNAUTHORIZED: 'fatal',
  ZDE_FORBIDDEN: 'fatal',
  ZDE_NOT_FOUND: 'fatal',
  ZDE_RATE_LIMITED: 'retriable',
  ZDE_SERVER_ERROR: 'retriable',
  ZDE_CLIENT_ERROR: 'fatal',
  ZDE_INVALID_CURSOR: 'fatal',
  ZDE_NETWORK: 'retriable',
  ZDE_MALFORMED_PAGE: 'retriable',
  ZDE_RETRIES_EXHAUSTED: 'fatal',
  ZDE_PAGINATION_LOOP: 'fatal',
  ZDE_FOREIGN_ORIGIN: 'fatal',
  ZDE_SINK_WRITE: 'fatal',
  ZDE_STATE_INVALID: 'fatal',
  ZDE_BAD_VALUE: 'record',
  ZDE_INTERRUPTED: 'fatal',
  ZDE_LEASE_HELD: 'fatal',
  ZDE_COMMIT_CONFLICT: 'fatal',
  ZDE_TABLE_SETTINGS: 'config',
  ZDE_OUTPUT_CLOSED: 'fatal',
};

export class ZendeskEtlError extends Error implements ErrorContext {
  override readonly name: string = 'ZendeskEtlError';
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly url?: string;
  readonly status?: number;
  readonly attempt?: number;
  readonly byteOffset?: number;
  readonly ticketId?: number;
  readonly option?: string;
  readonly value?: unknown;
  readonly retryAfterMs?: number;
  readonly path?: string;
  readonly column?: string;
  readonly conflict?: string;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.kind = KIND[code];
    Object.assign(this, context);
  }

  get retriable(): boolean {
    return this.kind === 'retriable';
  }

  /** A plain object for logs and JSON: code, message, context. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, kind: this.kind, message: this.message };
    for (const key of ['url', 'status', 'attempt', 'byteOffset', 'ticketId', 'option', 'value', 'retryAfterMs', 'path', 'column', 'conflict'] as const) {
      if (this[key] !== undefined) out[key] = this[key];
    }
    if (this.cause instanceof Error) out.cause = this.cause.message;
    return out;
  }
}

export function invalidOption(option: string, expected: string, value: unknown): ZendeskEtlError {
  return new ZendeskEtlError(
    ErrorCodes.INVALID_OPTION,
    `${option} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`,
    { option, value },
  );
}

/** Why a file-system call failed, in words a user acts on (the disk is full, not writable, ...). */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return 'the disk is full';
  if (code === 'EROFS') return 'the file system is read-only';
  if (code === 'EACCES') return 'permission denied (this user may not write there)';
  if (code === 'EPERM') {
    const detail = /operation not permitted: (.*), mkdir /.exec((err as Error).message)?.[1];
    return detail === undefined ? 'the operation is not permitted' : `not permitted: ${detail}`;
  }
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file stands where a folder should be';
  return (err as Error).message;
}

/** A file-system error that no retry mends: the folder is read-only or not this user's to write. */
export function isPermissionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EROFS' || code === 'EACCES' || code === 'EPERM';
}

export function isZendeskEtlError(err: unknown): err is ZendeskEtlError {
  return err instanceof ZendeskEtlError;
}
