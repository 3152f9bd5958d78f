import { describe, expect, it } from 'vitest';
import { Credentials } from '../src/auth.js';
import { isCheckpoint, isSideload, type Checkpoint } from '../src/core/checkpoint.js';
import { ZendeskEtlError } from '../src/core/errors.js';
import type { MockZendesk } from '../src/mock/server.js';
import type { ExportPosition } from '../src/source/pagination.js';
import { TicketSource, type TicketSourceOptions, type ZendeskTicket } from '../src/source/ticket-source.js';
import { startMock, tokenCredentials } from './helpers.js';
import { checkExactlyOnce } from './support/lake-oracle.js';

interface Drained {
  versions: string[];
  tickets: ZendeskTicket[];
  checkpoints: Checkpoint[];
  sideloads: Map<string, number>;
  source: TicketSource;
}

async function drain(mock: MockZendesk, opts: Partial<TicketSourceOptions> = {}): Promise<Drained> {
  const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), rateLimit: 0, minRetryDelayMs: 1, maxRetryDelayMs: 5, ...opts });
  const out: Drained = { versions: [], tickets: [], checkpoints: [], sideloads: new Map(), source };
  for await (const item of source) {
    if (isCheckpoint(item)) out.checkpoints.push(item);
    else if (isSideload(item)) out.sideloads.set(item.table, (out.sideloads.get(item.table) ?? 0) + 1);
    else {
      out.tickets.push(item as ZendeskTicket);
      out.versions.push(`${(item as ZendeskTicket).id}:${(item as ZendeskTicket).generated_timestamp}`);
    }
  }
  return out;
}

function expectExactlyOnce(got: string[], mock: MockZendesk, scope: Parameters<MockZendesk['expectedTickets']>[0] = {}): void {
  const result = checkExactlyOnce(got, mock.expectedTickets(scope), mock.history);
  expect(result.missing).toEqual([]);
  expect(result.duplicates).toEqual([]);
  expect(result.unknown).toEqual([]);
}

