import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCheckpoint } from '../src/core/checkpoint.js';
import { TicketSource } from '../src/source/ticket-source.js';
import { STREAMS } from '../src/streams.js';
import { chdbQuery, deltaLocal } from './support/chdb.js';
import { duck, mockEnv, parquetGlob, runCli, startMock, tempDir, tokenCredentials, dataFiles } from './helpers.js';

function versionOf(stream: string, r: Record<string, unknown>): number {
  if (stream === 'ticket_events') return Number(r.timestamp);
  return Math.floor(Date.parse(String(r.updated_at)) / 1000);
}

describe('the other incremental streams, through the same machinery', () => {
  const cases = [
    ['ticket_events', 'time'],
    ['users', 'cursor'],
    ['users', 'time'],
    ['organizations', 'time'],
  ] as const;
  for (const [stream, mode] of cases) {
    it(`${stream} (${mode}): every record once, typed Parquet in its own table, resumable`, async () => {
      const mock = await startMock({ tickets: 4000 });
      const out = await tempDir();
      const args = ['export', stream, '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--pagination', mode, '--per-page', '150', '--max-rows-per-file', '300'];
      const run = await runCli(args, mockEnv(mock));
      expect(run.code, run.stderr).toBe(0);
      if (stream === 'ticket_events') mock.updateTickets(7); // new events appear; the next run adds them
      const again = await runCli(args, mockEnv(mock));
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/resuming from/);
      const rows = await duck(`SELECT * FROM ${parquetGlob(out, stream)}`);
      const got = rows.map((r) => `${String(r.id)}:${versionOf(stream, r)}`);
      const want = mock.expectedRecords(stream).map((r) => `${r.id}:${r.version}`);
      expect(new Set(got).size).toBe(got.length);
      expect([...got].sort()).toEqual([...want].sort());
      const types = Object.fromEntries((await duck(`DESCRIBE SELECT * FROM ${parquetGlob(out, stream)}`)).map((r) => [r.column_name, r.column_type]));
      expect(types.id).toBe('BIGINT');
      expect(types.created_at).toBe('TIMESTAMP WITH TIME ZONE');
      expect(types._extracted_at).toBe('TIMESTAMP WITH TIME ZONE');
      if (stream === 'ticket_events') {
        expect(types.ticket_id).toBe('BIGINT');
        // include=comment_events is sent by default: the comment is in the child events.
        expect(String(rows[0]!.child_events)).toMatch(/"event_type":"Comment"/);
      } else {
        expect(types.updated_at).toBe('TIMESTAMP WITH TIME ZONE');
        // Custom user and organization fields are kept, not dropped.
        expect(String(rows[0]!._extra)).toMatch(stream === 'users' ? /user_fields__plan/ : /organization_fields__tier/);
      }
      expect(await dataFiles(join(out, 'tickets'))).toEqual([]);
    });
  }

  it('users in cursor mode default to their own limit of 20 requests a minute', () => {
    expect(STREAMS.users.rateLimit.cursor).toBe(20);
    expect(STREAMS.tickets.rateLimit.cursor).toBe(10);
  });

  it('sideloads land in tables of their own (tickets__users, ...), never mixed into ticket rows', async () => {
    const mock = await startMock({ tickets: 1500 });
    const out = await tempDir();
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--include', 'users,groups,organizations,metric_sets', '--partition-by', 'updated_at:month'], mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    for (const table of ['users', 'groups', 'organizations', 'metric_sets']) {
      const [n] = await duck(`SELECT count(*) AS n, count(DISTINCT ${table === 'metric_sets' ? 'ticket_id' : 'id'}) AS d FROM ${parquetGlob(out, `tickets__${table}`)}`);
      expect(Number(n!.n)).toBeGreaterThan(0);
      // Each is a Delta table of its own.
      const [d] = await chdbQuery(`SELECT count() AS n FROM ${deltaLocal(join(out, `tickets__${table}`))}`);
      expect(Number(d!.n)).toBe(Number(n!.n));
    }
    const ticketCols = (await duck(`DESCRIBE SELECT * FROM ${parquetGlob(out, 'tickets')}`)).map((r) => r.column_name);
    expect(ticketCols).not.toContain('name');
    const [t] = await duck(`SELECT count(*) AS n FROM ${parquetGlob(out, 'tickets')}`);
    expect(Number(t!.n)).toBe(1500);
    const [u] = await duck(`SELECT typeof(id) AS t FROM ${parquetGlob(out, 'tickets__users')} LIMIT 1`);
    expect(u!.t).toBe('BIGINT');
  });

  it('the source emits checkpoints named for the stream', async () => {
    const mock = await startMock({ tickets: 300 });
    const source = new TicketSource({ stream: 'organizations', origin: mock.url, credentials: tokenCredentials(mock), rateLimit: 0 });
    const items = await source.toArray();
    const cps = items.filter(isCheckpoint);
    expect(cps.at(-1)!.stream).toBe('organizations');
    expect(mock.requests.at(-1)!.path).toBe('/api/v2/incremental/organizations');
  });
});
