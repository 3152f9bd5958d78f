import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FaultKind, MockZendesk } from '../src/mock/server.js';
import { chdbQuery, deltaLocal } from './support/chdb.js';
import { dataFiles, duck, mockEnv, ndjsonGlob, parquetGlob, runCli, spawnCli, startMock, tempDir } from './helpers.js';
import { expectTableExact, readLog } from './support/lake-oracle.js';

/**
 * Exactly once per table: whatever mix of runs writes a table (windows, open-ended runs, replays,
 * compactions, crashes, runs side by side), every version is in it once, as a Delta reader (chDB)
 * and a glob reader (DuckDB) see it. Each of the first five tests is a hole an earlier version had.
 */

function args(mock: MockZendesk, out: string, ...more: string[]): string[] {
  return ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '200', '--max-rows-per-file', '600', '--log-level', 'warn', ...more];
}

/** The same, telling what it plans (notes are at info). */
function loud(mock: MockZendesk, out: string, ...more: string[]): string[] {
  return [...args(mock, out, ...more), '--log-level', 'info'];
}

/** The generated_timestamp below which `n` of the current versions lie. */
function cutAt(mock: MockZendesk, n: number): number {
  return mock.expectedTickets().map((t) => t.generated_timestamp).sort((a, b) => a - b)[n]!;
}


