import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve as resolvePath } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { tableFromIPC, type Table } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, ZendeskEtlError } from '../../src/core/errors.js';
import { exportTickets } from '../../src/export.js';
import type { TicketRow } from '../../src/flatten/flatten.js';
import { LATE_CUSTOM_FIELD } from '../../src/mock/ticket-generator.js';
import type { Column } from '../../src/schema/ticket-schema.js';
import { ColumnBatchBuilder } from '../../src/format/parquet-wasm/columnar/batch.js';
import { DuckDbParquetFormat } from '../../src/format/duckdb-parquet.js';
import { EncoderPool } from '../../src/format/parquet-wasm/encoder-pool.js';
import type { EncoderFault } from '../../src/format/parquet-wasm/encoder-protocol.js';
import { ParquetFormat, type RowFormat } from '../../src/format/file-writers.js';
import { readFooter } from '../../src/format/parquet-wasm/parquet-footer.js';
import { WasmParquetFormat } from '../../src/format/parquet-wasm/wasm-parquet.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import { LakeTable } from '../../src/table/lake-table.js';
import { ROOT, dataFiles, deltaVersions, lakeVersions, spawnCli, startMock, tempDir, tokenCredentials } from '../helpers.js';
import { chdbQuery, deltaLocal } from '../support/chdb.js';
import { checkExactlyOnce } from '../support/lake-oracle.js';

// arrow-rs (parquet-wasm's reader) as the third reader, beside DuckDB and chDB (delta-kernel).
const { readParquet } = createRequire(import.meta.url)('parquet-wasm') as { readParquet(bytes: Uint8Array): { intoIPCStream(): Uint8Array } };

const FAST = { rateLimit: 0, minRetryDelayMs: 1 } as const;
const ENGINES = ['wasm', 'parquetjs', 'duckdb'] as const;
type Engine = (typeof ENGINES)[number];

/** The engine as exportTickets takes it: wasm is the default. */
function engineOption(engine: Engine): { parquetEngine?: 'parquetjs' | 'duckdb' } {
  return engine === 'wasm' ? {} : { parquetEngine: engine };
}

function formatOf(engine: Engine): RowFormat {
  if (engine === 'wasm') return new WasmParquetFormat();
  if (engine === 'duckdb') return new DuckDbParquetFormat();
  return new ParquetFormat();
}

/** DuckDB in a zone far from UTC: a timestamp read as local time shows up as a wrong instant. */
let duckInstance: Promise<DuckDBConnection> | undefined;
async function duckSaoPaulo(sql: string): Promise<Record<string, unknown>[]> {
  duckInstance ??= (async () => {
    const c = await (await DuckDBInstance.create(':memory:')).connect();
    await c.run(`SET TimeZone = 'America/Sao_Paulo'`);
    return c;
  })();
  return (await (await duckInstance).runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

const glob = (out: string, table = 'tickets'): string => `read_parquet('${out}/${table}/**/part-*.parquet', hive_partitioning=true, union_by_name=true)`;

/** Every row of a lake as arrow-rs reads it, as canonical JSON (bigint as text), minus the given columns. */
async function arrowRows(out: string, skip: readonly string[]): Promise<string[]> {
  const rows: string[] = [];
  for (const f of await dataFiles(join(out, 'tickets'))) {
    const table: Table = tableFromIPC(readParquet(new Uint8Array(readFileSync(f))).intoIPCStream());
    const names = table.schema.fields.map((x) => x.name).filter((n) => !skip.includes(n)).sort();
    for (let i = 0; i < table.numRows; i++) {
      const o: Record<string, unknown> = {};
      for (const n of names) {
        const v = table.getChild(n)!.get(i) as unknown;
        o[n] = canonical(v);
      }
      rows.push(JSON.stringify(o));
    }
  }
  return rows.sort();
}

/** A value as arrow-js hands it back, made comparable: bigints as text, vectors as arrays; nulls and absent columns alike. */
function canonical(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'object' && Symbol.iterator in (v as object) && typeof v !== 'string') return [...(v as Iterable<unknown>)].map(canonical);
  return v;
}

/** Rows without the columns that are null everywhere in them (a late column is absent from early files). */
function dropNulls(rows: string[]): string[] {
  return rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(r) as Record<string, unknown>).filter(([, v]) => v !== null)))).sort();
}

