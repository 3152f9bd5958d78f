import { describe, expect, it } from 'vitest';
import { lakeVersions, mockEnv, runCli, spawnCli, startMock, tempDir } from './helpers.js';
import { checkExactlyOnce } from './support/lake-oracle.js';

describe('CLI: zendesk-etl export tickets', () => {
  it('exports the stand-in completely in both modes and both formats, exit 0', async () => {
    const mock = await startMock({ tickets: 1500 });
    for (const format of ['parquet', 'ndjson'] as const) {
      for (const mode of ['cursor', 'time'] as const) {
        const out = await tempDir();
        const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--format', format, '--pagination', mode, '--out', out], mockEnv(mock));
        expect(run.code, run.stderr).toBe(0);
        expect(run.stderr).toMatch(/starting a new export from/);
        expect(run.stderr).toMatch(/summary: \{"pages":\d+,"tickets":1500/);
        // Ticket 397 has "abc" in an integer field: reported with its id, kept, and the run goes on.
        expect(run.stderr).toMatch(/warning: a value did not fit its column; kept raw in _rejects, and the run goes on \(record=397, rejects=\{"custom_fields__360005":"abc"\}\)/);
        const r = checkExactlyOnce(await lakeVersions(out, format), mock.expectedTickets());
        expect(r.missing).toEqual([]);
        expect(r.duplicates).toEqual([]);
      }
    }
  });

  it('--out - writes NDJSON to stdout and nothing else; progress goes to stderr', async () => {
    const mock = await startMock({ tickets: 700 });
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', '-'], mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.length).toBe(700);
    const rows = lines.map((l) => JSON.parse(l) as { id: number; generated_timestamp: number });
    expect(checkExactlyOnce(rows.map((r) => `${r.id}:${r.generated_timestamp}`), mock.expectedTickets()).missing).toEqual([]);
    expect(run.stderr).toMatch(/summary/);
  });

  it('a second run resumes from the saved state, says so, and adds only what changed', async () => {
    const mock = await startMock({ tickets: 1000 });
    const out = await tempDir();
    const args = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--format', 'ndjson'];
    expect((await runCli(args, mockEnv(mock))).code).toBe(0);
    mock.updateTickets(10);
    const again = await runCli([...args, '--start-time', '2020-01-01'], mockEnv(mock));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming from the saved cursor/);
    expect(again.stderr).toMatch(/tickets already holds \[0, \d+ \(\+\d+ ids at it\)\) of tickets; this run exports \[\d+ \(\+\d+ ids at it\), open\)/);
    expect(again.stderr).toMatch(/"tickets":(9|10),/);
    const versions = await lakeVersions(out, 'ndjson');
    const r = checkExactlyOnce(versions, mock.expectedTickets(), mock.history);
    expect(r.missing).toEqual([]);
    expect(r.duplicates).toEqual([]);
  });

  const bad: [string[], RegExp][] = [
    [['--per-page', '5000'], /--per-page must be a whole number from 1 to 1000, got "5000"/],
    [['--format', 'csv'], /--format must be "parquet" or "ndjson", got "csv"/],
    [['--pagination', 'offset'], /--pagination must be "cursor" or "time", got "offset"/],
    [['--start-time', 'yesterday'], /--start-time must be Unix seconds or an ISO-8601 time .* got "yesterday"/],
    [['--start-time', '2024-05-01T10:00:00'], /with a zone \(Z or \+hh:mm\)/],
    [['--start-time', '1714521600000'], /Unix seconds, not milliseconds/],
    [['--start-time', '2024-05-02', '--end-time', '2024-05-01'], /--end-time must be later than --start-time/],
    [['--rate-limit=-3'], /--rate-limit must be a number from 0 to 100000, got "-3"/],
    [['--partition-by', 'status:month'], /--partition-by must be a timestamp field/],
    [['--bogus'], /unknown option --bogus for zendesk-etl export; see zendesk-etl export --help/],
    [['--include', 'bananas'], /--include must be a list of users, groups, organizations/],
    [['--gzip'], /--gzip must be used with NDJSON only \(Parquet is compressed by compression\)/],
    [['--format', 'ndjson', '--compression', 'gzip'], /--compression must be used with Parquet only/],
    [['--state', 'x.json'], /--state must be used only with --out -/],
    [['--token', 'sekrit'], /--token is refused: credentials are never taken from the command line/],
  ];
  for (const [extra, message] of bad) {
    it(`refuses ${extra.join(' ')} with exit 2 and a message naming the option and the value`, async () => {
      const mock = await startMock({ tickets: 10 });
      const out = await tempDir();
      const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--out', out, ...extra], mockEnv(mock));
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/error: ZDE_INVALID_OPTION: /);
      expect(run.stderr).toMatch(message);
      expect(mock.exportRequests).toBe(0);
    });
  }

  it('refuses plain http off loopback, bad subdomains, and missing credentials', async () => {
    const env = { ZENDESK_EMAIL: 'a@b.c', ZENDESK_API_TOKEN: 'x1234' };
    const http = await runCli(['export', 'tickets', '--base-url', 'http://example.com', '--out', 'x'], env);
    expect(http.code).toBe(2);
    expect(http.stderr).toMatch(/--base-url must be an https:\/\/ URL \(plain http is allowed on loopback only\), got "http:\/\/example.com"/);
    const sub = await runCli(['export', 'tickets', '--subdomain', 'acme.evil.com/x', '--out', 'x'], env);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toMatch(/--subdomain must be a Zendesk subdomain/);
    const none = await runCli(['export', 'tickets', '--subdomain', 'acme', '--out', 'x'], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no Zendesk credentials: set ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL with ZENDESK_API_TOKEN/);
  });

  it('a 401 stops at once with exit 4, a clear message, and no state written', async () => {
    const mock = await startMock({ tickets: 50 });
    const out = await tempDir();
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--out', out], mockEnv(mock, { ZENDESK_API_TOKEN: 'not-the-token' }));
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/error: ZDE_UNAUTHORIZED: Zendesk refused the credentials \(401\)/);
    expect(run.stderr).not.toContain('not-the-token');
    expect(await lakeVersions(out, 'parquet')).toEqual([]);
  });

  it('takes the account from ZENDESK_BASE_URL and OAuth from ZENDESK_OAUTH_TOKEN', async () => {
    const mock = await startMock({ tickets: 300 });
    const out = await tempDir();
    const run = await runCli(['export', 'tickets', '--rate-limit', '0', '--out', out], { ZENDESK_BASE_URL: mock.url, ZENDESK_OAUTH_TOKEN: mock.credentials.oauthToken });
    expect(run.code, run.stderr).toBe(0);
    expect((await lakeVersions(out, 'parquet')).length).toBe(300);
  });

  it('npx-style: the built binary runs, prints help, and exits 0', async () => {
    const run = await spawnCli(['--help'], { PATH: process.env.PATH ?? '' }).done;
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/zendesk-etl export <stream>/);
  });
});