describe('exactly once per table', () => {
  it('time pagination: a reset late in a page that starts at the previous boundary delivers nothing twice', async () => {
    for (const format of ['parquet', 'ndjson'] as const) {
      // Tickets 0.3 s apart share timestamps, so most pages start on a boundary shared with the last one.
      const mock = await startMock({ tickets: 3000, spacing: 0.3 });
      const out = await tempDir();
      mock.injectFaults(...Array.from({ length: 14 }, (_, i): FaultKind => (i % 2 === 1 ? 'reset-late-body' : 'none')));
      const run = await runCli([...args(mock, out, '--pagination', 'time', '--format', format)], mockEnv(mock));
      expect(run.code, run.stderr).toBe(0);
      expect(mock.requests.filter((r) => r.fault === 'reset-late-body').length).toBe(7);
      await expectTableExact(out, mock, { format });
    }
  });

  it('overlapping windows, then an open-ended run: each version once, and each run exports only what the table lacks', async () => {
    const mock = await startMock({ tickets: 6000 });
    const out = await tempDir();
    const a = cutAt(mock, 2000);
    const b = cutAt(mock, 4000);
    const first = await runCli(args(mock, out, '--end-time', String(a)), mockEnv(mock));
    expect(first.code, first.stderr).toBe(0);
    const requests = mock.exportRequests;
    const second = await runCli(loud(mock, out, '--end-time', String(b)), mockEnv(mock));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(new RegExp(`already holds \\[0, ${a}\\) of tickets; this run exports \\[${a}, ${b}\\)`));
    expect(mock.exportRequests - requests).toBeLessThanOrEqual(12); // ~2000 tickets, not 4000
    const third = await runCli(loud(mock, out), mockEnv(mock));
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toMatch(new RegExp(`this run exports \\[${b}, open\\)`));
    await expectTableExact(out, mock);
    // A window the table holds already exports nothing.
    const again = await runCli(loud(mock, out, '--end-time', String(a)), mockEnv(mock));
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already holds all of this window: nothing to export/);
  });

  it('replay of an archive holding two windows gives every version once; a one-window archive stops at its end', async () => {
    const mock = await startMock({ tickets: 5000 });
    const out = await tempDir();
    const raw = await tempDir();
    const a = cutAt(mock, 2500);
    // The second window's first page is named for where it starts; pages of the first run past its end were not delivered.
    for (const w of [['--end-time', String(a)], ['--start-time', String(a)]]) {
      const run = await runCli(args(mock, out, '--raw', raw, ...w), mockEnv(mock));
      expect(run.code, run.stderr).toBe(0);
    }
    const fresh = await tempDir();
    const replay = await runCli(['replay', raw, '--out', fresh, '--quiet'], {});
    expect(replay.code, replay.stderr).toBe(0);
    await expectTableExact(fresh, mock);

    const one = await tempDir();
    const raw1 = await tempDir();
    expect((await runCli(args(mock, one, '--raw', raw1, '--end-time', String(a)), mockEnv(mock))).code).toBe(0);
    const fresh1 = await tempDir();
    expect((await runCli(['replay', raw1, '--out', fresh1, '--quiet'], {})).code).toBe(0);
    await expectTableExact(fresh1, mock, { scope: { endTime: a } });
  });

  it('a run resumes at once after kill -9, even while the killed process is still going away', async () => {
    const mock = await startMock({ tickets: 6000 });
    const out = await tempDir();
    let exited = false;
    for (let i = 0; i < 6; i++) {
      if (i > 0) mock.updateTickets(1500);
      const run = spawnCli(args(mock, out), mockEnv(mock));
      const before = mock.exportRequests;
      void run.done.then(() => {
        exited = true;
      });
      exited = false;
      await new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (mock.exportRequests >= before + 2 + (i % 3) || exited) {
            clearInterval(t);
            resolve();
          }
        }, 2);
      });
      run.child.kill('SIGKILL');
      // The resume starts without waiting for the killed process to be reaped.
      const resume = spawnCli(args(mock, out), mockEnv(mock));
      const [killed, resumed] = await Promise.all([run.done, resume.done]);
      expect(killed.signal).toBe('SIGKILL');
      expect(resumed.code, resumed.stderr).toBe(0);
    }
    await expectTableExact(out, mock);
  });

  it('a lease left by a process that had this very pid, or by a pod on another host, does not hold the table', async () => {
    const mock = await startMock({ tickets: 800 });
    const out = await tempDir();
    const leases = join(out, 'tickets', '_zde', 'leases');
    await mkdir(leases, { recursive: true });
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const now = Date.now();
    // This process's pid, but another process start: the holder is gone.
    const pidns = readlinkSync('/proc/self/ns/pid');
    const samePid = { run: '20260101T000000Z-aaaaaa', holder: { host: hostname(), boot, pidns, pid: process.pid, start: '1', nonce: 'x' }, purpose: 'export', window: { start: 0 }, acquiredAt: now, renewedAt: now, ttlMs: 120_000 };
    // pid 1 in a container that was killed ten minutes ago: expired.
    const pod = { ...samePid, run: '20260101T000000Z-bbbbbb', holder: { host: 'pod-7f9c', boot: 'other', pid: 1, start: '1', nonce: 'y' }, renewedAt: now - 600_000 };
    await writeFile(join(leases, `${samePid.run}.json`), JSON.stringify(samePid));
    await writeFile(join(leases, `${pod.run}.json`), JSON.stringify(pod));
    // And the lock file of zendesk-etl 0.1, holding this pid.
    await mkdir(join(out, '_state'), { recursive: true });
    await writeFile(join(out, '_state', 'tickets.json.lock'), String(process.pid));
    const run = await runCli(args(mock, out), mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    await expectTableExact(out, mock);
    expect(await readdir(leases)).toEqual([]);
  });

  it('a live run on an overlapping window holds the table: exit 75 with a message naming it; a disjoint window goes ahead', async () => {
    const mock = await startMock({ tickets: 800 });
    const out = await tempDir();
    const leases = join(out, 'tickets', '_zde', 'leases');
    await mkdir(leases, { recursive: true });
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const stat = readFileSync(`/proc/${sleeper.pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const now = Date.now();
      const a = cutAt(mock, 400);
      const lease = { run: '20260101T000000Z-cccccc', holder: { host: hostname(), boot, pidns: readlinkSync('/proc/self/ns/pid'), pid: sleeper.pid, start, nonce: 'z' }, purpose: 'export', window: { start: 0, end: a }, acquiredAt: now, renewedAt: now, ttlMs: 120_000 };
      await writeFile(join(leases, `${lease.run}.json`), JSON.stringify(lease));
      const held = await runCli(args(mock, out), mockEnv(mock));
      expect(held.code).toBe(75);
      expect(held.stderr).toMatch(/ZDE_LEASE_HELD: .*tickets is being written by another run \(export of \[.*\), pid \d+ on .*\); wait for it to finish, or stop it/);
      const disjoint = await runCli(args(mock, out, '--start-time', String(a)), mockEnv(mock));
      expect(disjoint.code, disjoint.stderr).toBe(0);
      await expectTableExact(out, mock, { scope: { startTime: a } });
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('settings are pinned: another format or partitioning is refused with exit 2 and changes nothing; left out, the table\'s are used', async () => {
    const mock = await startMock({ tickets: 600 });
    const out = await tempDir();
    expect((await runCli(args(mock, out, '--partition-by', 'updated_at:month'), mockEnv(mock))).code).toBe(0);
    const log = await readLog(out);
    for (const [flag, value, pinned] of [['--format', 'ndjson', 'parquet'], ['--partition-by', 'updated_at:day', 'updated_at:month'], ['--custom-field-names', 'title', 'id']]) {
      const run = await runCli(args(mock, out, flag!, value!), mockEnv(mock));
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`ZDE_TABLE_SETTINGS: .*tickets was created with \\w+ "${pinned}", and this run asks for "${value}"; a table keeps one layout`));
    }
    expect((await readLog(out)).versions).toBe(log.versions);
    mock.updateTickets(20);
    const plain = await runCli(args(mock, out), mockEnv(mock));
    expect(plain.code, plain.stderr).toBe(0);
    expect((await dataFiles(join(out, 'tickets'))).every((f) => /updated_at_month=\d{4}-\d{2}\/part-[^/]+\.parquet$/.test(f))).toBe(true);
    await expectTableExact(out, mock);
  });

  it('any mix of windows, crashes, runs side by side, compaction and replay leaves every version once', async () => {
    const mock = await startMock({ tickets: 8000 });
    const out = await tempDir();
    const raw = await tempDir();
    const a = cutAt(mock, 2500);
    const b = cutAt(mock, 5000);
    // Window 1, killed once mid-way, with a raw archive.
    const killed = spawnCli(args(mock, out, '--end-time', String(a), '--raw', raw), mockEnv(mock));
    const t = setInterval(() => mock.exportRequests >= 5 && killed.child.kill('SIGKILL'), 2);
    await killed.done;
    clearInterval(t);
    // Window 1 resumed, window 2 and a compaction side by side.
    const [w1, w2, compact] = await Promise.all([
      spawnCli(args(mock, out, '--end-time', String(a), '--raw', raw), mockEnv(mock)).done,
      spawnCli(args(mock, out, '--start-time', String(a), '--end-time', String(b)), mockEnv(mock)).done,
      spawnCli(['compact', out, '--min-files', '2'], {}).done,
    ]);
    expect(w1.code, w1.stderr).toBe(0);
    expect(w2.code, w2.stderr).toBe(0);
    expect(compact.code, compact.stderr).toBe(0);
    // An open-ended run continues after both windows; tickets change; it runs again.
    expect((await runCli(args(mock, out), mockEnv(mock))).code).toBe(0);
    mock.updateTickets(300);
    expect((await runCli(args(mock, out, '--pagination', 'time'), mockEnv(mock))).code).toBe(0);
    // A replay of window 1's archive into the same table adds nothing; a compaction merges again.
    expect((await runCli(['replay', raw, '--out', out, '--quiet'], {})).code).toBe(0);
    expect((await runCli(['compact', out, '--min-files', '2'], {})).code).toBe(0);
    await expectTableExact(out, mock);
  });
});

describe('int64 beyond 2^53', () => {
  it('an integer custom field of 9007199254740993 and more is exact in Parquet (both engines, through Delta too) and in NDJSON', async () => {
    const mock = await startMock({ tickets: 1500 });
    const want = mock
      .expectedTickets()
      .map((t) => ({ id: t.id, v: (mock.ticketJson(t.id).custom_fields as { id: number; value: unknown }[]).find((f) => f.id === 360005)?.value }))
      .filter((x) => typeof x.v === 'string' && x.v.length > 15);
    expect(want.length).toBeGreaterThan(0);
    for (const [format, engine] of [['parquet', 'parquetjs'], ['parquet', 'duckdb'], ['ndjson', 'parquetjs']] as const) {
      const out = await tempDir();
      const run = await runCli(args(mock, out, '--format', format, ...(format === 'parquet' ? ['--parquet-engine', engine] : [])), mockEnv(mock));
      expect(run.code, run.stderr).toBe(0);
      const src = format === 'parquet' ? parquetGlob(out) : ndjsonGlob(out);
      const got = await duck(`SELECT id::VARCHAR AS id, custom_fields__360005::VARCHAR AS v FROM ${src} WHERE custom_fields__360005 > 9007199254740992 ORDER BY id::BIGINT`);
      expect(got).toEqual(want.map((x) => ({ id: String(x.id), v: x.v })));
      if (format === 'parquet') {
        const d = await chdbQuery(`SELECT toString(id) AS id, toString(custom_fields__360005) AS v FROM ${deltaLocal(join(out, 'tickets'))} WHERE custom_fields__360005 > 9007199254740992 ORDER BY toInt64(id)`);
        expect(d).toEqual(want.map((x) => ({ id: String(x.id), v: x.v })));
      }
    }
  });
});

describe('lease holders', () => {
  it('a holder in another pid namespace (another container on this host, same hostname) is never judged by pid: only its lease\'s expiry frees it', async () => {
    const { holderState, currentHolder } = await import('../src/table/lease.js');
    const me = currentHolder();
    // pid 1 of another container: the same pid numbers mean other processes there.
    expect(await holderState({ ...me, nonce: 'other', pidns: 'pid:[1]', pid: 1, start: '1' })).toBe('unknown');
    // The same namespace and this very pid, but another start: that holder is gone.
    expect(await holderState({ ...me, nonce: 'other', start: '1' })).toBe('dead');
    expect(await holderState(me)).toBe('me');
  });
});

describe('a table keeps its columns', () => {
  it('a custom field renamed or retyped in Zendesk keeps its column\'s name and type; values that no longer fit are kept raw in _rejects', async () => {
    const mock = await startMock({ tickets: 1200 });
    const out = await tempDir();
    const run = (): Promise<{ code: number; stderr: string }> => runCli(args(mock, out, '--custom-field-names', 'title'), mockEnv(mock));
    expect((await run()).code).toBe(0);
    mock.updateField(360005, { title: 'Licensed seats', type: 'text' }); // was "Seats", an integer field
    mock.updateTickets(100);
    const second = await run();
    expect(second.code, second.stderr).toBe(0);
    const types = Object.fromEntries((await duck(`DESCRIBE SELECT * FROM ${parquetGlob(out)}`)).map((r) => [r.column_name, r.column_type]));
    expect(types.custom_fields__seats).toBe('BIGINT');
    expect(types.custom_fields__licensed_seats).toBeUndefined();
    // The stand-in now sends text in that field: the second run keeps those values raw in _rejects.
    const [delta] = await chdbQuery(`SELECT countIf(position(_rejects, 'custom_fields__seats') > 0) AS kept FROM ${deltaLocal(join(out, 'tickets'))}`);
    expect(Number(delta!.kept)).toBeGreaterThan(0);
    await expectTableExact(out, mock);
  });
});
