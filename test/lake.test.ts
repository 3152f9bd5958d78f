import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportTickets } from '../src/export.js';
import { LATE_CUSTOM_FIELD } from '../src/mock/ticket-generator.js';
import { duck, lakeVersions, listFiles, ndjsonGlob, parquetGlob, startMock, tempDir, tokenCredentials, dataFiles } from './helpers.js';
import { checkExactlyOnce, readLog } from './support/lake-oracle.js';

const FAST = { rateLimit: 0, minRetryDelayMs: 1 } as const;

describe('Parquet lake, read back with DuckDB', () => {
  it('has typed columns: int64 ids, UTC timestamps, booleans, lists, typed custom fields, metadata', async () => {
    const mock = await startMock({ tickets: 1500 });
    const out = await tempDir();
    const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, format: 'parquet', ...FAST });
    expect(result.complete).toBe(true);
    const types = Object.fromEntries((await duck(`DESCRIBE SELECT * FROM ${parquetGlob(out)}`)).map((r) => [r.column_name, r.column_type]));
    expect(types).toMatchObject({
      id: 'BIGINT',
      generated_timestamp: 'BIGINT',
      requester_id: 'BIGINT',
      organization_id: 'BIGINT',
      // The default engine (wasm) writes instants: TIMESTAMP(MILLIS, isAdjustedToUTC=true).
      created_at: 'TIMESTAMP WITH TIME ZONE',
      updated_at: 'TIMESTAMP WITH TIME ZONE',
      due_at: 'TIMESTAMP WITH TIME ZONE',
      has_incidents: 'BOOLEAN',
      is_public: 'BOOLEAN',
      collaborator_ids: 'BIGINT[]',
      tags: 'VARCHAR[]',
      via__channel: 'VARCHAR',
      via__source__from__address: 'VARCHAR',
      satisfaction_rating__score: 'VARCHAR',
      satisfaction_rating__id: 'BIGINT',
      custom_fields__360001: 'VARCHAR', // text
      custom_fields__360003: 'BOOLEAN', // checkbox
      custom_fields__360004: 'DATE', // date
      custom_fields__360005: 'BIGINT', // integer (sent as a string)
      custom_fields__360006: 'DOUBLE', // decimal
      custom_fields__360008: 'VARCHAR', // tagger
      custom_fields__360009: 'VARCHAR[]', // multiselect
      custom_fields__360011: 'VARCHAR', // lookup: unknown type, kept as JSON text
      _extracted_at: 'TIMESTAMP WITH TIME ZONE',
      _rejects: 'VARCHAR',
      _extra: 'VARCHAR',
    });
    expect(types.fields).toBeUndefined(); // the duplicate of custom_fields is dropped
    // Values match the stand-in's JSON, ticket by ticket.
    for (const id of [1, 4, 397, 1234]) {
      const t = mock.ticketJson(id);
      const cf = Object.fromEntries((t.custom_fields as { id: number; value: unknown }[]).map((f) => [f.id, f.value]));
      const [row] = await duck(`SELECT id, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ') AS created, tags, collaborator_ids, via__channel, custom_fields__360003 AS cb, strftime(custom_fields__360004, '%Y-%m-%d') AS d, custom_fields__360005 AS i, custom_fields__360006 AS dec, custom_fields__360009 AS ms, _rejects FROM ${parquetGlob(out)} WHERE id = ${id}`);
      expect(row!.created).toBe(t.created_at);
      expect(row!.tags).toEqual(t.tags);
      expect((row!.collaborator_ids as string[]).map(Number)).toEqual(t.collaborator_ids);
      expect(row!.via__channel).toBe(String((t.via as { channel: unknown }).channel));
      expect(row!.cb).toBe(cf[360003]);
      expect(row!.d).toBe(cf[360004]);
      expect(row!.dec).toBe(cf[360006] === null ? null : Number(cf[360006]));
      expect(row!.ms).toEqual(cf[360009]);
      if (cf[360005] === 'abc') {
        // A value that does not fit its column: null there, kept raw in _rejects, counted.
        expect(row!.i).toBeNull();
        expect(JSON.parse(row!._rejects as string)).toEqual({ custom_fields__360005: 'abc' });
      } else expect(row!.i).toBe(cf[360005] === null ? null : String(Number(cf[360005])));
    }
    expect(result.stats.rejects).toBeGreaterThan(0);
    const [rej] = await duck(`SELECT count(*) AS n FROM ${parquetGlob(out)} WHERE _rejects IS NOT NULL`);
    expect(Number(rej!.n)).toBe(result.stats.rejects);
    // via.channel sent as a number is text.
    const [num] = await duck(`SELECT count(*) AS n FROM ${parquetGlob(out)} WHERE via__channel IN ('4', '0')`);
    expect(Number(num!.n)).toBeGreaterThan(0);
  });

  it('keeps keys the schema does not know in _extra, and a custom field created mid-run gets its own typed column', async () => {
    const mock = await startMock({ tickets: 3000, newKeysFromIndex: 1000, lateFieldAfterRequests: 1 });
    const out = await tempDir();
    const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, format: 'parquet', perPage: 500, ...FAST });
    expect(result.complete).toBe(true);
    const [extra] = await duck(`SELECT _extra FROM ${parquetGlob(out)} WHERE id = 2500`);
    const kept = JSON.parse(extra!._extra as string) as Record<string, unknown>;
    expect(kept.ai_summary__text).toBe((mock.ticketJson(2500).ai_summary as { text: string }).text);
    expect(kept.sentiment_score).toBe(mock.ticketJson(2500).sentiment_score);
    const col = `custom_fields__${LATE_CUSTOM_FIELD.id}`;
    const types = Object.fromEntries((await duck(`DESCRIBE SELECT * FROM ${parquetGlob(out)}`)).map((r) => [r.column_name, r.column_type]));
    expect(types[col]).toBe('BIGINT');
    const [late] = await duck(`SELECT count(${col}) AS n FROM ${parquetGlob(out)}`);
    expect(Number(late!.n)).toBeGreaterThan(1000);
    expect(checkExactlyOnce(await lakeVersions(out, 'parquet'), mock.expectedTickets()).missing).toEqual([]);
  });

  it('--partition-by updated_at:month writes Hive folders that DuckDB reads as a column', async () => {
    const mock = await startMock({ tickets: 1200, spacing: 3000 }); // ~41 days of tickets
    const out = await tempDir();
    await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, format: 'parquet', partitionBy: 'updated_at:month', ...FAST });
    const files = await dataFiles(join(out, 'tickets'));
    expect(files.every((f) => /\/tickets\/updated_at_month=\d{4}-\d{2}\/part-[\w-]+\.parquet$/.test(f))).toBe(true);
    expect(new Set(files.map((f) => f.split('/').at(-2))).size).toBeGreaterThan(1);
    const wrong = await duck(`SELECT count(*) AS n FROM ${parquetGlob(out)} WHERE strftime(updated_at, '%Y-%m') <> updated_at_month`);
    expect(Number(wrong[0]!.n)).toBe(0);
  });

  it('rotates files by rows; the table log holds every file and no credential', async () => {
    const mock = await startMock({ tickets: 2000 });
    const out = await tempDir();
    const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, format: 'parquet', perPage: 250, maxRowsPerFile: 500, ...FAST });
    const files = (await dataFiles(join(out, 'tickets'))).filter((f) => f.endsWith('.parquet'));
    expect(files.length).toBe(4);
    expect(result.committed.files).toBe(4);
    const log = await readLog(out);
    expect(log.files.map((f) => join(out, 'tickets', f)).sort()).toEqual(files);
    expect(log.rows).toBe(2000);
    for (const f of await listFiles(join(out, 'tickets', '_delta_log'))) {
      const text = await readFile(f, 'utf8');
      expect(text).not.toContain(mock.credentials.apiToken);
      expect(text).not.toContain(Buffer.from(`${mock.credentials.email}/token:${mock.credentials.apiToken}`).toString('base64'));
    }
    expect(await listFiles(join(out, '_staging'))).toEqual([]);
  });
});

