/**
 * Rate-limit exactness against a stand-in that enforces N requests per window (sliding), and a storm
 * of 429s. The window is scaled down from a minute so the quick run takes seconds; the spacing logic is
 * the same at any scale.
 * Usage: tsx benchmarks/ratelimit.bench.ts --variant sustain|storm --seconds S
 */
import { Credentials } from '../src/auth.js';
import { MockZendesk } from '../src/mock/server.js';
import { TicketSource } from '../src/source/ticket-source.js';
import { arg, measure } from './harness.js';

const variant = arg('variant') ?? 'sustain';
const seconds = Number(arg('seconds') ?? '30');

if (variant === 'sustain') {
  // 10 requests per 6 s window = 100 per minute; the exporter is told 100 per minute.
  const perMinute = 100;
  const mock = new MockZendesk({ tickets: 200_000, rateLimit: 10, rateWindowMs: 6000, spacing: 0.01 });
  await mock.start();
  await measure('ratelimit', `sustain ${perMinute}/min for ${seconds} s`, `${perMinute}/min`, async () => {
    const source = new TicketSource({ origin: mock.url, credentials: Credentials.oauth(mock.credentials.oauthToken), rateLimit: perMinute, perPage: 10 });
    const stopAt = Date.now() + seconds * 1000;
    let tickets = 0;
    for await (const item of source) {
      void item;
      tickets++;
      if (Date.now() >= stopAt) {
        source.destroy();
        break;
      }
    }
    const times = mock.requests.filter((r) => r.status === 200).map((r) => r.at);
    const span = (times.at(-1)! - times[0]!) / 1000;
    const achieved = ((times.length - 1) / span) * 60;
    const own429 = mock.requests.filter((r) => r.status === 429).length;
    return { tickets, bytes: source.stats.bytes, note: `achieved ${achieved.toFixed(1)}/min = ${((achieved / perMinute) * 100).toFixed(1)}% of the limit; 429s caused: ${own429}` };
  });
  await mock.close();
} else {
  // A storm: 8 consecutive 429s with Retry-After 1 s. Lost time beyond the sum of Retry-After?
  const mock = new MockZendesk({ tickets: 3000, retryAfterSeconds: 1 });
  await mock.start();
  mock.injectFaults(...Array<'rate-limit'>(8).fill('rate-limit'));
  await measure('ratelimit', '429 storm (8 x Retry-After: 1)', 'storm', async () => {
    const source = new TicketSource({ origin: mock.url, credentials: Credentials.oauth(mock.credentials.oauthToken), rateLimit: 0, retries: 2 });
    const t0 = performance.now();
    let tickets = 0;
    for await (const item of source) {
      void item;
      tickets++;
    }
    const total = performance.now() - t0;
    const times = mock.requests.map((r) => r.at);
    const waited = times[8]! - times[0]!;
    return { tickets, bytes: source.stats.bytes, note: `time between first 429 and the request that succeeded: ${waited} ms for 8000 ms of Retry-After (${(waited - 8000).toFixed(0)} ms over); whole run ${total.toFixed(0)} ms` };
  });
  await mock.close();
}
