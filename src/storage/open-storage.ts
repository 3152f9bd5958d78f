import { ErrorCodes, ZendeskEtlError } from '../errors.js';
import { LocalStorage } from './local-storage.js';
import type { Storage } from './storage.js';

export interface StorageOptions {
  /** The option the location came from, for messages. Default 'out'. */
  option?: string;
  /** Object storage: address buckets by path (`http://host/bucket/key`). Default: only for IP or localhost endpoints. */
  s3ForcePathStyle?: boolean | undefined;
}

/**
 * The storage behind an `--out`: a local folder (a path, or a `file://` URL). Any other scheme is
 * refused, rather than written into a local folder named `ftp:`.
 */
export async function openStorage(out: string, opts: StorageOptions = {}): Promise<Storage> {
  const option = opts.option ?? 'out';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(out)?.[1]?.toLowerCase();
  if (scheme === undefined) return new LocalStorage(out);
  if (scheme === 'file') return new LocalStorage(new URL(out).pathname);
  throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${option} must be a folder or s3://BUCKET/PREFIX, got ${JSON.stringify(out)}: the scheme ${scheme}:// is not supported`, { option, value: out });
}
