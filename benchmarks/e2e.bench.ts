/**
 * End to end against the stand-in (in another process, rate limit off), and the HTTP stage alone.
 * Variants:
 *   fetch-request | fetch-api       read every page with undici request() / fetch(), nothing else
 *   handwritten                     the baseline exporter: request, JSON.parse the page, JSON.stringify per row
 *   handwritten-then-duckdb         the baseline for Parquet: the above, then DuckDB COPY to Parquet
 *   ndjson | parquet                 zendesk-stream-etl's exportTickets (parquet: --engine E, default the default)
 * Usage: tsx benchmarks/e2e.bench.ts --variant V --url URL --tickets N [--per-page P] [--engine wasm|parquetjs|duckdb] [--size LABEL]
 * (credentials in the environment)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { request } from 'undici';
import { credentialsFromEnv } from '../src/auth.js';
import { exportTickets, type ExportTicketsOptions } from '../src/export.js';
import { arg, measure } from './harness.js';

const variant = arg('variant') ?? 'ndjson';
const url = arg('url')!;
const n = arg('size') ?? arg('tickets') ?? '?';
const perPage = Number(arg('per-page') ?? '1000');
const engine = arg('engine');
const credentials = credentialsFromEnv();
const dir = mkdtempSync(join(tmpdir(), 'zde-e2e-'));
const headers = { authorization: credentials.authorization(), 'accept-encoding': 'identity' };

function pageUrl(cursor: string | undefined): string {
  return `${url}/api/v2/incremental/tickets/cursor.json?${cursor ? `cursor=${encodeURIComponent(cursor)}` : 'start_time=0'}&per_page=${perPage}&support_type_scope=all`;
}

/** The hand-written exporter a data engineer would write first: whole pages, JSON.parse, stringify. */
async function handwritten(path: string): Promise<{ tickets: number; bytes: number }> {
  const out = await open(path, 'w');
  let cursor: string | undefined;
  let tickets = 0;
  let bytes = 0;
  for (;;) {
    const res = await request(pageUrl(cursor), { headers });
    const text = await res.body.text();
    bytes += Buffer.byteLength(text);
    const page = JSON.parse(text) as { tickets: Record<string, unknown>[]; after_cursor: string; end_of_stream: boolean };
    await out.write(page.tickets.map((t) => JSON.stringify(t)).join('\n') + '\n');
    tickets += page.tickets.length;
    cursor = page.after_cursor;
    if (page.end_of_stream) break;
  }
  await out.close();
  return { tickets, bytes };
}

async function fetchOnly(api: 'request' | 'fetch'): Promise<{ tickets: number; bytes: number }> {
  let cursor: string | undefined;
  let bytes = 0;
  let pages = 0;
  for (;;) {
    let text: string;
    if (api === 'request') text = await (await request(pageUrl(cursor), { headers })).body.text();
    else text = await (await fetch(pageUrl(cursor), { headers })).text();
    bytes += Buffer.byteLength(text);
    pages++;
    // The cursor sits at the end of the envelope: find it without parsing the page.
    const m = /"after_cursor":"([^"]+)","before_url".*"end_of_stream":(true|false)/.exec(text.slice(-2000));
    if (!m || m[2] === 'true') break;
    cursor = m[1];
  }
  return { tickets: pages * perPage, bytes };
}

try {
  if (variant === 'fetch-request' || variant === 'fetch-api') {
    await measure('fetch', variant === 'fetch-request' ? 'undici request()' : 'fetch()', n, () => fetchOnly(variant === 'fetch-request' ? 'request' : 'fetch'));
  } else if (variant === 'handwritten') {
    await measure('e2e', 'baseline: hand-written (JSON.parse pages, NDJSON)', n, () => handwritten(join(dir, 'out.ndjson')));
  } else if (variant === 'handwritten-then-duckdb') {
    await measure('e2e', 'baseline: hand-written NDJSON, then DuckDB COPY to Parquet', n, async () => {
      const r = await handwritten(join(dir, 'out.ndjson'));
      const c = await (await DuckDBInstance.create(':memory:')).connect();
      await c.run(`COPY (SELECT * FROM read_json('${join(dir, 'out.ndjson')}', format='newline_delimited', maximum_object_size=67108864, sample_size=-1)) TO '${join(dir, 'out.parquet')}' (FORMAT PARQUET, COMPRESSION SNAPPY)`);
      return r;
    });
  } else {
    const format = variant === 'ndjson' ? 'ndjson' : 'parquet';
    const name = format === 'ndjson' ? 'zendesk-stream-etl, NDJSON' : `zendesk-stream-etl, Parquet (${engine ?? 'default'} engine)`;
    await measure('e2e', name, n, async () => {
      const parquetEngine = format === 'parquet' ? (engine as ExportTicketsOptions['parquetEngine']) : undefined;
      const r = await exportTickets({ origin: url, credentials, out: join(dir, 'lake'), format, rateLimit: 0, perPage, parquetEngine });
      if (!r.complete) throw new Error('export incomplete');
      return { tickets: r.stats.tickets, bytes: r.stats.bytes };
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