describe('NDJSON lake', () => {
  it('writes one flattened row per line, readable by DuckDB, and gzip on request', async () => {
    const mock = await startMock({ tickets: 1300 });
    for (const gzip of [false, true]) {
      const out = await tempDir();
      const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, format: 'ndjson', gzip, ...FAST });
      expect(result.complete).toBe(true);
      const files = await dataFiles(join(out, 'tickets'));
      expect(files.every((f) => f.endsWith(gzip ? '.ndjson.gz' : '.ndjson'))).toBe(true);
      const src = ndjsonGlob(out, 'tickets', gzip ? 'ndjson.gz' : 'ndjson');
      const [row] = await duck(`SELECT id, via__channel, custom_fields__360003 AS cb, custom_fields__360005 AS i, tags FROM ${src} WHERE id = 4`);
      const t = mock.ticketJson(4);
      expect(Number(row!.id)).toBe(4);
      expect(row!.via__channel).toBe(String((t.via as { channel: unknown }).channel));
      expect(row!.tags).toEqual(t.tags);
      const cf = Object.fromEntries((t.custom_fields as { id: number; value: unknown }[]).map((f) => [f.id, f.value]));
      expect(row!.cb).toBe(cf[360003]);
      const versions = (await duck(`SELECT id, generated_timestamp AS g FROM ${src}`)).map((r) => `${String(r.id)}:${String(r.g)}`);
      const check = checkExactlyOnce(versions, mock.expectedTickets());
      expect(check.missing).toEqual([]);
      expect(check.duplicates).toEqual([]);
    }
  });
});

