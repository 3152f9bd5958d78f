import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Credentials, credentialsFromEnv } from '../src/auth.js';
import { ZendeskEtlError } from '../src/core/errors.js';
import { TicketSource } from '../src/source/ticket-source.js';
import { redactUrl, resolveOrigin } from '../src/core/url.js';
import { listFiles, runCli, spawnCli, startMock, tempDir } from './helpers.js';

const SECRETS = {
  email: 'owner@secret-corp.example',
  apiToken: 'tok_9f8e7d6c5b4a3210SECRET',
  oauthToken: 'oauth_abcdefSECRET0123456789',
  password: 'pw_CorrectHorseSECRET',
};

function forms(): string[] {
  return [
    SECRETS.apiToken,
    SECRETS.oauthToken,
    SECRETS.password,
    Buffer.from(`${SECRETS.email}/token:${SECRETS.apiToken}`).toString('base64'),
    Buffer.from(`${SECRETS.email}:${SECRETS.password}`).toString('base64'),
  ];
}

describe('credentials never leak', () => {
  it('the whole run matrix with known secrets: no secret in stdout, stderr, state, or any file written', async () => {
    const mock = await startMock({ tickets: 1200, credentials: SECRETS, faultRate: 0.2, retryAfterSeconds: 0 });
    const dirs: string[] = [];
    const captured: string[] = [];
    const envs: NodeJS.ProcessEnv[] = [
      { ZENDESK_EMAIL: SECRETS.email, ZENDESK_API_TOKEN: SECRETS.apiToken },
      { ZENDESK_OAUTH_TOKEN: SECRETS.oauthToken },
      { ZENDESK_EMAIL: SECRETS.email, ZENDESK_PASSWORD: SECRETS.password },
    ];
    for (const env of envs) {
      for (const format of ['parquet', 'ndjson'] as const) {
        for (const mode of ['cursor', 'time'] as const) {
          const out = await tempDir();
          dirs.push(out);
          const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--format', format, '--pagination', mode, '--out', out, '--per-page', '300'], { ...env, PATH: process.env.PATH });
          expect(run.code, run.stderr).toBe(0);
          captured.push(run.stdout, run.stderr);
        }
      }
      const stdoutRun = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', '-'], env);
      captured.push(stdoutRun.stdout, stdoutRun.stderr);
    }
    // Failures too: a refused token, retries exhausted, a real process with progress lines.
    const wrong = await runCli(['export', 'tickets', '--base-url', mock.url, '--out', dirs[0]!], { ZENDESK_EMAIL: SECRETS.email, ZENDESK_API_TOKEN: `${SECRETS.apiToken}-WRONG` });
    expect(wrong.code).toBe(4);
    captured.push(wrong.stdout, wrong.stderr);
    const proc = await spawnCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', dirs[1]!], { PATH: process.env.PATH ?? '', ZENDESK_EMAIL: SECRETS.email, ZENDESK_API_TOKEN: SECRETS.apiToken }).done;
    captured.push(proc.stdout, proc.stderr);
    const everything = captured.join('\n');
    for (const dir of dirs) {
      for (const file of await listFiles(dir)) captured.push((await readFile(file)).toString('latin1'));
    }
    const haystack = captured.join('\n');
    expect(haystack.length).toBeGreaterThan(1_000_000);
    for (const secret of forms()) expect(haystack.includes(secret), `leaked ${secret.slice(0, 6)}...`).toBe(false);
    expect(everything).toMatch(/summary/);
  });

  it('errors, their JSON, and inspect() of credentials and errors carry no secret', async () => {
    const creds = Credentials.apiToken(SECRETS.email, SECRETS.apiToken);
    for (const text of [JSON.stringify(creds), inspect(creds), String(creds), JSON.stringify({ creds })]) {
      for (const secret of forms()) expect(text).not.toContain(secret);
    }
    const mock = await startMock({ tickets: 10, credentials: SECRETS });
    const source = new TicketSource({ origin: mock.url, credentials: Credentials.oauth(`${SECRETS.oauthToken}x`), rateLimit: 0 });
    const err = (await source.toArray().catch((e: unknown) => e)) as ZendeskEtlError;
    expect(err.code).toBe('ZDE_UNAUTHORIZED');
    for (const text of [err.message, JSON.stringify(err), inspect(err), err.stack ?? '']) {
      expect(text).not.toContain(SECRETS.oauthToken);
    }
  });

  it('credentials come from the environment or a _FILE, never argv; user info in a base URL is refused', async () => {
    const dir = await tempDir();
    const path = `${dir}/token`;
    await import('node:fs/promises').then((fs) => fs.writeFile(path, `${SECRETS.apiToken}\n`, { mode: 0o600 }));
    const c = credentialsFromEnv({ ZENDESK_EMAIL: SECRETS.email, ZENDESK_API_TOKEN_FILE: path });
    expect(c.authorization()).toBe(`Basic ${Buffer.from(`${SECRETS.email}/token:${SECRETS.apiToken}`).toString('base64')}`);
    expect(() => resolveOrigin({ baseUrl: `https://user:${SECRETS.password}@acme.zendesk.com` })).toThrow(/without user info/);
    try {
      resolveOrigin({ baseUrl: `https://user:${SECRETS.password}@acme.zendesk.com` });
    } catch (e) {
      expect((e as Error).message).not.toContain(SECRETS.password);
    }
    expect(redactUrl(`https://acme.zendesk.com/x?access_token=${SECRETS.oauthToken}&cursor=abc`)).toBe('https://acme.zendesk.com/x?access_token=REDACTED&cursor=abc');
  });

  it('a URL with a password in any flag (--redis, --base-url, --out s3://) is refused, exit 2, without repeating it', async () => {
    const out = await tempDir();
    for (const [flag, url] of [
      ['--redis', `redis://:${SECRETS.password}@127.0.0.1:6379`],
      ['--base-url', `https://user:${SECRETS.password}@acme.zendesk.com`],
      ['--out', `s3://key:${SECRETS.password}@bucket/lake`],
    ] as const) {
      const args = ['export', 'tickets', '--base-url', 'https://acme.zendesk.com', '--out', out, flag, url];
      const run = await runCli(args, { ZENDESK_EMAIL: SECRETS.email, ZENDESK_API_TOKEN: SECRETS.apiToken });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(`${flag} with a password in its URL is refused`);
      expect(run.stdout + run.stderr).not.toContain(SECRETS.password);
    }
  });

  it('pagination URLs from a response never take credentials to another origin', async () => {
    const mock = await startMock({ tickets: 1500 });
    // Whatever next_page or after_url say, requests are built on the configured origin only.
    const source = new TicketSource({ origin: mock.url, credentials: Credentials.oauth(mock.credentials.oauthToken), rateLimit: 0, perPage: 500, pagination: 'time' });
    await source.toArray();
    expect(mock.requests.length).toBeGreaterThanOrEqual(3);
    expect(mock.requests.every((r) => r.path.startsWith("/api/v2/incremental/tickets"))).toBe(true);
    const { ZendeskHttp } = await import('../src/source/http-client.js');
    const http = new ZendeskHttp(mock.url, Credentials.oauth('x1234'));
    const err = (await http.get('https://evil.example/api/v2/incremental/tickets.json').catch((e: unknown) => e)) as ZendeskEtlError;
    expect(err.code).toBe('ZDE_FOREIGN_ORIGIN');
    await http.close();
  });
});