describe('a start time Zendesk would refuse', () => {
  it('a new export from less than a minute ago stops at once with exit 2 (Zendesk would answer 422); nothing is written', async () => {
    const mock = await startMock({ tickets: 10 });
    const out = await tempDir();
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--out', out, '--start-time', String(Math.floor(Date.now() / 1000) - 5)], mockEnv(mock));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--start-time must be at least a minute in the past \(Zendesk refuses newer ones with 422\)/);
    expect(mock.exportRequests).toBe(0);
    expect(await lakeVersions(out, 'parquet')).toEqual([]);
  });
});

describe('a reader that goes away', () => {
  it('`| head` closing stdout ends the run quietly with exit 0: the reader chose to stop', async () => {
    const mock = await startMock({ tickets: 3000 });
    const run = spawnCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', '-', '--quiet'], mockEnv(mock));
    run.child.stdout!.once('data', () => run.child.stdout!.destroy());
    const done = await run.done;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toBe('');
  });
});

describe('the process ends when the command does, and not before', () => {
  // The Parquet encoding thread must hold the process while a file waits for it, and must not hold
  // it once no file is open: an early exit would be a silent exit 0 with nothing committed, a late
  // one a run that never ends.
  it('a first run (several Parquet files) and a run with nothing new both exit 0 by themselves', async () => {
    const mock = await startMock({ tickets: 1500 });
    const out = await tempDir();
    const argv = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '300', '--max-rows-per-file', '600', '--quiet'];
    const first = await spawnCli(argv, mockEnv(mock)).done;
    expect(first.code, first.stderr).toBe(0);
    expect(checkExactlyOnce(await lakeVersions(out, 'parquet'), mock.expectedTickets())).toEqual({ missing: [], duplicates: [], unknown: [] });
    const again = await spawnCli(argv, mockEnv(mock)).done;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    expect(checkExactlyOnce(await lakeVersions(out, 'parquet'), mock.expectedTickets())).toEqual({ missing: [], duplicates: [], unknown: [] });
  });
});
