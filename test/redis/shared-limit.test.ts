/**
 * One rate limit per account across processes (issue 14), with a real Redis and real processes: three
 * CLI processes export windows of one account against a stand-in that enforces N requests per window;
 * a 429 pauses every process of the account; a process killed while it holds a slot gives it back; a
 * run closes its Redis connections. Time is scaled: a window of 6 s with N = 6 stands for 60 s with 60.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Credentials } from '../../src/auth.js';
import { exportStream } from '../../src/export.js';
import type { MockRequestRecord, MockZendesk } from '../../src/mock/server.js';
import { createRequestGate, SHARED_HEARTBEAT_MS, SHARED_JITTER_MS, sharedLimitKeys, sharedMinTime, SLOT_EXPIRATION_EXTRA_MS } from '../../src/source/limiter.js';
import { deltaVersions, lakeVersions, mockEnv, ROOT, spawnCli, startMock, tempDir } from '../helpers.js';
import { redisUrl } from '../support/services.js';
import { redisForFile } from './connection.js';
import { waitFor } from '../support/wait-for.js';
import { checkExactlyOnce, readLog } from '../support/lake-oracle.js';

const WINDOW_MS = 6000;
const N = 6;
/** Each process is told 60 a minute: alone, each would use the whole budget of the account. */
const RATE = 60;

const redis = redisForFile();

const exportRequests = (mock: MockZendesk): MockRequestRecord[] => mock.requests.filter((r) => r.path.startsWith('/api/v2/incremental/')).sort((a, b) => a.at - b.at);

/** Three windows covering every ticket of the stand-in. */
function threeWindows(mock: MockZendesk): [number, number][] {
  const times = mock.history.map((t) => t.generated_timestamp);
  const first = Math.min(...times);
  const end = Math.max(...times) + 1;
  const step = Math.floor((end - first) / 3);
  return [
    [first, first + step],
    [first + step, first + 2 * step],
    [first + 2 * step, end],
  ];
}

async function exportThree(mock: MockZendesk, out: string, extra: string[]): Promise<{ wallMs: number; codes: number[]; stderr: string[] }> {
  const t0 = Date.now();
  const runs = threeWindows(mock).map(([from, to]) =>
    spawnCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', String(RATE), '--per-page', '100', '--out', out, '--start-time', String(from), '--end-time', String(to), '--quiet', ...extra], mockEnv(mock)).done,
  );
  const done = await Promise.all(runs);
  return { wallMs: Date.now() - t0, codes: done.map((d) => d.code), stderr: done.map((d) => d.stderr) };
}

async function expectTableExact(mock: MockZendesk, out: string): Promise<void> {
  const expected = mock.expectedTickets();
  const got = await lakeVersions(out, 'parquet');
  expect(checkExactlyOnce(got, expected)).toEqual({ missing: [], duplicates: [], unknown: [] });
  expect((await readLog(out)).rows).toBe(expected.length);
  const delta = await deltaVersions(out);
  expect(delta.length).toBe(expected.length);
  expect(new Set(delta)).toEqual(new Set(got));
}