describe('Parquet engines read back identically (DuckDB, arrow-rs, chDB as Delta)', () => {
  it('an export with drift and a custom field appearing mid-run: wasm (default), parquetjs and duckdb write the same values', async () => {
    const outs = {} as Record<Engine, string>;
    let expected: { id: number; generated_timestamp: number }[] = [];
    let big: { id: string; v: string }[] = [];
    for (const engine of ENGINES) {
      // The same account, fresh for each engine: drift and the late field happen at the same point.
      const mock = await startMock({ tickets: 2500, newKeysFromIndex: 1200, lateFieldAfterRequests: 2 });
      const out = await tempDir();
      const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, ...engineOption(engine), perPage: 500, maxRowsPerFile: 1000, ...FAST });
      expect(result.complete).toBe(true);
      outs[engine] = out;
      expected = mock.expectedTickets();
      big = mock
        .expectedTickets()
        .map((t) => ({ id: String(t.id), v: (mock.ticketJson(t.id).custom_fields as { id: number; value: unknown }[]).find((f) => f.id === 360005)?.value }))
        .filter((x): x is { id: string; v: string } => typeof x.v === 'string' && x.v.length > 15);
    }
    expect(big.length).toBeGreaterThan(0);

    // DuckDB: timestamps are instants (TIMESTAMPTZ) with wasm and duckdb; parquetjs-lite's TIMESTAMP_MILLIS reads as naive.
    const types = async (out: string): Promise<Record<string, string>> => Object.fromEntries((await duckSaoPaulo(`DESCRIBE SELECT * FROM ${glob(out)}`)).map((r) => [String(r.column_name), String(r.column_type)]));
    const t = { wasm: await types(outs.wasm), parquetjs: await types(outs.parquetjs), duckdb: await types(outs.duckdb) };
    expect(t.wasm).toEqual(t.duckdb);
    expect(t.wasm).toMatchObject({ id: 'BIGINT', created_at: 'TIMESTAMP WITH TIME ZONE', _extracted_at: 'TIMESTAMP WITH TIME ZONE', tags: 'VARCHAR[]', collaborator_ids: 'BIGINT[]', custom_fields__360004: 'DATE', custom_fields__360005: 'BIGINT', [`custom_fields__${LATE_CUSTOM_FIELD.id}`]: 'BIGINT', _extra: 'VARCHAR' });
    const naive = Object.fromEntries(Object.entries(t.wasm).map(([k, v]) => [k, v === 'TIMESTAMP WITH TIME ZONE' ? 'TIMESTAMP' : v]));
    expect(t.parquetjs).toEqual(naive);

    // Every value, every row: the same in all three lakes (timestamps compared as epoch milliseconds).
    const cols = Object.entries(t.wasm)
      .filter(([k]) => k !== '_extracted_at' && k !== 'url')
      .map(([k, v]) => (v.startsWith('TIMESTAMP') ? `epoch_ms("${k}") AS "${k}"` : `"${k}"`))
      .join(', ');
    for (const [a, b] of [['wasm', 'parquetjs'], ['parquetjs', 'wasm'], ['wasm', 'duckdb'], ['duckdb', 'wasm']] as const) {
      const diff = await duckSaoPaulo(`SELECT count(*) AS n FROM (SELECT ${cols} FROM ${glob(outs[a])} EXCEPT ALL SELECT ${cols} FROM ${glob(outs[b])})`);
      expect(Number(diff[0]!.n), `${a} minus ${b}`).toBe(0);
    }
    const [{ n } = {}] = await duckSaoPaulo(`SELECT count(*) AS n FROM ${glob(outs.wasm)}`);
    expect(Number(n)).toBe(2500);
    // int64 beyond 2^53, exact.
    const exact = await duckSaoPaulo(`SELECT id::VARCHAR AS id, custom_fields__360005::VARCHAR AS v FROM ${glob(outs.wasm)} WHERE custom_fields__360005 > 9007199254740992 ORDER BY id`);
    expect(exact).toEqual([...big].sort((x, y) => (x.id < y.id ? -1 : 1)));

    // arrow-rs: the same rows in the three lakes.
    const skip = ['_extracted_at', 'url'];
    const arrow = { wasm: dropNulls(await arrowRows(outs.wasm, skip)), parquetjs: dropNulls(await arrowRows(outs.parquetjs, skip)), duckdb: dropNulls(await arrowRows(outs.duckdb, skip)) };
    expect(arrow.wasm.length).toBe(2500);
    expect(arrow.parquetjs).toEqual(arrow.wasm);
    expect(arrow.duckdb).toEqual(arrow.wasm);

    // chDB reads each lake as a Delta table: every version exactly once, the widened schema, the same values.
    const late = `custom_fields__${LATE_CUSTOM_FIELD.id}`;
    const chdb = async (out: string): Promise<Record<string, unknown>[]> =>
      chdbQuery(
        `SELECT toString(id) AS id, toString(generated_timestamp) AS g, toUnixTimestamp64Milli(created_at) AS created, toUnixTimestamp64Milli(updated_at) AS updated, tags, arrayMap(x -> toString(x), collaborator_ids) AS collab, toString(custom_fields__360005) AS i, toString(custom_fields__360004) AS d, toString(${late}) AS late, _extra FROM ${deltaLocal(resolvePath(join(out, 'tickets')))} ORDER BY toInt64(id), toInt64(generated_timestamp)`,
        { settings: { session_timezone: 'America/Sao_Paulo' } },
      );
    const c = { wasm: await chdb(outs.wasm), parquetjs: await chdb(outs.parquetjs), duckdb: await chdb(outs.duckdb) };
    expect(c.wasm.length).toBe(2500);
    expect(c.parquetjs).toEqual(c.wasm);
    expect(c.duckdb).toEqual(c.wasm);
    expect(c.wasm.some((r) => r.late !== null)).toBe(true); // the late field reached the table
    for (const engine of ENGINES) {
      const check = checkExactlyOnce(await deltaVersions(outs[engine]), expected);
      expect(check.missing, engine).toEqual([]);
      expect(check.duplicates, engine).toEqual([]);
    }
  });

  const EDGE_COLUMNS: Column[] = [
    { name: 'id', type: 'int64', required: true },
    { name: 'n', type: 'int64' },
    { name: 'd', type: 'double' },
    { name: 'b', type: 'boolean' },
    { name: 's', type: 'text' },
    { name: 'ts', type: 'timestamp' },
    { name: 'day', type: 'date' },
    { name: 'ids', type: 'list<int64>' },
    { name: 'tags', type: 'list<text>' },
    { name: 'j', type: 'json' },
  ];
  const BIG = 9007199254740993n; // 2^53 + 1
  const EDGE_ROWS: TicketRow[] = [
    { id: 1, n: BIG, d: 1.5, b: true, s: 'plain', ts: '2024-05-06T07:08:09.123Z', day: '2024-02-29', ids: [1, BIG], tags: ['a', 'ü', '😀'], j: '{"x":1}', unknown_key: 'kept' },
    { id: 2, n: -BIG, d: -0.25, b: false, s: 'nul\u0000 tab\t newline\n end', ts: '1969-12-31T23:59:59.999Z', day: '1969-12-31', ids: [], tags: [], j: null },
    { id: 3, n: null, d: null, b: null, s: null, ts: '1950-01-01T00:00:00.001Z', day: '2199-12-31', ids: null, tags: null, j: null },
    { id: BIG + 1n, n: 42, s: '', ts: null, day: null, ids: [-1, 0], tags: [''] },
  ];
  const WANT = [
    { id: '1', n: String(BIG), d: 1.5, b: true, s: 'plain', ts: Date.parse('2024-05-06T07:08:09.123Z'), day: '2024-02-29', ids: ['1', String(BIG)], tags: ['a', 'ü', '😀'], j: '{"x":1}', _extra: '{"unknown_key":"kept"}' },
    { id: '2', n: String(-BIG), d: -0.25, b: false, s: 'nul\u0000 tab\t newline\n end', ts: -1, day: '1969-12-31', ids: [], tags: [], j: null, _extra: null },
    { id: '3', n: null, d: null, b: null, s: null, ts: Date.parse('1950-01-01T00:00:00.001Z'), day: '2199-12-31', ids: [], tags: [], j: null, _extra: null },
    { id: String(BIG + 1n), n: '42', d: null, b: null, s: '', ts: null, day: null, ids: ['-1', '0'], tags: [''], j: null, _extra: null },
  ];

  /** The edge rows as one committed file of a Delta table, written by `format`. */
  async function edgeTable(format: RowFormat): Promise<string> {
    const out = await tempDir();
    const table = await LakeTable.open({ storage: new LocalStorage(out), name: 'tickets', stream: 'tickets', writer: { rowFormat: format } });
    await table.begin('export', { start: 0 });
    const file = await table.newFile(undefined, table.schemaFor(EDGE_COLUMNS));
    for (const r of EDGE_ROWS) await file.write(r);
    await file.finish();
    await table.commit({ operation: 'WRITE', adds: [file] });
    await table.close();
    return out;
  }

  for (const engine of ENGINES) {
    it(`${engine}: int64 beyond 2^53, UTC instants to the millisecond, dates, empty and null lists, control characters, _extra: the same in all three readers`, async () => {
      const out = await edgeTable(formatOf(engine));
      const duck = await duckSaoPaulo(
        `SELECT id::VARCHAR AS id, n::VARCHAR AS n, d, b, s, epoch_ms(ts) AS ts, strftime(day, '%Y-%m-%d') AS day, ids::VARCHAR[] AS ids, tags, j, _extra FROM ${glob(out)} ORDER BY id::HUGEINT`,
      );
      expect(duck.map((r) => ({ ...r, ts: r.ts === null ? null : Number(r.ts) }))).toEqual(WANT);
      const ts = await duckSaoPaulo(`SELECT column_type FROM (DESCRIBE SELECT ts FROM ${glob(out)})`);
      expect(ts[0]!.column_type).toBe(engine === 'parquetjs' ? 'TIMESTAMP' : 'TIMESTAMP WITH TIME ZONE');

      const [file] = await dataFiles(join(out, 'tickets'));
      const t = tableFromIPC(readParquet(new Uint8Array(readFileSync(file!))).intoIPCStream());
      const arrow = Array.from({ length: t.numRows }, (_, i) => {
        const get = (c: string): unknown => canonical(t.getChild(c)!.get(i));
        const day = get('day') as number | null;
        return {
          id: get('id'),
          n: get('n'),
          d: get('d'),
          b: get('b'),
          s: get('s'),
          ts: get('ts') === null ? null : Number(get('ts')),
          day: day === null ? null : new Date(day).toISOString().slice(0, 10),
          ids: get('ids') ?? [],
          tags: get('tags') ?? [],
          j: get('j'),
          _extra: get('_extra'),
        };
      });
      expect(arrow).toEqual(WANT);
      if (engine === 'wasm') {
        expect(String(t.schema.fields.find((f) => f.name === 'ts')!.type)).toBe('Timestamp<MILLISECOND, UTC>');
        expect(t.schema.fields.find((f) => f.name === 'id')!.nullable).toBe(false);
      }

      const ch = await chdbQuery(
        `SELECT toString(id) AS id, toString(n) AS n, d, b, s, toUnixTimestamp64Milli(ts) AS ts, toString(day) AS day, arrayMap(x -> toString(x), ids) AS ids, tags, j, _extra FROM ${deltaLocal(resolvePath(join(out, 'tickets')))} ORDER BY toInt128(id)`,
        { settings: { session_timezone: 'America/Sao_Paulo' } },
      );
      expect(ch.map((r) => ({ ...r, ts: r.ts === null ? null : Number(r.ts) }))).toEqual(WANT);
    });
  }
});

