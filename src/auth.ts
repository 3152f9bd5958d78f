import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { ErrorCodes, ZendeskEtlError } from './core/errors.js';

export type AuthKind = 'oauth' | 'api-token' | 'password';

/**
 * Zendesk credentials. The secret lives in a private field: it does not show in `JSON.stringify`,
 * `util.inspect`, `console.log`, error messages or state files. Only `authorization()` reveals it,
 * as the value of the Authorization header.
 */
export class Credentials {
  readonly kind: AuthKind;
  readonly email: string | undefined;
  readonly #header: string;
  readonly #secrets: string[];

  private constructor(kind: AuthKind, email: string | undefined, header: string, secrets: string[]) {
    this.kind = kind;
    this.email = email;
    this.#header = header;
    this.#secrets = secrets;
  }

  /** OAuth access token: `Authorization: Bearer ...`. */
  static oauth(accessToken: string): Credentials {
    requireText('oauth access token', accessToken);
    return new Credentials('oauth', undefined, `Bearer ${accessToken}`, [accessToken]);
  }

  /** API token: `Authorization: Basic base64(email/token:token)`. */
  static apiToken(email: string, token: string): Credentials {
    requireText('email', email);
    requireText('api token', token);
    const basic = Buffer.from(`${email}/token:${token}`).toString('base64');
    return new Credentials('api-token', email, `Basic ${basic}`, [token, basic]);
  }

  /** Email and password (deprecated by Zendesk, still seen). */
  static password(email: string, password: string): Credentials {
    requireText('email', email);
    requireText('password', password);
    const basic = Buffer.from(`${email}:${password}`).toString('base64');
    return new Credentials('password', email, `Basic ${basic}`, [password, basic]);
  }

  authorization(): string {
    return this.#header;
  }

  /** Replace any secret in `text` with `[REDACTED]`: a last line of defence for messages from elsewhere. */
  redact(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (s.length >= 4) out = out.split(s).join('[REDACTED]');
    return out;
  }

  toJSON(): Record<string, string | undefined> {
    return { kind: this.kind, email: this.email, secret: '[REDACTED]' };
  }

  toString(): string {
    return `Credentials(${this.kind}${this.email ? `, ${this.email}` : ''})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function requireText(what: string, value: string): void {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the ${what} is empty`, { option: what });
  }
}

function fromEnvOrFile(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const direct = env[name];
  if (direct !== undefined && direct !== '') return direct;
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${name}_FILE names a file that cannot be read: ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { option: `${name}_FILE`, path: file });
  }
}

/**
 * Credentials from the environment only, never from argv:
 * ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL with ZENDESK_API_TOKEN, or ZENDESK_EMAIL with ZENDESK_PASSWORD.
 * Each may instead be given as a file with the `_FILE` suffix (for Docker and Kubernetes secrets).
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Credentials {
  const oauth = fromEnvOrFile(env, 'ZENDESK_OAUTH_TOKEN');
  if (oauth) return Credentials.oauth(oauth);
  const email = fromEnvOrFile(env, 'ZENDESK_EMAIL');
  const token = fromEnvOrFile(env, 'ZENDESK_API_TOKEN');
  const password = fromEnvOrFile(env, 'ZENDESK_PASSWORD');
  if (email && token) return Credentials.apiToken(email, token);
  if (email && password) return Credentials.password(email, password);
  const missing = email ? 'ZENDESK_API_TOKEN (or ZENDESK_PASSWORD)' : token || password ? 'ZENDESK_EMAIL' : 'ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL with ZENDESK_API_TOKEN';
  throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `no Zendesk credentials: set ${missing} in the environment (credentials are never taken from the command line)`, { option: 'credentials' });
}
