/**
 * `toJsonLine`: rows as NDJSON lines, exact for int64 values beyond 2^53 (bigints), and byte-identical
 * to `JSON.stringify` for every row without one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flattenTicket, type TicketRow } from '../../src/flatten/flatten.js';
import { toJsonLine, toJsonText } from '../../src/flatten/json-line.js';
import { FieldCatalog } from '../../src/schema/custom-fields.js';

describe('toJsonLine', () => {
  it('writes a bigint as the exact digits of a JSON number', () => {
    const row: TicketRow = { id: 1, big: 9007199254740993n, min: -9223372036854775808n, ids: [9223372036854775807n, 2, null], s: '9007199254740993n', _rejects: null };
    expect(toJsonLine(row)).toBe('{"id":1,"big":9007199254740993,"min":-9223372036854775808,"ids":[9223372036854775807,2,null],"s":"9007199254740993n","_rejects":null}\n');
    expect(toJsonText(row)).toBe(toJsonLine(row).slice(0, -1));
  });

  it('is JSON.stringify for rows without a bigint (keys, escapes, undefined members and holes alike)', () => {
    const scalar = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string(), fc.constant(undefined));
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), value), (row) => {
        expect(toJsonLine(row as TicketRow)).toBe(`${JSON.stringify(row)}\n`);
      }),
      { numRuns: 500 },
    );
  });

  it('writes rows with bigints as JSON.stringify would, but for the bigint digits', () => {
    const scalar = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.string(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), value), (row) => {
        const line = toJsonLine(row as TicketRow);
        // Same text as a replacer writing each bigint as a string, once the quotes around digits go.
        const expected = JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000${v}\u0000` : v)).replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
        expect(line).toBe(`${expected}\n`);
        expect(() => JSON.parse(line) as unknown).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('a flattened row with an int64 beyond 2^53 serialises exactly', () => {
    const catalog = new FieldCatalog([{ id: 5, type: 'integer', title: 'Account number' }]);
    const { row } = flattenTicket({ id: 1, custom_fields: [{ id: 5, value: '9007199254740993' }] }, { catalog, extractedAt: '2026-01-01T00:00:00.000Z' });
    expect(() => JSON.stringify(row)).toThrow(TypeError); // why the sinks must not use it for rows
    expect(toJsonLine(row)).toContain('"custom_fields__5":9007199254740993,');
  });

  it('DuckDB read_json reads the bare digits back exactly as BIGINT (the NDJSON sink and the duckdb engine)', async () => {
    let duckdb: typeof import('@duckdb/node-api');
    try {
      duckdb = await import('@duckdb/node-api');
    } catch {
      return; // the optional engine is not installed: nothing to check
    }
    const dir = await mkdtemp(join(tmpdir(), 'zde-jsonline-'));
    try {
      const file = join(dir, 'rows.ndjson');
      await writeFile(file, [toJsonLine({ id: 1, n: 9007199254740993n, l: [9223372036854775807n, -1] }), toJsonLine({ id: 2, n: 5, l: [] })].join(''));
      const conn = await (await duckdb.DuckDBInstance.create(':memory:')).connect();
      const typed = await conn.runAndReadAll(`SELECT n::VARCHAR AS n, l::VARCHAR AS l FROM read_json('${file}', format='newline_delimited', columns={'id': 'BIGINT', 'n': 'BIGINT', 'l': 'BIGINT[]'}) ORDER BY id`);
      expect(typed.getRows()).toEqual([
        ['9007199254740993', '[9223372036854775807, -1]'],
        ['5', '[]'],
      ]);
      const detected = await conn.runAndReadAll(`SELECT typeof(n), n::VARCHAR FROM read_json('${file}', format='newline_delimited') ORDER BY id LIMIT 1`);
      expect(detected.getRows()).toEqual([['BIGINT', '9007199254740993']]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