describe('the wasm engine', () => {
  it('writes the same bytes on the encoding thread and on the main thread; a row group per 16 MB or per rowGroupSize rows', async () => {
    const dir = await tempDir();
    const storage = new LocalStorage(dir);
    const columns: Column[] = [
      { name: 'id', type: 'int64', required: true },
      { name: 'description', type: 'text' },
      { name: 'tags', type: 'list<text>' },
      { name: 'updated_at', type: 'timestamp' },
    ];
    const rows = (n: number): TicketRow[] => Array.from({ length: n }, (_, i) => ({ id: i + 1, description: `ticket ${i} `.repeat(1 + (i % 50)), tags: i % 3 === 0 ? [] : ['x', `t${i % 7}`], updated_at: new Date(1_700_000_000_000 + i * 1000).toISOString() }));
    const write = async (name: string, format: RowFormat, n: number): Promise<Buffer> => {
      const file = await storage.create(name, `_staging/${name}`);
      const w = await format.open(file, columns);
      for (const r of rows(n)) await w.write(r);
      await w.close();
      await file.finish();
      await file.promote();
      return readFileSync(join(dir, name));
    };
    const onThread = await write('a.parquet', new WasmParquetFormat({ threads: 'worker', batchBytes: 64 * 1024 }), 20_000);
    expect(EncoderPool.shared().status().threads).toBe(true);
    const inline = await write('b.parquet', new WasmParquetFormat({ threads: 'inline', batchBytes: 64 * 1024 }), 20_000);
    expect(inline.equals(onThread)).toBe(true);
    expect(readFooter(new Uint8Array(onThread))).toEqual({ rows: 20_000, rowGroups: 1 });
    const small = await write('c.parquet', new WasmParquetFormat({ rowGroupSize: 500 }), 1200);
    expect(readFooter(new Uint8Array(small))).toEqual({ rows: 1200, rowGroups: 3 });
    const bounded = await write('d.parquet', new WasmParquetFormat({ rowGroupBytes: 256 * 1024, batchBytes: 64 * 1024 }), 20_000);
    expect(readFooter(new Uint8Array(bounded)).rowGroups).toBeGreaterThan(3);
    // The footer reader agrees with another writer's footers, and refuses what is not one.
    expect(readFooter(new Uint8Array(await write('e.parquet', new ParquetFormat({ rowGroupSize: 500 }), 1200)))).toEqual({ rows: 1200, rowGroups: 3 });
    expect(() => readFooter(new Uint8Array(onThread.subarray(0, onThread.length - 1)))).toThrow(/PAR1/);
    expect(() => readFooter(new Uint8Array(onThread.subarray(onThread.length - 100)))).toThrow(/longer than the bytes kept/);
  });

  it('cuts batches by bytes: 1.5 MB descriptions close a 4 MB batch after 3 rows', () => {
    const b = new ColumnBatchBuilder([{ name: 'id', type: 'int64', required: true }, { name: 'description', type: 'text' }, { name: '_extra', type: 'json' }], { maxRows: 100_000, maxBytes: 4 * 1024 * 1024 });
    const huge = 'x'.repeat(1.5 * 1024 * 1024);
    expect(b.add({ id: 1, description: huge })).toBe(false);
    expect(b.add({ id: 2, description: huge })).toBe(false);
    expect(b.add({ id: 3, description: huge, other: 1 })).toBe(true);
    const batch = b.finish();
    expect(batch.rows).toBe(3);
    const extra = batch.columns[2]!;
    expect(new TextDecoder().decode(extra.values)).toBe('{"other":1}');
    expect(extra.nullCount).toBe(2);
    expect(b.rows).toBe(0);
  });

  it('a value that does not fit its column fails the file with a coded error naming the file and the column', async () => {
    const dir = await tempDir();
    const file = await new LocalStorage(dir).create('x.parquet', '_staging/x.parquet');
    const w = await new WasmParquetFormat().open(file, [{ name: 'id', type: 'int64', required: true }, { name: 'n', type: 'int64' }]);
    await w.write({ id: 1, n: 2 });
    const err = await w.write({ id: 2, n: 'three' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZendeskEtlError);
    expect((err as ZendeskEtlError).code).toBe(ErrorCodes.SINK_WRITE);
    expect((err as ZendeskEtlError).message).toContain(file.where);
    expect((err as ZendeskEtlError).message).toContain('column n (int64)');
    expect(await w.write({ id: 3 }).catch((e: unknown) => e)).toBe(err); // the file stays failed
    const missing = await (await new WasmParquetFormat().open(await new LocalStorage(dir).create('y.parquet', '_staging/y.parquet'), [{ name: 'id', type: 'int64', required: true }])).write({}).catch((e: unknown) => e);
    expect((missing as ZendeskEtlError).message).toContain('column id is required');
  });

  const faults: [string, EncoderFault, RegExp][] = [
    ['the encoding thread dies', { kind: 'exit', afterBatches: 2 }, /encoding thread stopped/],
    ['a WebAssembly trap', { kind: 'trap', afterBatches: 2 }, /WebAssembly trap/],
    ['the encoder hangs', { kind: 'hang', afterBatches: 2 }, /gave no answer/],
    ['the encoder loses a batch silently', { kind: 'drop', afterBatches: 2 }, /footer holds \d+ rows, but \d+ were written/],
    ['the encoder throws', { kind: 'throw', afterBatches: 2 }, /the Parquet encoder failed/],
  ];
  for (const [what, fault, message] of faults) {
    it(`${what}: that file fails with a coded error naming it, nothing is committed, and the next run completes`, async () => {
      const mock = await startMock({ tickets: 900 });
      const out = await tempDir();
      const failing = new WasmParquetFormat({ fault, batchBytes: 32 * 1024, stallTimeoutMs: 1_000, threads: 'worker' });
      const err = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rowFormat: failing, perPage: 300, ...FAST }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ZendeskEtlError);
      expect((err as ZendeskEtlError).code).toBe(ErrorCodes.SINK_WRITE);
      expect((err as ZendeskEtlError).message).toMatch(message);
      expect((err as ZendeskEtlError).message).toMatch(/_staging\/tickets\/.*\.parquet\.inprogress/);
      expect(await lakeVersions(out, 'parquet')).toEqual([]);
      // The next run (a new encoding thread where the old one died) exports everything, once.
      const result = await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, perPage: 300, ...FAST });
      expect(result.complete).toBe(true);
      expect(EncoderPool.shared().status().threads).toBe(true);
      const check = checkExactlyOnce(await deltaVersions(out), mock.expectedTickets());
      expect(check.missing).toEqual([]);
      expect(check.duplicates).toEqual([]);
    });
  }
});