describe('ticket source against the stand-in', () => {
  for (const mode of ['cursor', 'time'] as const) {
    it(`${mode}: exports every ticket version once, AI-agent and deleted tickets included, with a checkpoint after each page`, async () => {
      const mock = await startMock({ tickets: 2600 });
      const d = await drain(mock, { pagination: mode, perPage: 500 });
      expectExactlyOnce(d.versions, mock);
      expect(d.tickets.some((t) => t.support_type === 'ai_agent')).toBe(true);
      expect(d.tickets.some((t) => t.status === 'deleted')).toBe(true);
      expect(d.checkpoints.length).toBe(d.source.stats.pages);
      expect(d.checkpoints.at(-1)!.position.done).toBe(true);
      // Every request asked for support_type_scope=all.
      expect(mock.requests.filter((r) => r.path.includes('incremental')).every((r) => r.query.support_type_scope === 'all')).toBe(true);
    });

    it(`${mode}: a new run from the last position brings only what changed since`, async () => {
      const mock = await startMock({ tickets: 1200 });
      const first = await drain(mock, { pagination: mode });
      expectExactlyOnce(first.versions, mock);
      mock.updateTickets(25);
      const position: ExportPosition = { ...first.checkpoints.at(-1)!.position, done: false };
      const second = await drain(mock, { pagination: mode, position });
      expect(second.versions.length).toBeLessThanOrEqual(25);
      expect(second.versions.length).toBeGreaterThan(15); // some updates hit the same ticket twice
      expectExactlyOnce([...first.versions, ...second.versions].filter((v) => mock.expectedTickets().some((e) => `${e.id}:${e.generated_timestamp}` === v)), mock);
      expect(new Set([...first.versions, ...second.versions]).size).toBe(first.versions.length + second.versions.length);
    });
  }

  it('time mode: tickets repeated at a page boundary are delivered once', async () => {
    // Many tickets per second: every page ends inside a second that the next page starts with.
    const mock = await startMock({ tickets: 3000, spacing: 0.2 });
    const d = await drain(mock, { pagination: 'time', perPage: 250 });
    expectExactlyOnce(d.versions, mock);
    expect(d.source.stats.duplicatesSkipped).toBeGreaterThan(0);
  });

  it('time mode: a clump larger than a page, served the documented way (the page grows)', async () => {
    const mock = await startMock({ tickets: 3000, clumps: [[700, 1800]], clumpBehaviour: 'grow' });
    const d = await drain(mock, { pagination: 'time', perPage: 500 });
    expectExactlyOnce(d.versions, mock);
  });

  it('time mode: a clump that makes Zendesk answer the same end_time forever finishes through the cursor endpoint', async () => {
    const mock = await startMock({ tickets: 3000, clumps: [[700, 1800]], clumpBehaviour: 'stuck' });
    const d = await drain(mock, { pagination: 'time', perPage: 500 });
    expectExactlyOnce(d.versions, mock);
    expect(d.source.stats.notes.join()).toMatch(/finished through the cursor endpoint/);
    expect(mock.requests.some((r) => r.path.endsWith('/cursor'))).toBe(true);
    // It never asked for the same start_time twice in a row.
    const starts = mock.requests.filter((r) => r.path.endsWith('/incremental/tickets')).map((r) => r.query.start_time);
    for (let i = 1; i < starts.length; i++) expect(starts[i]).not.toBe(starts[i - 1]);
  });

  it('time mode with onStuck=error stops with a clear loop error instead', async () => {
    const mock = await startMock({ tickets: 2000, clumps: [[100, 1500]], clumpBehaviour: 'stuck' });
    const err = await drain(mock, { pagination: 'time', perPage: 500, onStuck: 'error' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZendeskEtlError);
    expect((err as ZendeskEtlError).code).toBe('ZDE_PAGINATION_LOOP');
    expect((err as ZendeskEtlError).message).toMatch(/--pagination cursor/);
  });

  it('scope and filters: agent scope leaves out AI-agent tickets; exclude_deleted drops deleted ones', async () => {
    const mock = await startMock({ tickets: 1500 });
    const agent = await drain(mock, { supportTypeScope: 'agent', excludeDeleted: true });
    expectExactlyOnce(agent.versions, mock, { supportTypeScope: 'agent', excludeDeleted: true });
    expect(agent.tickets.every((t) => t.support_type === 'agent' && t.status !== 'deleted')).toBe(true);
  });

  it('sideloads come out as their own records, apart from tickets', async () => {
    const mock = await startMock({ tickets: 600 });
    const d = await drain(mock, { include: ['users', 'groups'] });
    expectExactlyOnce(d.versions, mock);
    expect(d.sideloads.get('users')).toBeGreaterThan(0);
    expect(d.sideloads.get('groups')).toBeGreaterThan(0);
    expect(mock.requests.find((r) => r.path.includes('incremental'))!.query.include).toBe('users,groups');
  });

  it('envelope keys in any order: pagination keys after or before the tickets', async () => {
    for (const envelopeOrder of ['tickets-last', 'random'] as const) {
      const mock = await startMock({ tickets: 1500, envelopeOrder });
      for (const mode of ['cursor', 'time'] as const) {
        expectExactlyOnce((await drain(mock, { pagination: mode, perPage: 400 })).versions, mock);
      }
    }
  });

  it('tickets updated while the export runs: every current version arrives, none twice', async () => {
    const mock = await startMock({ tickets: 3000, updateEvery: 2, updateCount: 40 });
    for (const mode of ['cursor', 'time'] as const) {
      const d = await drain(mock, { pagination: mode, perPage: 300 });
      const expected = mock.expectedTickets();
      const got = new Set(d.versions);
      expect(expected.filter((e) => !got.has(`${e.id}:${e.generated_timestamp}`))).toEqual([]);
      expect(got.size).toBe(d.versions.length);
    }
  });

  it('--end-time bounds a window (exclusive), and two windows side by side cover the stream without overlap or gap', async () => {
    const mock = await startMock({ tickets: 2000 });
    const all = mock.expectedTickets();
    const cut = all[1000]!.generated_timestamp;
    for (const mode of ['cursor', 'time'] as const) {
      const a = await drain(mock, { pagination: mode, perPage: 300, endTime: cut });
      const b = await drain(mock, { pagination: mode, perPage: 300, startTime: cut });
      expect(a.tickets.every((t) => t.generated_timestamp < cut)).toBe(true);
      expect(b.tickets.every((t) => t.generated_timestamp >= cut)).toBe(true);
      expectExactlyOnce([...a.versions, ...b.versions], mock);
      expect(a.checkpoints.at(-1)!.position.done).toBe(true);
    }
  });

  it('an expired cursor falls back to start_time at the last delivered generated_timestamp', async () => {
    const mock = await startMock({ tickets: 2500 });
    const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), rateLimit: 0, perPage: 400 });
    const versions: string[] = [];
    let pages = 0;
    for await (const item of source) {
      if (isCheckpoint(item)) {
        if (++pages === 2) mock.expireCursors();
        continue;
      }
      versions.push(`${(item as ZendeskTicket).id}:${(item as ZendeskTicket).generated_timestamp}`);
    }
    expectExactlyOnce(versions, mock);
    expect(mock.requests.some((r) => r.status === 400)).toBe(true);
    expect(source.stats.notes.join()).toMatch(/cursor was refused/);
  });

  it('authenticates with OAuth, API token and password; refuses bad credentials with a 401 error at once', async () => {
    const mock = await startMock({ tickets: 300 });
    const c = mock.credentials;
    for (const credentials of [Credentials.oauth(c.oauthToken), Credentials.apiToken(c.email, c.apiToken), Credentials.password(c.email, c.password)]) {
      expectExactlyOnce((await drain(mock, { credentials })).versions, mock);
    }
    const before = mock.requests.length;
    const err = (await drain(mock, { credentials: Credentials.apiToken(c.email, 'wrong-token-123') }).catch((e: unknown) => e)) as ZendeskEtlError;
    expect(err.code).toBe('ZDE_UNAUTHORIZED');
    expect(err.status).toBe(401);
    expect(err.message).toMatch(/ZENDESK_API_TOKEN/);
    expect(mock.requests.length - before).toBe(1); // no retry
    const forbidden = (await drain(mock, { credentials: Credentials.apiToken('agent@example.com', 'x-token') }).catch((e: unknown) => e)) as ZendeskEtlError;
    expect(forbidden.code).toBe('ZDE_FORBIDDEN');
    expect(forbidden.message).toMatch(/admins only/);
  });

  it('a start_time less than a minute old asks nothing and ends: there is nothing new yet', async () => {
    const mock = await startMock({ tickets: 100 });
    const d = await drain(mock, { pagination: 'time', startTime: Math.floor(Date.now() / 1000) - 10 });
    expect(d.versions).toEqual([]);
    expect(d.checkpoints.at(-1)!.position.done).toBe(true);
    expect(mock.exportRequests).toBe(0);
    // If Zendesk still answers 422 (clocks differ), that also means "nothing new".
    const skewed = await startMock({ tickets: 100, now: () => Math.floor(Date.now() / 1000) - 3600 });
    const e = await drain(skewed, { pagination: 'time', startTime: Math.floor(Date.now() / 1000) - 1800 });
    expect(e.versions).toEqual([]);
    expect(skewed.requests[0]!.status).toBe(422);
  });

  it('a page that fails part way is retried without delivering its first tickets twice', async () => {
    const mock = await startMock({ tickets: 2000 });
    mock.injectFaults('reset-mid-body', 'truncated', 'reset-mid-body');
    const d = await drain(mock, { perPage: 1000 });
    expectExactlyOnce(d.versions, mock);
    expect(d.source.stats.retries).toBe(3);
    expect(d.source.stats.duplicatesSkipped).toBeGreaterThan(0);
  });
});
