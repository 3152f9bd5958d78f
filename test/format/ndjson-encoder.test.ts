/**
 * `NdjsonEncoder`: the bytes of rows are exactly `toJsonLine`'s in UTF-8, whatever the buffer size, and
 * whatever big strings (escapes, control characters, surrogate pairs and lone halves) a row holds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TicketRow } from '../../src/flatten/flatten.js';
import { toJsonLine } from '../../src/flatten/json-line.js';
import { NdjsonEncoder } from '../../src/format/ndjson-encoder.js';

function encode(rows: readonly TicketRow[], size: number): Buffer {
  const enc = new NdjsonEncoder(size);
  const out: Buffer[] = [];
  for (const row of rows) {
    enc.row(row);
    for (let b = enc.take(); b !== undefined; b = enc.take()) out.push(b);
  }
  for (let b = enc.take(true); b !== undefined; b = enc.take(true)) out.push(b);
  return Buffer.concat(out);
}

const expected = (rows: readonly TicketRow[]): Buffer => Buffer.from(rows.map((r) => toJsonLine(r)).join(''), 'utf8');

/** `piece` repeated to at least `units` UTF-16 units (a big string, > 64K units). */
const big = (piece: string, units = 70_000): string => piece.repeat(Math.ceil(units / Math.max(1, piece.length)));

describe('NdjsonEncoder', () => {
  it('writes toJsonLine in UTF-8, for any buffer size (typical rows)', () => {
    const scalar = fc.oneof(fc.constant(null), fc.constant(undefined), fc.boolean(), fc.integer(), fc.double(), fc.string({ unit: 'binary' }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }));
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.string(), value), { maxLength: 6 }), fc.integer({ min: 16, max: 300 }), (rows, size) => {
        expect(encode(rows as TicketRow[], size).equals(expected(rows as TicketRow[]))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('writes rows with big strings exactly as JSON.stringify would (any characters, any buffer size)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.string({ unit: 'binary' }), fc.integer({ min: 16, max: 5000 }), (piece, key, size) => {
        const rows: TicketRow[] = [{ id: 1, [key]: big(piece), n: 2n ** 62n, ids: [1n, null], s: 'é"\n' }, { description: big(piece, 65_536) }, {}];
        expect(encode(rows, size).equals(expected(rows))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('cuts big strings between buffers anywhere (pairs, lone halves, escapes at the edges)', () => {
    const s = big('a\ud83d\ude00\ud83d"\\\n\u0001é東\ude00\u2028');
    for (const size of [16, 17, 18, 19, 20, 21, 1000, 65_536, 1 << 20]) expect(encode([{ s }], size).equals(expected([{ s }]))).toBe(true);
  });

  it('fills buffers to their size: a big row makes several, ready before the partial one', () => {
    const enc = new NdjsonEncoder(65_536);
    enc.row({ id: 1, description: big('é', 200_000) });
    expect(enc.ready).toBe(true);
    const sizes: number[] = [];
    for (let b = enc.take(); b !== undefined; b = enc.take()) sizes.push(b.length);
    expect(sizes.length).toBeGreaterThanOrEqual(6);
    for (const n of sizes) expect(n).toBeGreaterThan(65_536 - 6);
    expect(enc.take(true)!.length).toBeGreaterThan(0);
    expect(enc.take(true)).toBeUndefined();
    expect(() => new NdjsonEncoder(8)).toThrow(RangeError);
  });
});