describe('a table written by several engines', () => {
  it('parquetjs-lite files (naive timestamps) and wasm files (instants) compacted on a host far from UTC keep every instant', async () => {
    const mock = await startMock({ tickets: 1200 });
    const out = await tempDir();
    const common = { origin: mock.url, credentials: tokenCredentials(mock), out, perPage: 200, maxRowsPerFile: 300, ...FAST } as const;
    await exportTickets({ ...common, parquetEngine: 'parquetjs' });
    mock.updateTickets(100);
    await exportTickets(common); // wasm, the default
    const instants = async (): Promise<string[]> =>
      (await chdbQuery(`SELECT toString(id) AS id, toString(generated_timestamp) AS g, toUnixTimestamp64Milli(updated_at) AS u FROM ${deltaLocal(resolvePath(join(out, 'tickets')))}`)).map((r) => `${String(r.id)}:${String(r.g)}:${String(r.u)}`).sort();
    const before = await instants();
    expect(before.length).toBeGreaterThan(1200);
    // Each row's instant is the stand-in's updated_at, whichever engine wrote it.
    for (const t of mock.expectedTickets().slice(0, 50)) expect(before).toContain(`${t.id}:${t.generated_timestamp}:${Date.parse(String(mock.ticketJson(t.id).updated_at))}`);
    const run = await spawnCli(['compact', out, '--min-files', '2'], { PATH: process.env.PATH ?? '', TZ: 'America/Sao_Paulo' }).done;
    expect(run.code, run.stderr).toBe(0);
    expect((await dataFiles(join(out, 'tickets'))).length).toBe(1);
    expect(await instants()).toEqual(before);
  });
});

