import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lakeVersions, mockEnv, runCli, spawnCli, startMock, tempDir } from './helpers.js';
import { SCENARIOS, runScenario } from './support/fencing-scenarios.js';
import { checkExactlyOnce, expectTableExact, readLog } from './support/lake-oracle.js';

/**
 * Exactly once when a writer pauses past its lease (issue 17), in a folder lake: each scenario
 * pauses one command right before it writes its commit, for longer than its lease, runs another
 * meanwhile, lets the first go on (it finds itself fenced and commits nothing), and runs it again.
 * Then the table is exact through the glob reader, through chDB's Delta reader, and on disk.
 */

describe('a writer paused past its lease is fenced, never guessed dead', () => {
  for (const { name, title } of SCENARIOS) {
    for (const format of ['parquet', 'ndjson'] as const) {
      it(`${title} (${format})`, async () => {
        const mock = await startMock({ tickets: 3000 });
        const out = await tempDir();
        const env = mockEnv(mock);
        await runScenario(name, { out, env, run: (args) => runCli(args, env) }, mock, format);
        await expectTableExact(out, mock, { format });
      });
    }
  }
});

describe('what the fencing issue found besides pauses', () => {
  it('kill -9 between a new table\'s first data file and its first commit: the same command recovers, exact', async () => {
    const mock = await startMock({ tickets: 2000 });
    const out = await tempDir();
    const args = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '200', '--max-rows-per-file', '400'];
    const crashed = await spawnCli(args, mockEnv(mock, { ZENDESK_ETL_CRASH_AT: 'file-promoted', ZENDESK_ETL_CRASH_AFTER: '0' })).done;
    expect(crashed.signal).toBe('SIGKILL');
    expect((await readdir(join(out, 'tickets'))).some((f) => f.endsWith('.parquet'))).toBe(true); // its first file, no log
    const vacuum = await runCli(['vacuum', out, '--retention-hours', '0'], mockEnv(mock));
    expect(vacuum.code, vacuum.stderr).toBe(0);
    const again = await runCli(args, mockEnv(mock));
    expect(again.code, again.stderr).toBe(0);
    await expectTableExact(out, mock);
    // The dead run was fenced by the first commit of the run after it.
    expect((await readLog(out)).commits[0]).toMatchObject({ zendeskEtl: { fences: [expect.stringMatching(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/)] } });
  });

  it('filters are pinned: a run asking for others exits 2 and changes nothing; a run leaving them out takes the table\'s', async () => {
    const mock = await startMock({ tickets: 3000 });
    const out = await tempDir();
    const base = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out];
    const cut = String(mock.expectedTickets().map((t) => t.generated_timestamp).sort((a, b) => a - b)[1500]);
    const narrow = await runCli([...base, '--support-type-scope', 'agent', '--exclude-deleted', '--end-time', cut], mockEnv(mock));
    expect(narrow.code, narrow.stderr).toBe(0);
    const before = await readLog(out);
    for (const other of [['--support-type-scope', 'all'], ['--support-type-scope', 'ai_agent']]) {
      const refused = await runCli([...base, ...other], mockEnv(mock));
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/ZDE_TABLE_SETTINGS: .* was created with supportTypeScope "agent", and this run asks for "(all|ai_agent)"; a table holds one filter set/);
    }
    expect(await readLog(out)).toEqual(before);
    const rest = await runCli(base, mockEnv(mock));
    expect(rest.code, rest.stderr).toBe(0);
    // Every version of the pinned scope once, from both runs, and nothing out of scope.
    const want = mock.expectedTickets({ supportTypeScope: 'agent', excludeDeleted: true });
    const r = checkExactlyOnce(await lakeVersions(out, 'parquet'), want, want);
    expect({ missing: r.missing.length, duplicates: r.duplicates.length, unknown: r.unknown.length }).toEqual({ missing: 0, duplicates: 0, unknown: 0 });
    const shown = await runCli(['state', 'show', out, '--json'], mockEnv(mock));
    expect(JSON.parse(shown.stdout)).toMatchObject({ settings: { supportTypeScope: 'agent', excludeDeleted: 'true', excludeSystemUpdates: 'false' } });
  });

  for (const mode of ['cursor', 'time'] as const) {
    it(`a version behind the frontier sent again at the head of the next page is not written twice (${mode})`, async () => {
      const mock = await startMock({ tickets: 2000, repeatPreviousHead: true });
      const out = await tempDir();
      const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--pagination', mode, '--per-page', '100', '--log-format', 'json'], mockEnv(mock));
      expect(run.code, run.stderr).toBe(0);
      await expectTableExact(out, mock);
      // Each of the 19 pages after the first brought one repeat, skipped.
      expect(run.stderr).toMatch(/"duplicates_skipped":(19|[2-9]\d)/);
    });
  }

  it('damaged commit files are refused, naming the file; nothing is written past them', async () => {
    const mock = await startMock({ tickets: 300 });
    const out = await tempDir();
    const args = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '100', '--max-rows-per-file', '100'];
    expect((await runCli(args, mockEnv(mock))).code).toBe(0);
    const log = join(out, 'tickets', '_delta_log');
    const last = (await readdir(log)).filter((f) => /^\d{20}\.json$/.test(f)).sort().at(-1)!;
    const next = `${String(Number(last.slice(0, 20)) + 1).padStart(20, '0')}.json`;
    const whole = `${JSON.stringify({ commitInfo: { timestamp: 1, operation: 'WRITE', zendeskEtl: { run: 'x', stream: 'tickets', actions: 2 } } })}\n${JSON.stringify({ txn: { appId: 'a', version: 0 } })}\n`;
    for (const [damage, body, message] of [
      ['an empty file', '', /is not a whole commit: it is empty/],
      ['a byte order mark', `\ufeff${whole}`, /is not a whole commit: it begins with a UTF-8 byte order mark/],
      ['a commit cut at a line boundary', whole.split('\n')[0]! + '\n', /is not a whole commit: its commitInfo declares 2 actions and it holds 1/],
      ['no commitInfo', `${JSON.stringify({ txn: { appId: 'a', version: 0 } })}\n`, /is not a whole commit: it has no commitInfo/],
    ] as const) {
      await mkdir(log, { recursive: true });
      await writeFile(join(log, next), body);
      const run = await runCli(args, mockEnv(mock));
      expect(run.code, damage).toBe(1);
      expect(run.stderr, damage).toMatch(/ZDE_STATE_INVALID/);
      expect(run.stderr, damage).toContain(next);
      expect(run.stderr, damage).toMatch(message);
      expect((await readdir(log)).filter((f) => /^\d{20}\.json$/.test(f)).sort().at(-1), damage).toBe(next);
    }
  });
});