describe('the Parquet engines', () => {
  it('wasm (default), parquetjs and duckdb write files that read back in DuckDB identically, types included', async () => {
    const outs: Record<string, string> = {};
    for (const engine of ['wasm', 'parquetjs', 'duckdb'] as const) {
      // The same account, fresh for each engine: drift happens at the same point in every run.
      const mock = await startMock({ tickets: 2500, newKeysFromIndex: 1200, lateFieldAfterRequests: 2 });
      const out = await tempDir();
      const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, ...(engine === 'wasm' ? {} : { parquetEngine: engine }), perPage: 500, maxRowsPerFile: 1000, ...FAST });
      expect(result.complete).toBe(true);
      outs[engine] = out;
    }
    const describeOf = async (out: string): Promise<string[]> => (await duck(`DESCRIBE SELECT * EXCLUDE (_extracted_at) FROM ${parquetGlob(out)}`)).map((r) => `${String(r.column_name)} ${String(r.column_type)}`).sort();
    // wasm and duckdb write instants (TIMESTAMPTZ); parquetjs-lite's TIMESTAMP_MILLIS reads as a naive TIMESTAMP.
    expect(await describeOf(outs.duckdb!)).toEqual(await describeOf(outs.wasm!));
    expect((await describeOf(outs.parquetjs!)).map((t) => t.replace('TIMESTAMP', 'TIMESTAMP WITH TIME ZONE'))).toEqual(await describeOf(outs.wasm!));
    // Every column but the run's own: the time of extraction, and ticket URLs (each stand-in has its own port).
    // Timestamps compare as epoch milliseconds (the instant), whatever their DuckDB type.
    const cols = (await duck(`DESCRIBE SELECT * EXCLUDE (_extracted_at, url) FROM ${parquetGlob(outs.wasm!)}`))
      .map((r) => (String(r.column_type).startsWith('TIMESTAMP') ? `epoch_ms("${String(r.column_name)}") AS "${String(r.column_name)}"` : `"${String(r.column_name)}"`))
      .join(', ');
    for (const [a, b] of [['parquetjs', 'wasm'], ['wasm', 'parquetjs'], ['duckdb', 'wasm'], ['wasm', 'duckdb']] as const) {
      const diff = await duck(`SELECT count(*) AS n FROM (SELECT ${cols} FROM ${parquetGlob(outs[a]!)} EXCEPT ALL SELECT ${cols} FROM ${parquetGlob(outs[b]!)})`);
      expect(Number(diff[0]!.n), `${a} minus ${b}`).toBe(0);
    }
    for (const engine of ['wasm', 'duckdb']) {
      const [n] = await duck(`SELECT count(*) AS n FROM ${parquetGlob(outs[engine]!)}`);
      expect(Number(n!.n)).toBe(2500);
    }
  });
});

