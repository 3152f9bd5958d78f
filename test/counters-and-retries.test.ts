import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/core/log.js';
import { FieldCatalog } from '../src/schema/custom-fields.js';
import { ZendeskHttp } from '../src/source/http-client.js';
import { mockEnv, runCli, startMock, tempDir, tokenCredentials } from './helpers.js';

describe('counters and silence', () => {
  it('each retry of GET /ticket_fields is logged, as a page retry is', async () => {
    const mock = await startMock({ tickets: 10 });
    mock.injectFieldFaults(2);
    const lines: string[] = [];
    const log = createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l) });
    const http = new ZendeskHttp(mock.url, tokenCredentials(mock));
    try {
      const catalog = await FieldCatalog.fetch(http, 'id', log);
      expect(catalog.fields.length).toBeGreaterThan(0);
    } finally {
      await http.close();
    }
    const retries = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'retrying the ticket fields');
    expect(retries.map((r) => [r.attempt, r.cause, r.status])).toEqual([
      [1, 'ZDE_SERVER_ERROR', 503],
      [2, 'ZDE_SERVER_ERROR', 503],
    ]);
  });

  it('versions past --end-time are counted as beyond_end, not as duplicates', async () => {
    const mock = await startMock({ tickets: 1000 });
    const out = await tempDir();
    const cut = mock.expectedTickets().map((t) => t.generated_timestamp).sort((a, b) => a - b)[250]!;
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--per-page', '100', '--end-time', String(cut), '--log-format', 'json'], mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    const summary = run.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'summary')!;
    const delivered = mock.expectedTickets({ endTime: cut }).length;
    expect(summary.tickets).toBe(delivered);
    // The page that holds the end brings the versions after it: all of them are past the end.
    expect(summary.beyond_end).toBe(Math.ceil(delivered / 100) * 100 - delivered);
    expect(summary.duplicates_skipped).toBe(0);
  });
});
