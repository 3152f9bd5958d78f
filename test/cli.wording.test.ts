import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mockEnv, runCli, startMock, tempDir } from './helpers.js';

describe('what the CLI says about bad usage', () => {
  it('names what is missing (no "got null", no --stream that does not exist), takes -5 for a value, echoes times as typed, names an unset env mapping', async () => {
    const mock = await startMock({ tickets: 50 });
    const dir = await tempDir();
    const base = ['--base-url', mock.url, '--rate-limit', '0'];
    const cases: [string[], RegExp][] = [
      [['export', ...base, '--out', dir], /STREAM is missing: the stream to export, one of tickets, ticket_events, users, organizations/],
      [['export', 'tickts', ...base, '--out', dir], /STREAM must be one of tickets, .*, got "tickts"/],
      [['export', 'tickets', ...base], /--out is missing: where the table goes/],
      [['replay'], /DIR is missing: the raw archive folder/],
      [['state', 'show'], /LAKE is missing: the lake/],
      [['export', 'tickets', ...base, '--out', dir, '--start-time', '-5'], /--start-time must be Unix seconds from 0 \(1970-01-01T00:00:00Z\) on, or an ISO-8601 time, got "-5"/],
      [['export', 'tickets', ...base, '--out', dir, '--start-time', '2021-01-01', '--end-time', '2020-06-01'], /--end-time must be later than --start-time \(2021-01-01\), got 2020-06-01/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args, mockEnv(mock));
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toMatch(/got null|--stream|unknown option|1609459200/);
    }
    const config = join(dir, 'acme.json');
    await writeFile(config, JSON.stringify({ env: { ZENDESK_EMAIL: 'ACME_EMAIL', ZENDESK_API_TOKEN: 'ACME_TOKEN' } }));
    const unset = await runCli(['export', 'tickets', ...base, '--out', dir, '--config', config], { ACME_EMAIL: mock.credentials.email });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/no Zendesk credentials: "env" in .*acme\.json reads ZENDESK_API_TOKEN from ACME_TOKEN, which is not set in the environment/);
  });
});
