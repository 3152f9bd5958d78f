import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { backfillParquet } from '../pipelines/backfill-parquet.js';
import { ndjsonToStream } from '../pipelines/ndjson-stdout.js';
import { replayToParquet } from '../pipelines/replay-parquet.js';
import { solvedByBrand } from '../pipelines/solved-by-brand.js';
import { teeParquetAndArchive } from '../pipelines/tee-parquet-raw.js';
import { ROOT, duck, lakeVersions, ndjsonGlob, parquetGlob, spawnCli, startMock, tempDir, tokenCredentials } from './helpers.js';
import { checkExactlyOnce } from './support/lake-oracle.js';

describe('ready pipelines against the stand-in', () => {
  it('backfill-parquet: a partitioned Parquet lake, resumable', async () => {
    const mock = await startMock({ tickets: 1800, spacing: 2000 });
    const out = await tempDir();
    const first = await backfillParquet({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0 });
    expect(first.rows).toBe(1800);
    mock.updateTickets(12);
    await backfillParquet({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0 });
    const r = checkExactlyOnce(await lakeVersions(out, 'parquet'), mock.expectedTickets(), mock.history);
    expect(r.missing).toEqual([]);
    expect(r.duplicates).toEqual([]);
    const [parts] = await duck(`SELECT count(DISTINCT updated_at_month) AS n FROM ${parquetGlob(out)}`);
    expect(Number(parts!.n)).toBeGreaterThan(1);
  });

  it('ndjson-stdout: one flattened ticket per line', async () => {
    const mock = await startMock({ tickets: 500 });
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    await ndjsonToStream(mock.url, tokenCredentials(mock), sink, 0);
    const rows = text.trim().split('\n').map((l) => JSON.parse(l) as { id: number; via__channel: string });
    expect(rows.length).toBe(500);
    expect(rows.every((r) => typeof r.via__channel === 'string' || r.via__channel === null)).toBe(true);
  });

  it('solved-by-brand: a custom filter and map with a renamed column', async () => {
    const mock = await startMock({ tickets: 2000 });
    const out = await tempDir();
    const brand = 360500000001;
    const rows = await solvedByBrand(mock.url, tokenCredentials(mock), brand, out, 0);
    const want = mock.expectedTickets().filter((t) => {
      const j = mock.ticketJson(t.id);
      return j.status === 'solved' && j.brand_id === brand;
    });
    expect(rows).toBe(want.length);
    const got = await duck(`SELECT ticket_id, brand_id FROM ${ndjsonGlob(out, 'solved_tickets')} ORDER BY ticket_id`);
    expect(got.map((r) => Number(r.ticket_id))).toEqual(want.map((t) => t.id));
    expect(got.every((r) => Number(r.brand_id) === brand)).toBe(true);
  });

  it('tee-parquet-raw: both lakes and the raw archive hold every version once; a replay matches', async () => {
    const mock = await startMock({ tickets: 1600 });
    const lake = await tempDir();
    const archive = await tempDir();
    await teeParquetAndArchive(mock.url, tokenCredentials(mock), lake, archive, 0);
    mock.updateTickets(10);
    await teeParquetAndArchive(mock.url, tokenCredentials(mock), lake, archive, 0);
    const expected = mock.expectedTickets();
    for (const [dir, format] of [[lake, 'parquet'], [join(archive, 'rows'), 'ndjson']] as const) {
      const src = format === 'parquet' ? parquetGlob(dir) : ndjsonGlob(dir, 'tickets', 'ndjson.gz');
      const versions = (await duck(`SELECT id, generated_timestamp AS g FROM ${src}`)).map((r) => `${String(r.id)}:${String(r.g)}`);
      const r = checkExactlyOnce(versions, expected, mock.history);
      expect(r.missing).toEqual([]);
      expect(r.duplicates).toEqual([]);
    }
    const rebuilt = await tempDir();
    const result = await replayToParquet(join(archive, 'raw'), rebuilt);
    expect(result.complete).toBe(true);
    const a = await duck(`SELECT id, generated_timestamp, status FROM ${parquetGlob(lake)} ORDER BY id, generated_timestamp`);
    const b = await duck(`SELECT id, generated_timestamp, status FROM ${parquetGlob(rebuilt)} ORDER BY id, generated_timestamp`);
    expect(b).toEqual(a);
  });

  it('copyable: each pipeline imports the package by its name; ndjson-stdout | head ends with 0 and no stack trace', async () => {
    for (const name of (await readdir(join(ROOT, 'pipelines'))).filter((f) => f.endsWith('.ts'))) {
      const text = await readFile(join(ROOT, 'pipelines', name), 'utf8');
      expect(text, name).toMatch(/from 'zendesk-stream-etl';/);
      expect(text, name).not.toMatch(/from '\.\.?\//);
    }
    const mock = await startMock({ tickets: 3000 });
    const env = { PATH: process.env.PATH ?? '', ZENDESK_BASE_URL: mock.url, ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
    // The script as a user runs it, through tsx; its reader goes away after the first bytes, as head does.
    const { child, done } = spawnCli([join(ROOT, 'pipelines/ndjson-stdout.ts')], env, { cli: [join(ROOT, 'node_modules/tsx/dist/cli.mjs')], cwd: ROOT });
    child.stdout!.once('data', () => child.stdout!.destroy());
    const run = await done;
    expect(run.stderr).not.toMatch(/\n\s+at |ZendeskEtlError|EPIPE/);
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
  });
});
