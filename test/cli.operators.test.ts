import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Progress } from '../src/cli/progress.js';
import { OPTIONS } from '../src/options/table.js';
import { ExportStats } from '../src/core/stats.js';
import { dataFiles, lakeVersions, mockEnv, runCli, spawnCli, startMock, tempDir, tokenCredentials } from './helpers.js';
import { checkExactlyOnce, readLog } from './support/lake-oracle.js';

const COMMANDS = ['export', 'replay', 'compact', 'vacuum', 'check', 'state', 'mock-server', 'demo'] as const;

describe('one option table', () => {
  for (const command of COMMANDS) {
    it(`zendesk-etl ${command} --help exits 0 and lists every option of ${command} from the table`, async () => {
      const run = await runCli([command, '--help'], {});
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Usage: zendesk-etl ${command}`));
      for (const o of OPTIONS.filter((s) => s.flag !== undefined && s.commands.includes(command))) expect(run.stdout).toContain(`--${o.flag}`);
      for (const shared of ['--quiet', '--log-format', '--log-level']) expect(run.stdout).toContain(shared);
    });
  }

  it('every subcommand takes the shared flags (compact --quiet)', async () => {
    const mock = await startMock({ tickets: 400 });
    const out = await tempDir();
    expect((await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--max-rows-per-file', '100', '--per-page', '100', '--quiet'], mockEnv(mock))).code).toBe(0);
    const run = await runCli(['compact', out, '--min-files', '2', '--quiet', '--log-level', 'warn'], {});
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('--start-time 2021-01-01 is midnight UTC, as documented', async () => {
    const mock = await startMock({ tickets: 300, startEpoch: Date.UTC(2020, 11, 31, 23, 0) / 1000, spacing: 30 });
    const out = await tempDir();
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--start-time', '2021-01-01'], mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    const got = await lakeVersions(out, 'parquet');
    const want = mock.expectedTickets({ startTime: Date.UTC(2021, 0, 1) / 1000 });
    expect(got.length).toBe(want.length);
    expect(want.length).toBeLessThan(300);
  });
});

describe('config files', () => {
  it('--config FILE holds options by library name; flags win; credentials come from variables it names', async () => {
    const mock = await startMock({ tickets: 500 });
    const out = await tempDir();
    const dir = await tempDir();
    const config = join(dir, 'acme.json');
    await writeFile(config, JSON.stringify({ baseUrl: mock.url, out, format: 'ndjson', rateLimit: 0, perPage: 100, maxRowsPerFile: 250, env: { ZENDESK_EMAIL: 'ACME_EMAIL', ZENDESK_API_TOKEN: 'ACME_TOKEN' } }));
    const env = { ACME_EMAIL: mock.credentials.email, ACME_TOKEN: mock.credentials.apiToken };
    const run = await runCli(['export', 'tickets', '--config', config, '--max-rows-per-file', '100'], env);
    expect(run.code, run.stderr).toBe(0);
    const files = (await dataFiles(join(out, 'tickets'))).filter((f) => f.endsWith('.ndjson'));
    expect(files.length).toBe(5); // the flag's 100 rows per file won over the file's 250
    expect(checkExactlyOnce(await lakeVersions(out, 'ndjson'), mock.expectedTickets()).missing).toEqual([]);
  });

  it('refuses credentials, unknown keys and bad values in a config file, naming the key and the file', async () => {
    const dir = await tempDir();
    const cases: [unknown, RegExp][] = [
      [{ apiToken: 'x' }, /apiToken \(in .*c\.json\) is refused: credentials never go in files/],
      [{ ratelimit: 3 }, /ratelimit \(in .*c\.json\) is not an option; options go by their library names/],
      [{ perPage: 5000 }, /perPage \(in .*c\.json\) must be a whole number from 1 to 1000, got 5000/],
      [{ env: { HOME: 'X' } }, /env \(in .*c\.json\) must be keys among ZENDESK_EMAIL/],
    ];
    for (const [content, message] of cases) {
      await writeFile(join(dir, 'c.json'), JSON.stringify(content));
      const run = await runCli(['export', 'tickets', '--subdomain', 'acme', '--out', dir, '--config', join(dir, 'c.json')], {});
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });
});

describe('JSON logs, levels and quiet', () => {
  it('--log-format json: every stderr line is one JSON object with level, time and msg; retries, 429 waits and commits are logged with their cause', async () => {
    const mock = await startMock({ tickets: 1200, retryAfterSeconds: 0 });
    mock.injectFaults('none', 'status-503', 'rate-limit');
    const out = await tempDir();
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '300', '--log-format', 'json'], mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of lines) {
      expect(typeof l.level).toBe('string');
      expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);
      expect(typeof l.msg).toBe('string');
    }
    expect(lines.find((l) => l.msg === 'retrying a page')).toMatchObject({ level: 'info', cause: 'ZDE_SERVER_ERROR', status: 503 });
    expect(lines.find((l) => l.msg === 'rate limited (429): waiting Retry-After')).toMatchObject({ level: 'info', wait_ms: 0 });
    expect(lines.filter((l) => l.msg === 'committed').length).toBeGreaterThan(0);
    expect(lines.find((l) => l.msg === 'summary')).toMatchObject({ level: 'info', tickets: 1200, retries: 2, rate_limited_429: 1 });
    expect(lines.at(-1)).toMatchObject({ msg: expect.stringMatching(/^done: this run committed 1,200 rows/), rows: 1200 });
  });

  it('--quiet silences everything but errors; an error is still one JSON line with json logs', async () => {
    const mock = await startMock({ tickets: 300 });
    const out = await tempDir();
    const quiet = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--quiet'], mockEnv(mock));
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const bad = await runCli(['export', 'tickets', '--base-url', mock.url, '--out', out, '--per-page', '0', '--log-format', 'json'], mockEnv(mock));
    expect(bad.code).toBe(2);
    const [line, ...more] = bad.stderr.trim().split('\n');
    expect(more).toEqual([]);
    expect(JSON.parse(line!)).toMatchObject({ level: 'error', code: 'ZDE_INVALID_OPTION', option: '--per-page', value: '0' });
  });

  it('the summary is named for the stream, and the done line says what this run committed', async () => {
    const mock = await startMock({ tickets: 3000 });
    const out = await tempDir();
    const first = await runCli(['export', 'users', '--base-url', mock.url, '--rate-limit', '0', '--out', out], mockEnv(mock));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/summary: \{"pages":\d+,"users":\d+,/);
    const again = await runCli(['export', 'users', '--base-url', mock.url, '--rate-limit', '0', '--out', out], mockEnv(mock));
    expect(again.stderr).toMatch(/done: this run committed 0 rows in 0 files/);
  });
});

describe('exit codes', () => {
  it('2 for an --out that is a file; 75 for a table busy with another run; 143 for SIGTERM after committing', async () => {
    const mock = await startMock({ tickets: 6000 });
    const dir = await tempDir();
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const notDir = await runCli(['export', 'tickets', '--base-url', mock.url, '--out', file], mockEnv(mock));
    expect(notDir.code).toBe(2);
    expect(notDir.stderr).toMatch(/--out must be a folder, but .*a-file is a file/);
    expect(mock.exportRequests).toBe(0);

    const out = await tempDir();
    const run = spawnCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '600', '--out', out, '--per-page', '200', '--max-rows-per-file', '400'], mockEnv(mock));
    const t = setInterval(() => {
      if (mock.exportRequests >= 4) {
        run.child.kill('SIGTERM');
        clearInterval(t);
      }
    }, 2);
    const done = await run.done;
    clearInterval(t);
    expect(done.code).toBe(143);
    expect(done.stderr).toMatch(/interrupted: everything complete was committed/);
    expect((await readLog(out)).rows % 200).toBe(0);
  });
});

describe('zendesk-etl check', () => {
  it('exit 0 when all is well, with the rate limit seen; 4 when the credentials are refused or may not export; 1 when nothing answers', async () => {
    const mock = await startMock({ tickets: 100, rateLimit: 10 });
    const ok = await runCli(['check', '--base-url', mock.url], mockEnv(mock));
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/ok {3}credentials: accepted \(api-token for admin@example\.com\); role admin/);
    expect(ok.stdout).toMatch(/ok {3}incremental exports: allowed/);
    expect(ok.stdout).toMatch(/rate limit: .*zendesk-ratelimit-incremental-exports: total=10; remaining=9/);
    expect(mock.requests.map((r) => r.path)).toEqual(['/api/v2/users/me', '/api/v2/incremental/tickets/cursor']);

    const refused = await runCli(['check', '--base-url', mock.url, '--json'], mockEnv(mock, { ZENDESK_API_TOKEN: 'wrong-token' }));
    expect(refused.code).toBe(4);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, steps: [{ name: 'origin answers', ok: true }, { name: 'credentials', ok: false, code: 'ZDE_UNAUTHORIZED' }] });
    expect(refused.stdout + refused.stderr).not.toContain('wrong-token');

    const agent = await runCli(['check', '--base-url', mock.url], mockEnv(mock, { ZENDESK_EMAIL: 'agent@example.com', ZENDESK_API_TOKEN: 'whatever' }));
    expect(agent.code).toBe(4);
    expect(agent.stdout).toMatch(/role agent[\s\S]*FAIL incremental exports: the credentials are accepted, but this role may not use the incremental exports \(403\)/);

    const closed = await runCli(['check', '--base-url', 'http://127.0.0.1:9'], mockEnv(mock));
    expect(closed.code).toBe(1);
    expect(closed.stdout).toMatch(/FAIL origin answers: network failure/);
    expect(closed.stdout).not.toMatch(/credentials/);
  });

  it('a 404 or a page of HTML fails the "origin answers" step, not the credentials', async () => {
    const mock = await startMock({ tickets: 10 });
    for (const status of [200, 404]) {
      // Not Zendesk: a sign-in page of HTML, or a 404, at every path.
      const html = createServer((_req, res) => {
        res.writeHead(status, { 'content-type': 'text/html' }).end('<!doctype html><html><body>Sign in</body></html>');
      });
      await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve));
      onTestFinished(() => new Promise<void>((resolve) => html.close(() => resolve())));
      const base = `http://127.0.0.1:${(html.address() as AddressInfo).port}`;
      const run = await runCli(['check', '--base-url', base, '--json'], mockEnv(mock));
      expect(run.code, run.stdout + run.stderr).toBe(1);
      const report = JSON.parse(run.stdout) as { steps: { name: string; ok: boolean }[] };
      expect(report.steps.map((s) => [s.name, s.ok])).toEqual([['origin answers', false]]);
    }
  });
});