describe('partition paths are safe', () => {
  it('values from tickets can never leave the output folder', async () => {
    const { partitionPath, parsePartitionSpec, DEFAULT_PARTITION } = await import('../src/table/partition.js');
    const { LocalStorage } = await import('../src/storage/local-storage.js');
    const spec = parsePartitionSpec('updated_at:day');
    for (const evil of ['../../etc/passwd', '/etc', '2024-05-01T00:00:00Z/../../x', '..', null, 42, '2024-05-01T00:00:00Z']) {
      const p = partitionPath(spec, { updated_at: evil as string });
      expect(p).toMatch(/^updated_at_day=(\d{4}-\d{2}-\d{2}|__HIVE_DEFAULT_PARTITION__)$/);
      if (typeof evil !== 'string' || Number.isNaN(Date.parse(evil))) expect(p).toBe(`updated_at_day=${DEFAULT_PARTITION}`);
    }
    const out = await tempDir();
    const storage = new LocalStorage(out);
    for (const rel of ['../x.parquet', '/etc/x', 'tickets/../../x', '']) expect(() => storage.path(rel)).toThrow(/refusing to write outside the output folder/);
    expect(storage.path('tickets/updated_at_day=2024-05-01/a.parquet')).toBe(join(out, 'tickets/updated_at_day=2024-05-01/a.parquet'));
  });
});

describe('Parquet codec and row groups', () => {
  it('--compression and --row-group-size reach the file, as DuckDB sees it', async () => {
    const mock = await startMock({ tickets: 1200 });
    const out = await tempDir();
    const { runCli, mockEnv } = await import('./helpers.js');
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--compression', 'gzip', '--row-group-size', '500'], mockEnv(mock));
    expect(run.code, run.stderr).toBe(0);
    const meta = await duck(`SELECT DISTINCT compression, row_group_id FROM parquet_metadata('${out}/tickets/*.parquet')`);
    expect(new Set(meta.map((r) => r.compression))).toEqual(new Set(['GZIP']));
    expect(new Set(meta.map((r) => r.row_group_id)).size).toBe(3); // 1200 rows in groups of 500
  });
});

describe('custom field columns named by title', () => {
  it('--custom-field-names title gives stable slugs, typed as by id', async () => {
    const mock = await startMock({ tickets: 400 });
    const out = await tempDir();
    await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, customFieldNames: 'title', ...FAST });
    const types = Object.fromEntries((await duck(`DESCRIBE SELECT * FROM ${parquetGlob(out)}`)).map((r) => [r.column_name, r.column_type]));
    expect(types).toMatchObject({
      custom_fields__order_number: 'VARCHAR',
      custom_fields__vip_customer: 'BOOLEAN',
      custom_fields__renewal_date: 'DATE',
      custom_fields__seats: 'BIGINT',
      custom_fields__refund_amount: 'DOUBLE', // "Refund amount (€)": accents and symbols fold away
      custom_fields__affected_platforms: 'VARCHAR[]',
    });
    expect(types.custom_fields__360001).toBeUndefined();
  });
});
