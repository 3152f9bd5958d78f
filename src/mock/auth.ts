/** Who may call the stand-in: its credentials, and how a request's Authorization header is judged. */

export interface MockCredentials {
  email: string;
  apiToken: string;
  oauthToken: string;
  password: string;
}

export const DEFAULT_CREDENTIALS: MockCredentials = {
  email: 'admin@example.com',
  apiToken: 'mock-api-token-0123456789',
  oauthToken: 'mock-oauth-token-abcdef',
  password: 'mock-password',
};

/** An admin's credentials pass; an agent (`agent@...`) is known but forbidden the exports; anything else is refused. */
export function authenticate(header: string | undefined, c: MockCredentials): 'ok' | 'unauthorized' | 'forbidden' {
  if (!header) return 'unauthorized';
  if (header === `Bearer ${c.oauthToken}`) return 'ok';
  if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    if (decoded === `${c.email}/token:${c.apiToken}` || decoded === `${c.email}:${c.password}`) return 'ok';
    if (decoded.startsWith('agent@')) return 'forbidden';
  }
  return 'unauthorized';
}