describe('zendesk-etl state', () => {
  it('show tells per window what the log has committed; reset needs --yes, is recorded in the log, and the next export starts over', async () => {
    const mock = await startMock({ tickets: 2000 });
    const out = await tempDir();
    const cut = mock.expectedTickets().map((t) => t.generated_timestamp).sort((a, b) => a - b)[1000]!;
    const base = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--quiet'];
    expect((await runCli([...base, '--end-time', String(cut)], mockEnv(mock))).code).toBe(0);
    const shown = await runCli(['state', 'show', out], {});
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/version 0; \d+ files, 1,000 rows/);
    expect(shown.stdout).toMatch(new RegExp(`\\[1970-01-01T00:00:00Z, ${new Date(cut * 1000).toISOString().replace('.000Z', 'Z')}\\)`));
    const json = JSON.parse((await runCli(['state', 'show', out, '--json'], {})).stdout) as { rows: number; committed: { from: number; to: number }[] };
    expect(json.rows).toBe(1000);
    expect(json.committed).toEqual([{ from: 0, to: cut, idsAtEnd: 0, cursor: false }]);

    const noYes = await runCli(['state', 'reset', out], {});
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/--yes must be given to reset/);
    const reset = await runCli(['state', 'reset', out, '--yes'], {});
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stderr).toMatch(/reset .*tickets at version 1: removed \d+ files \(1000 rows\) from the table; the next export starts over/);
    const log = await readLog(out);
    expect(log.files).toEqual([]);
    expect(log.commits.at(-1)).toMatchObject({ operation: 'DELETE', zendeskEtl: { reset: true } });
    expect((await runCli(base, mockEnv(mock))).code).toBe(0);
    const r = checkExactlyOnce(await lakeVersions(out, 'parquet'), mock.expectedTickets());
    expect(r.missing).toEqual([]);
    expect(r.duplicates).toEqual([]);
  });
});

