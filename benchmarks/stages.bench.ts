/**
 * The stages after parsing, each alone on tickets already in memory: flatten, the NDJSON sink, the
 * Parquet sinks (parquet-wasm on its encoding thread, parquetjs-lite and the DuckDB engine), and the
 * baseline "NDJSON, then DuckDB COPY".
 * Usage: tsx benchmarks/stages.bench.ts --variant flatten|ndjson|wasm|parquetjs|duckdb-engine|ndjson-then-duckdb --tickets N
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { flattenTicket, type TicketRow } from '../src/flatten/flatten.js';
import { MockZendesk } from '../src/mock/server.js';
import { BASE_CUSTOM_FIELDS } from '../src/mock/ticket-generator.js';
import { FieldCatalog } from '../src/schema/custom-fields.js';
import { METADATA_COLUMNS, TICKET_COLUMNS } from '../src/schema/ticket-schema.js';
import { DuckDbParquetFormat } from '../src/format/duckdb-parquet.js';
import { NdjsonFormat, ParquetFormat, type RowFormat } from '../src/format/file-writers.js';
import { EncoderPool } from '../src/format/parquet-wasm/encoder-pool.js';
import { WasmParquetFormat } from '../src/format/parquet-wasm/wasm-parquet.js';
import { LocalStorage } from '../src/storage/local-storage.js';
import { arg, measure } from './harness.js';

const variant = arg('variant') ?? 'flatten';
const n = Number(arg('tickets') ?? '10000');
const mock = new MockZendesk({ tickets: n });
const tickets = Array.from({ length: n }, (_, i) => mock.ticketJson(i + 1));
const catalog = new FieldCatalog(BASE_CUSTOM_FIELDS.map((f) => ({ id: f.id, type: f.type, title: f.title })));
const ctx = { catalog, extractedAt: new Date().toISOString() };
const bytes = tickets.reduce((s, t) => s + Buffer.byteLength(JSON.stringify(t)), 0);
const columns = [...TICKET_COLUMNS, ...catalog.columns(), ...METADATA_COLUMNS];
const dir = mkdtempSync(join(tmpdir(), 'zde-bench-'));

const storage = new LocalStorage(dir);

/** CPU time of the main thread alone, in ns (Linux: /proc schedstat; 0 elsewhere). */
function mainThreadCpuNs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}

async function writeAll(format: RowFormat, rows: TicketRow[], path: string): Promise<void> {
  const name = basename(path);
  const file = await storage.create(name, `_staging/${name}`);
  const w = await format.open(file, columns);
  for (const r of rows) await w.write(r);
  await w.close();
  await file.finish();
  await file.promote();
}

try {
  if (variant === 'flatten') {
    await measure('stage', 'flatten', `${n}`, async () => {
      for (let r = 0; r < 3; r++) for (const t of tickets) flattenTicket(t, ctx);
      return { tickets: n * 3, bytes: bytes * 3 };
    });
  } else {
    const rows = tickets.map((t) => flattenTicket(t, ctx).row);
    if (variant === 'ndjson') {
      await measure('stage', 'ndjson sink', `${n}`, async () => {
        await writeAll(new NdjsonFormat(), rows, join(dir, 'a.ndjson'));
        return { tickets: n, bytes };
      });
    } else if (variant === 'parquetjs') {
      await measure('stage', 'parquet sink (parquetjs-lite)', `${n}`, async () => {
        await writeAll(new ParquetFormat(), rows, join(dir, 'a.parquet'));
        return { tickets: n, bytes, note: `file ${(statSync(join(dir, 'a.parquet')).size / 1e6).toFixed(1)} MB` };
      });
    } else if (variant === 'wasm') {
      // The encoding thread starts once per process (thread start + compiling parquet-wasm): started
      // here before the clock, and reported in the note. CPU counts every thread; "main" is the main
      // thread alone (/proc schedstat).
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await writeAll(new WasmParquetFormat(), rows.slice(0, 1), join(dir, 'warm.parquet'));
      const startCpu = process.cpuUsage(c0);
      const startMs = performance.now() - t0;
      const main0 = mainThreadCpuNs();
      await measure('stage', 'parquet sink (wasm, encoding thread)', `${n}`, async () => {
        await writeAll(new WasmParquetFormat(), rows, join(dir, 'a.parquet'));
        const mainUs = (mainThreadCpuNs() - main0) / 1000 / n;
        const threads = EncoderPool.shared().status().threads ? 'on a thread' : 'in-thread';
        return { tickets: n, bytes, note: `file ${(statSync(join(dir, 'a.parquet')).size / 1e6).toFixed(1)} MB; main thread ${mainUs.toFixed(1)} µs/row; encoder ${threads}, started in ${startMs.toFixed(0)} ms (${((startCpu.user + startCpu.system) / 1000).toFixed(0)} ms CPU)` };
      });
    } else if (variant === 'duckdb-engine') {
      await measure('stage', 'parquet sink (duckdb engine)', `${n}`, async () => {
        await writeAll(new DuckDbParquetFormat(), rows, join(dir, 'a.parquet'));
        return { tickets: n, bytes, note: `file ${(statSync(join(dir, 'a.parquet')).size / 1e6).toFixed(1)} MB` };
      });
    } else if (variant === 'ndjson-then-duckdb') {
      await measure('stage', 'baseline: NDJSON, then DuckDB COPY', `${n}`, async () => {
        await writeAll(new NdjsonFormat(), rows, join(dir, 'a.ndjson'));
        const c = await (await DuckDBInstance.create(':memory:')).connect();
        await c.run(`COPY (SELECT * FROM read_json('${join(dir, 'a.ndjson')}', format='newline_delimited', maximum_object_size=67108864, sample_size=-1)) TO '${join(dir, 'b.parquet')}' (FORMAT PARQUET, COMPRESSION SNAPPY)`);
        return { tickets: n, bytes };
      });
    } else throw new Error(`unknown variant ${variant}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