/** Run an export of the built package in a process of its own; its peak RSS, and whether it exits by itself. */
function exportInChild(args: { url: string; email: string; token: string; out: string; format: 'parquet' | 'ndjson'; perPage: number }): Promise<{ complete: boolean; maxRssMb: number; rows: number }> {
  const dist = (p: string): string => JSON.stringify(new URL(p, `file://${ROOT}`).href);
  const code = `
    import { exportTickets } from ${dist('dist/src/export.js')};
    import { Credentials } from ${dist('dist/src/auth.js')};
    const a = ${JSON.stringify(args)};
    const r = await exportTickets({ origin: a.url, credentials: Credentials.apiToken(a.email, a.token), out: a.out, format: a.format, perPage: a.perPage, rateLimit: 0 });
    process.stdout.write(JSON.stringify({ complete: r.complete, rows: r.stats.rowsWritten, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // No process.exit() in the child: it must end by itself (an idle encoding thread keeps no process alive).
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      if (status !== 0) reject(new Error(`the export exited with ${status}: ${stderr}`));
      else resolve(JSON.parse(stdout) as { complete: boolean; maxRssMb: number; rows: number });
    });
  });
}

describe('memory with 1.5 MB tickets', () => {
  it('a Parquet export of pages of ~110 MB made of 1.5 MB descriptions stays within a flat bound (peak RSS < 700 MB), and the process exits by itself', async () => {
    const mock = await startMock({ tickets: 160, hugeEvery: 1, hugeDescriptionBytes: 1.5 * 1024 * 1024 });
    const out = await tempDir();
    const r = await exportInChild({ url: mock.url, email: mock.credentials.email, token: mock.credentials.apiToken, out, format: 'parquet', perPage: 75 });
    expect(r.complete).toBe(true);
    expect(r.rows).toBe(160);
    expect(r.maxRssMb).toBeLessThan(700);
    const [row] = await duckSaoPaulo(`SELECT count(*) AS n, min(strlen(description)) AS len FROM ${glob(out)}`);
    expect(Number(row!.n)).toBe(160);
    expect(Number(row!.len)).toBeGreaterThanOrEqual(1.5 * 1024 * 1024 * 0.9);
    console.log(`peak RSS, Parquet (wasm), 160 tickets of 1.5 MB in pages of 75: ${r.maxRssMb.toFixed(0)} MB`);
  });
});
