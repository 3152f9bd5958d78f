import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { exportTickets } from '../src/export.js';
import { startMock, tempDir, tokenCredentials, dataFiles } from './helpers.js';

// A second independent reader: the Rust parquet crate behind Arrow (arrow-rs), compiled to WASM.
const require = createRequire(import.meta.url);
const { readParquet } = require('parquet-wasm') as { readParquet(bytes: Uint8Array): { intoIPCStream(): Uint8Array } };

describe('Arrow reads the lake as it is', () => {
  for (const engine of ['wasm', 'parquetjs', 'duckdb'] as const) {
    it(`${engine} engine: arrow-rs sees int64 ids, UTC timestamps, lists, dates and booleans, with the right values`, async () => {
      const mock = await startMock({ tickets: 600 });
      const out = await tempDir();
      // wasm is the default engine.
      await exportTickets({ origin: mock.url, credentials: tokenCredentials(mock), out, rateLimit: 0, ...(engine === 'wasm' ? {} : { parquetEngine: engine }) });
      const [file] = await dataFiles(join(out, 'tickets'));
      const table = tableFromIPC(readParquet(new Uint8Array(readFileSync(file!))).intoIPCStream());
      expect(table.numRows).toBe(600);
      const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
      expect(types.id).toBe('Int64');
      expect(types.created_at).toMatch(/^Timestamp<(MILLISECOND|MICROSECOND)/);
      // wasm and duckdb store instants (isAdjustedToUTC): arrow-rs gives them the UTC zone.
      if (engine !== 'parquetjs') expect(types.created_at).toMatch(/, UTC>$/);
      expect(types.tags).toBe('List<Utf8>');
      expect(types.collaborator_ids).toBe('List<Int64>');
      expect(types.custom_fields__360003).toBe('Bool');
      expect(types.custom_fields__360004).toBe('Date32<DAY>');
      const ids = table.getChild('id')!.toArray() as BigInt64Array;
      const row = ids.findIndex((v) => v === 4n);
      const t = mock.ticketJson(4);
      // apache-arrow hands timestamps back in milliseconds, whatever the stored unit.
      const created = Number(table.getChild('created_at')!.get(row) as number | bigint);
      expect(new Date(created).toISOString().replace('.000Z', 'Z')).toBe(t.created_at);
      expect([...(table.getChild('tags')!.get(row) as Iterable<string>)]).toEqual(t.tags);
    });
  }
});
