import { describe, expect, it } from 'vitest';
import { isCheckpoint } from '../src/core/checkpoint.js';
import { TicketSource, type ZendeskTicket } from '../src/source/ticket-source.js';
import { mockEnv, spawnCli, startMock, tokenCredentials } from './helpers.js';

const MB = 1024 * 1024;

describe('backpressure and bounded memory', () => {
  it('a slow consumer keeps the bytes read ahead of it bounded, on a page of 100 MB', async () => {
    // 1000 tickets of ~100 KB each: one page of about 100 MB.
    const mock = await startMock({ tickets: 1000, hugeEvery: 1, hugeDescriptionBytes: 100 * 1024, gzip: false });
    const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), rateLimit: 0, perPage: 1000 });
    let consumedBytes = 0;
    let maxAhead = 0;
    let n = 0;
    for await (const item of source) {
      if (isCheckpoint(item)) continue;
      consumedBytes += Buffer.byteLength(JSON.stringify(item as ZendeskTicket)) + 1;
      maxAhead = Math.max(maxAhead, source.stats.bytes - consumedBytes);
      n++;
      // A slow consumer: one macrotask per ticket for the first 200 tickets.
      if (n < 200) await new Promise((r) => setImmediate(r));
    }
    expect(n).toBe(1000);
    expect(source.stats.bytes).toBeGreaterThan(100 * MB);
    // Read ahead: the object buffers (16 tickets a stage) plus one network chunk, never the page.
    expect(maxAhead).toBeLessThan(12 * MB);
  });

  it('the CLI exporting a 100 MB page keeps a peak RSS far below the page size', async () => {
    const mock = await startMock({ tickets: 1000, hugeEvery: 1, hugeDescriptionBytes: 120 * 1024 });
    const run = spawnCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', '-'], mockEnv(mock));
    let lines = 0;
    run.child.stdout!.on('data', (d: Buffer) => {
      for (const b of d) if (b === 0x0a) lines++;
    });
    const done = await run.done;
    expect(done.code).toBe(0);
    expect(lines).toBe(1000);
    const summary = JSON.parse(/summary: (.*)/.exec(done.stderr)![1]!) as Record<string, number>;
    expect(summary.bytes).toBeGreaterThan(120 * MB);
    expect(summary.tickets).toBe(1000);
    // JSON.parse of that page needs the page as a string plus its objects: several times 120 MB.
    expect(summary.max_rss_mb).toBeLessThan(256);
  });

  it('does not start the next request until the consumer has taken the page', async () => {
    const mock = await startMock({ tickets: 3000 });
    const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), rateLimit: 0, perPage: 500 });
    const iterator = source[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    // One ticket taken: at most the first page has been requested.
    expect(mock.exportRequests).toBe(1);
    let pages = 0;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      if (isCheckpoint(r.value)) {
        pages++;
        // When checkpoint k is in hand, at most page k+1 has been asked for.
        expect(mock.exportRequests).toBeLessThanOrEqual(pages + 1);
      }
    }
    expect(pages).toBe(6);
  });
});