describe('a rate limit shared across processes (--redis)', () => {
  it('three processes exporting windows of one account: no 429, the table exact, and the pace of one budget', async () => {
    const mock = await startMock({ tickets: 1500, rateLimit: N, rateWindowMs: WINDOW_MS });
    const out = await tempDir();
    const run = await exportThree(mock, out, ['--redis', redisUrl()]);
    for (const [i, code] of run.codes.entries()) expect(code, run.stderr[i]).toBe(0);

    const reqs = exportRequests(mock);
    expect(reqs.filter((r) => r.status === 429)).toEqual([]);
    // The stand-in's own rule, checked on its log: never N + 1 requests within one window.
    for (let i = N; i < reqs.length; i++) expect(reqs[i]!.at - reqs[i - N]!.at).toBeGreaterThanOrEqual(WINDOW_MS);
    await expectTableExact(mock, out);

    // Three independent limits of 60 a minute would send about 3 requests a second; one shared budget
    // sends at most one per WINDOW_MS / N. A generous lower bound on the span proves it was shared.
    const span = reqs.at(-1)!.at - reqs[0]!.at;
    expect(span).toBeGreaterThanOrEqual((reqs.length - 1) * (WINDOW_MS / N) * 0.95);
    const ideal = reqs.length * (WINDOW_MS / N);
    console.log(`[shared limit] ${reqs.length} pages over 3 processes, N=${N} per ${WINDOW_MS} ms: wall ${run.wallMs} ms (requests span ${span} ms) vs pages x window / N = ${ideal} ms; slot ${sharedMinTime(RATE)} ms`);
  });

  it('the control: without --redis the same three processes overrun the account and meet 429s', async () => {
    const mock = await startMock({ tickets: 1500, rateLimit: N, rateWindowMs: WINDOW_MS });
    const out = await tempDir();
    const run = await exportThree(mock, out, []);
    for (const [i, code] of run.codes.entries()) expect(code, run.stderr[i]).toBe(0);
    const limited = exportRequests(mock).filter((r) => r.status === 429).length;
    expect(limited).toBeGreaterThan(0);
    await expectTableExact(mock, out);
    console.log(`[shared limit] control without --redis: ${limited} 429s, wall ${run.wallMs} ms`);
  });

  it('a 429 with Retry-After pauses every process of the account, not only the one that met it', async () => {
    const retryAfter = 3;
    const mock = await startMock({ tickets: 1500, retryAfterSeconds: retryAfter });
    const out = await tempDir();
    const running = exportThree(mock, out, ['--redis', redisUrl()]);
    await waitFor('four export requests', () => mock.exportRequests >= 4);
    mock.injectFaults('rate-limit');
    const run = await running;
    for (const [i, code] of run.codes.entries()) expect(code, run.stderr[i]).toBe(0);

    const reqs = exportRequests(mock);
    const limited = reqs.filter((r) => r.status === 429);
    expect(limited).toHaveLength(1);
    const at = limited[0]!.at;
    // Slots are 1110 ms apart: without the shared pause, the other two processes would send about two
    // requests in these 3 s. With it, nobody sends until Retry-After has passed.
    const during = reqs.filter((r) => r.at > at && r.at < at + retryAfter * 1000);
    expect(during).toEqual([]);
    const next = reqs.find((r) => r.at > at);
    expect(next).toBeDefined();
    await expectTableExact(mock, out);
    console.log(`[shared limit] 429 at +${at - reqs[0]!.at} ms with Retry-After ${retryAfter} s: the next request of any process came ${next!.at - at} ms later`);
  });

  it('a process killed (kill -9) while it holds a slot gives it back after the slot\'s expiration', async () => {
    const origin = `http://kill-${randomUUID()}.invalid`;
    const rate = 12; // slots of 5150 ms: time enough to kill the holder while it waits for its second slot
    const keys = sharedLimitKeys(origin, 'incremental-exports');
    const script = `
      import { createRequestGate } from ${JSON.stringify(join(ROOT, 'dist/src/source/limiter.js'))};
      const gate = createRequestGate({ rate: ${rate}, origin: ${JSON.stringify(origin)}, family: 'incremental-exports', redis: ${JSON.stringify(redisUrl())} });
      await gate.take();
      process.stdout.write('took one\\n');
      await gate.take();
      process.stdout.write('took two\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    await waitFor('the first slot', () => text.includes('took one'), 30_000);
    // The first slot is done; the second is registered in Redis (running = 1) and waits out the
    // spacing: kill the process there.
    await waitFor('the second slot held', async () => {
      const [running, done] = await redis().hmget(`b_${keys.limiter}_settings`, 'running', 'done');
      return running === '1' && Number(done) >= 1;
    }, 5_000);
    child.kill('SIGKILL');
    await exited;
    expect(text).not.toContain('took two');

    const gate = createRequestGate({ rate, origin, family: 'incremental-exports', redis: redisUrl() });
    const t0 = Date.now();
    // The slot expires minTime + SLOT_EXPIRATION_EXTRA_MS after its grant; a heartbeat then finds it.
    const expiry = sharedMinTime(rate) + SLOT_EXPIRATION_EXTRA_MS;
    const bound = expiry + SHARED_HEARTBEAT_MS + 3_000;
    try {
      // Without an expiration the dead process would hold the only slot forever and this would time out.
      await gate.take(AbortSignal.timeout(bound));
    } finally {
      await gate.close();
    }
    const waited = Date.now() - t0;
    expect(waited).toBeLessThan(bound);
    console.log(`[shared limit] a slot held by a killed process came back after ${waited} ms (expiration ${expiry} ms from its grant)`);
  });

  it('one budget per account and limit family: the users cursor export has its own, at its own limit', async () => {
    const mock = await startMock({ tickets: 300 });
    const out = await tempDir();
    const credentials = Credentials.apiToken(mock.credentials.email, mock.credentials.apiToken);
    const users = await exportStream('users', { origin: mock.url, credentials, out, redis: redisUrl() });
    expect(users.complete).toBe(true);
    const events = await exportStream('ticket_events', { origin: mock.url, credentials, out, redis: redisUrl(), rateLimit: 6000 });
    expect(events.complete).toBe(true);
    const minTime = async (family: 'users-cursor' | 'incremental-exports'): Promise<string | null> => redis().hget(`b_${sharedLimitKeys(mock.url, family).limiter}_settings`, 'minTime');
    // Users by cursor: Zendesk's 20 a minute, by default; the other exports share the account's other budget.
    expect(await minTime('users-cursor')).toBe(String(sharedMinTime(20)));
    expect(await minTime('incremental-exports')).toBe(String(sharedMinTime(6000)));
    // Shared slots are wider than local ones: 1% plus the jitter measured across processes.
    expect(sharedMinTime(10)).toBe(6060 + SHARED_JITTER_MS);
  });

  it('processes that ask for different limits of one account share the strictest', async () => {
    const origin = `http://strict-${randomUUID()}.invalid`;
    const loose = createRequestGate({ rate: 60, origin, family: 'incremental-exports', redis: redisUrl() });
    const strict = createRequestGate({ rate: 30, origin, family: 'incremental-exports', redis: redisUrl() });
    try {
      await loose.take();
      expect(await redis().hget(`b_${sharedLimitKeys(origin, 'incremental-exports').limiter}_settings`, 'minTime')).toBe(String(sharedMinTime(60)));
      await strict.take();
      expect(await redis().hget(`b_${sharedLimitKeys(origin, 'incremental-exports').limiter}_settings`, 'minTime')).toBe(String(sharedMinTime(30)));
      // A looser one joining later does not loosen it.
      const later = createRequestGate({ rate: 120, origin, family: 'incremental-exports', redis: redisUrl() });
      await later.take();
      await later.close();
      expect(await redis().hget(`b_${sharedLimitKeys(origin, 'incremental-exports').limiter}_settings`, 'minTime')).toBe(String(sharedMinTime(30)));
    } finally {
      await loose.close();
      await strict.close();
    }
  });

  it('the library closes its Redis connections when a run ends', async () => {
    const mock = await startMock({ tickets: 300 });
    const out = await tempDir();
    const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = sockets();
    const r = await exportStream('tickets', { origin: mock.url, credentials: Credentials.apiToken(mock.credentials.email, mock.credentials.apiToken), out, rateLimit: 6000, perPage: 100, redis: redisUrl() });
    expect(r.complete).toBe(true);
    await waitFor('the sockets of the run to close', () => sockets() <= before, 5_000);
    // The limiter's keys live in Redis, under the account's origin.
    expect(await redis().exists(`b_${sharedLimitKeys(mock.url, 'incremental-exports').limiter}_settings`)).toBe(1);
  });
});
