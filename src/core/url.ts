import { ErrorCodes, ZendeskEtlError, invalidOption } from './errors.js';

const SUBDOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopback(hostname: string): boolean {
  return LOOPBACK.has(hostname) || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/**
 * The origin every request goes to: `https://NAME.zendesk.com`, or a base URL for proxies and the
 * stand-in. HTTPS only, except on loopback. Paths, queries and user info are refused.
 */
export function resolveOrigin(opts: { subdomain?: string | undefined; baseUrl?: string | undefined }, names: { subdomain: string; baseUrl: string } = { subdomain: 'subdomain', baseUrl: 'baseUrl' }): string {
  if (opts.subdomain !== undefined && opts.baseUrl !== undefined) {
    throw invalidOption(names.subdomain, `given alone: ${names.subdomain} and ${names.baseUrl} both name the account`, opts.subdomain);
  }
  if (opts.subdomain !== undefined) {
    if (!SUBDOMAIN.test(opts.subdomain)) {
      throw invalidOption(names.subdomain, 'a Zendesk subdomain such as "acme" (letters, digits and "-")', opts.subdomain);
    }
    return `https://${opts.subdomain.toLowerCase()}.zendesk.com`;
  }
  if (opts.baseUrl === undefined) {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the account is not named: give ${names.subdomain} NAME or ${names.baseUrl} URL (or ZENDESK_SUBDOMAIN / ZENDESK_BASE_URL)`, { option: names.subdomain });
  }
  let url: URL;
  try {
    url = new URL(opts.baseUrl);
  } catch {
    throw invalidOption(names.baseUrl, 'an absolute URL such as https://acme.zendesk.com', opts.baseUrl);
  }
  if (url.username || url.password) throw invalidOption(names.baseUrl, 'a URL without user info (credentials come from the environment)', redactUrl(opts.baseUrl));
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw invalidOption(names.baseUrl, 'an https:// URL (plain http is allowed on loopback only)', opts.baseUrl);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw invalidOption(names.baseUrl, 'an origin without a path or query, such as https://acme.zendesk.com', opts.baseUrl);
  }
  return url.origin;
}

const SECRET_PARAMS = /^(access_token|token|api_token|password|key|secret|signature)$/i;

/** A URL fit for logs and errors: no user info, no secret-looking query parameters. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    url.username = '';
    url.password = '';
    for (const key of [...url.searchParams.keys()]) if (SECRET_PARAMS.test(key)) url.searchParams.set(key, 'REDACTED');
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Follow a URL from a response only if it stays on the configured origin. */
export function sameOriginOrThrow(origin: string, next: string): URL {
  let url: URL;
  try {
    url = new URL(next, origin);
  } catch {
    throw new ZendeskEtlError(ErrorCodes.FOREIGN_ORIGIN, `the response gave a pagination URL that is not a URL: ${JSON.stringify(next.slice(0, 200))}`);
  }
  if (url.origin !== origin) {
    throw new ZendeskEtlError(ErrorCodes.FOREIGN_ORIGIN, `the response gave a pagination URL on ${url.origin}, not on the configured ${origin}; it is not followed, so credentials never leave the configured origin`, { url: redactUrl(url.toString()) });
  }
  return url;
}