describe('progress', () => {
  it('within a window the bar and the ETA measure toward --end-time, not toward now', () => {
    const stats = new ExportStats();
    const p = new Progress(stats, { write: () => true, isTTY: true } as unknown as NodeJS.WritableStream, { startWatermark: 1_000_000, endTime: 1_000_400, records: 'users', intervalMs: 3_600_000 });
    stats.watermark = 1_000_100;
    stats.tickets = 10;
    stats.pages = 1;
    const { fraction, fields } = p.figures();
    p.stop();
    expect(fraction).toBeCloseTo(0.25, 5);
    expect(fields.users).toBe(10);
    expect(p.line()).toMatch(/^\[#####-+\] 25% \| pages 1 \| users 10/);
    expect(p.line()).toMatch(/ETA \S+ to 1970-01-12T13:53:20Z/);
  });
});

describe('options in the library', () => {
  it('are checked in the library\'s units, and errors name the key', async () => {
    const { checkOptions } = await import('../src/options/normalize.js');
    expect(() => checkOptions('export', { timeouts: { bodyIdle: 30_000 }, maxBytesPerFile: 64 * 1024 * 1024, maxRetryTimeMs: 60_000 })).not.toThrow();
    expect(() => checkOptions('export', { timeouts: { bodyIdle: 0 } })).toThrow(/^timeouts\.bodyIdle must be a whole number from 1 to 3600000, got 0$/);
    expect(() => checkOptions('export', { perPage: 1001 })).toThrow(/^perPage must be a whole number from 1 to 1000, got 1001$/);
    expect(() => checkOptions('export', { startTime: 10, endTime: 5 })).toThrow(/^endTime must be later than startTime \(10\), got 5$/);
  });

  it('name the account one way: origin, subdomain or baseUrl, checked as the CLI checks them', async () => {
    const { exportTickets } = await import('../src/export.js');
    const mock = await startMock({ tickets: 30 });
    const credentials = tokenCredentials(mock);
    const byBaseUrl = await exportTickets({ baseUrl: mock.url, credentials, out: await tempDir(), rateLimit: 0 });
    expect(byBaseUrl.committed.rows).toBe(30);
    const requests = mock.exportRequests;
    await expect(exportTickets({ credentials, out: await tempDir() })).rejects.toThrow(/^the account is not named: give origin, subdomain or baseUrl$/);
    await expect(exportTickets({ origin: mock.url, baseUrl: mock.url, credentials, out: await tempDir() })).rejects.toThrow(/^origin must be given alone: origin and baseUrl both name the account/);
    await expect(exportTickets({ origin: 'http://zendesk.example.com', credentials, out: await tempDir() })).rejects.toThrow(/^origin must be an https:\/\/ URL \(plain http is allowed on loopback only\)/);
    await expect(exportTickets({ subdomain: 'no such', credentials, out: await tempDir() })).rejects.toThrow(/^subdomain must be a Zendesk subdomain/);
    expect(mock.exportRequests).toBe(requests);
  });
});
