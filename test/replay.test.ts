import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportTickets, replayTickets } from '../src/export.js';
import { duck, lakeVersions, mockEnv, parquetGlob, runCli, startMock, tempDir, tokenCredentials } from './helpers.js';
import { checkExactlyOnce } from './support/lake-oracle.js';

const COLUMNS = 'id, generated_timestamp, subject, description, tags, via__channel, custom_fields__360005, custom_fields__360009, _rejects, _extra';

describe('raw archive and replay', () => {
  it('a replay of the raw archive gives the same rows as the live export, without calling Zendesk', async () => {
    const mock = await startMock({ tickets: 2500, lateFieldAfterRequests: 1, newKeysFromIndex: 1500 });
    const live = await tempDir();
    const raw = await tempDir();
    mock.injectFaults('reset-mid-body', 'truncated');
    const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out: live, raw, perPage: 500, rateLimit: 0, minRetryDelayMs: 1 });
    expect(result.complete).toBe(true);
    const pages = (await readdir(join(raw, 'tickets'))).filter((f) => f.endsWith('.json.gz'));
    expect(pages.length).toBe(result.stats.pages); // failed attempts left nothing behind
    const requestsBefore = mock.requests.length;
    const replayed = await tempDir();
    const run = await runCli(['replay', raw, '--out', replayed, '--quiet'], {});
    expect(run.code, run.stderr).toBe(0);
    expect(mock.requests.length).toBe(requestsBefore);
    const a = await duck(`SELECT ${COLUMNS} FROM ${parquetGlob(live)} ORDER BY id`);
    const b = await duck(`SELECT ${COLUMNS} FROM ${parquetGlob(replayed)} ORDER BY id`);
    expect(b.length).toBe(2500);
    expect(b).toEqual(a);
  });

  it('pages fetched twice around a crash are replayed once', async () => {
    const mock = await startMock({ tickets: 2000 });
    const raw = await tempDir();
    const live = await tempDir();
    // Two exports into one archive: the second re-fetches everything, as a crash before any commit would.
    await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out: live, raw, perPage: 400, rateLimit: 0 });
    await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out: await tempDir(), raw, perPage: 400, rateLimit: 0 });
    const replayed = await tempDir();
    const result = await replayTickets({ rawDir: raw, out: replayed, format: 'ndjson' });
    expect(result.complete).toBe(true);
    expect(result.stats.tickets).toBe(2000); // the second copy of every page added nothing
    const check = checkExactlyOnce(await lakeVersions(replayed, 'ndjson'), mock.expectedTickets());
    expect(check.missing).toEqual([]);
    expect(check.duplicates).toEqual([]);
  });

  it('the CLI writes the archive with --raw; replay refuses a folder that is not an archive', async () => {
    const mock = await startMock({ tickets: 300 });
    const raw = await tempDir();
    const out = await tempDir();
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--raw', raw], mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    expect((await readdir(join(raw, 'tickets'))).some((f) => f === 'ticket_fields.json')).toBe(true);
    const bad = await runCli(['replay', join(raw, 'nope'), '--out', await tempDir()], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no raw archive at/);
  });
});
