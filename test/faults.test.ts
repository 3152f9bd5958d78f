import { describe, expect, it } from 'vitest';
import { isCheckpoint } from '../src/core/checkpoint.js';
import { ZendeskEtlError } from '../src/core/errors.js';
import { exportTickets } from '../src/export.js';
import { ALL_FAULTS, type FaultKind } from '../src/mock/server.js';
import { TicketSource, type ZendeskTicket } from '../src/source/ticket-source.js';
import { lakeVersions, startMock, tempDir, tokenCredentials } from './helpers.js';
import { checkExactlyOnce } from './support/lake-oracle.js';

const FAST = { rateLimit: 0, minRetryDelayMs: 1, maxRetryDelayMs: 20, timeouts: { bodyIdle: 400, headers: 2000, connect: 2000 } } as const;
/** Timeouts no busy machine reaches: only the fault under test makes a request fail. */
const PATIENT = { ...FAST, timeouts: { bodyIdle: 30_000, headers: 30_000, connect: 10_000 } } as const;

async function versionsOf(source: TicketSource): Promise<string[]> {
  const out: string[] = [];
  for await (const item of source) if (!isCheckpoint(item)) out.push(`${(item as ZendeskTicket).id}:${(item as ZendeskTicket).generated_timestamp}`);
  return out;
}

describe('fault matrix: each fault alone, both modes', () => {
  for (const fault of ALL_FAULTS) {
    it(`${fault}: retried, nothing missing, nothing twice`, async () => {
      const mock = await startMock({ tickets: 1200, retryAfterSeconds: 0, dripMs: 1 });
      for (const mode of ['cursor', 'time'] as const) {
        mock.injectFaults(fault, fault);
        // The stall needs a short idle timeout to be detected; on a busy machine that timeout may also
        // catch a slow ordinary page, so for it the count is a lower bound.
        const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), pagination: mode, perPage: 400, ...(fault === 'stall' ? FAST : PATIENT) });
        const got = await versionsOf(source);
        const r = checkExactlyOnce(got, mock.expectedTickets());
        expect(r.missing).toEqual([]);
        expect(r.duplicates).toEqual([]);
        const expectRetries = fault === 'slow-drip' ? 0 : 2;
        if (fault === 'stall') expect(source.stats.retries).toBeGreaterThanOrEqual(2);
        else expect(source.stats.retries).toBe(expectRetries);
        if (fault.startsWith('rate-limit')) expect(source.stats.rateLimited).toBe(2);
      }
    });
  }
});

describe('fault matrix: mixed faults at random, whole exports in both formats', () => {
  const kinds: FaultKind[] = ALL_FAULTS.filter((k) => k !== 'stall' && k !== 'slow-drip');
  for (const format of ['parquet', 'ndjson'] as const) {
    for (const mode of ['cursor', 'time'] as const) {
      it(`${format}, ${mode}: 30% of requests fail in random ways`, async () => {
        const mock = await startMock({ tickets: 2500, faultRate: 0.3, faultKinds: kinds, retryAfterSeconds: 0, seed: format.length * 7 + mode.length });
        const out = await tempDir();
        const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, format, pagination: mode, perPage: 250, retries: 30, maxRowsPerFile: 600, ...FAST });
        expect(result.complete).toBe(true);
        expect(result.stats.retries).toBeGreaterThan(0);
        const r = checkExactlyOnce(await lakeVersions(out, format), mock.expectedTickets());
        expect(r.missing).toEqual([]);
        expect(r.duplicates).toEqual([]);
      });
    }
  }
});

describe('retry budget and rate limits', () => {
  it('GET ticket_fields is retried too: a 503 on it does not stop the run', async () => {
    const mock = await startMock({ tickets: 300 });
    mock.injectFieldFaults(2);
    const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out: await tempDir(), ...PATIENT });
    expect(result.complete).toBe(true);
    expect(mock.requests.filter((r) => r.path === '/api/v2/ticket_fields').map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('a 404 (a wrong subdomain or base URL) stops at once, with no retry and no state', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"InvalidEndpoint"}');
    }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    let hits = 0;
    server.on('request', () => hits++);
    const port = (server.address() as { port: number }).port;
    const out = await tempDir();
    const err = (await exportTickets({ origin: `http://127.0.0.1:${port}`, credentials: tokenCredentials(await startMock({ tickets: 1 })), out, ...FAST }).catch((e: unknown) => e)) as ZendeskEtlError;
    server.close();
    expect(err.code).toBe('ZDE_NOT_FOUND');
    expect(err.message).toMatch(/is the subdomain or base URL right\?/);
    expect(hits).toBe(1);
    expect(await lakeVersions(out, 'parquet')).toEqual([]);
  });

  it('gives up after the configured attempts with an error naming the URL, status, attempts and last cause', async () => {
    const mock = await startMock({ tickets: 500 });
    mock.injectFaults(...Array<FaultKind>(10).fill('status-503'));
    const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), retries: 3, ...PATIENT });
    const err = (await versionsOf(source).catch((e: unknown) => e)) as ZendeskEtlError;
    expect(err).toBeInstanceOf(ZendeskEtlError);
    expect(err.code).toBe('ZDE_RETRIES_EXHAUSTED');
    expect(err.attempt).toBe(4);
    expect(err.status).toBe(503);
    expect(err.url).toContain('/api/v2/incremental/tickets/cursor.json?start_time=0');
    expect(err.message).toMatch(/after 4 attempts; last error: server error 503/);
    expect(mock.exportRequests).toBe(4);
  });

  it('a 429 waits exactly Retry-After, and does not use up a retry', async () => {
    const mock = await startMock({ tickets: 300, retryAfterSeconds: 1 });
    mock.injectFaults('rate-limit', 'rate-limit', 'rate-limit');
    // One retry allowed, three 429s: they must not count against it.
    const waits: unknown[] = [];
    const log = { error() {}, warn() {}, debug() {}, info: (msg: string, fields?: Record<string, unknown>) => msg.startsWith('rate limited') && waits.push(fields?.wait_ms) };
    const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), retries: 1, ...PATIENT, log });
    const got = await versionsOf(source);
    expect(got.length).toBe(mock.expectedTickets().length);
    const times = mock.requests.filter((r) => r.path.includes('incremental')).map((r) => r.at);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1000);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1000);
    expect(times[3]! - times[2]!).toBeGreaterThanOrEqual(1000);
    // Each wait is exactly what Retry-After said, no backoff added on top.
    expect(waits).toEqual([1000, 1000, 1000]);
    expect(source.stats.rateLimited).toBe(3);
    expect(source.stats.retries).toBe(3);
  });

  it('a stalled body hits the idle timeout and is retried, never hanging the run', async () => {
    const mock = await startMock({ tickets: 800 });
    mock.injectFaults('stall');
    const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), ...FAST, timeouts: { bodyIdle: 300 } });
    const got = await versionsOf(source);
    expect(checkExactlyOnce(got, mock.expectedTickets()).missing).toEqual([]);
    expect(mock.requests.filter((r) => r.fault === 'stall').length).toBe(1);
    expect(source.stats.retries).toBeGreaterThanOrEqual(1); // a busy machine may time out a slow ordinary page too
  });
});
