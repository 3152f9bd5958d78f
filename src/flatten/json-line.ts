import type { RowValue } from './flatten.js';

/**
 * Rows as JSON text, exact for int64 values beyond 2^53.
 *
 * An int64 column holds a `bigint` when its value is outside Number's safe range, and `JSON.stringify`
 * throws on a bigint (Node 20 has no `JSON.rawJSON`). These helpers write a bigint as the bare digits of a
 * JSON number (`9007199254740993`), which DuckDB's `read_json` reads back exactly as BIGINT. (A reader that
 * parses with `JSON.parse` rounds it again: that is the reader's limit, not the file's.)
 *
 * The common path is one `JSON.stringify`, unchanged: only a row that holds a bigint (the stringify then
 * throws a TypeError) takes the slow path, which writes the row key by key. Rows are flat (`RowValue`s:
 * scalars and lists of scalars), so the slow path needs no sentinel strings and cannot confuse a
 * bigint with a string that merely looks like one.
 */

type Row = Readonly<Record<string, RowValue | undefined>>;

/** One row as JSON text, without a newline (for `_extra`, or any flat record of row values). */
export function toJsonText(row: Row): string {
  try {
    return JSON.stringify(row);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return slowRow(row);
  }
}

/** One row as one NDJSON line (newline included), bigint values written as exact JSON numbers. */
export function toJsonLine(row: Row): string {
  return `${toJsonText(row)}\n`;
}

/** JSON text of a flat row, key by key, as `JSON.stringify` would write it but for bigints. */
function slowRow(row: Row): string {
  let out = '{';
  let first = true;
  for (const key in row) {
    const v = row[key];
    if (v === undefined) continue; // as JSON.stringify: an undefined member is left out
    out += `${first ? '' : ','}${JSON.stringify(key)}:${jsonValue(v)}`;
    first = false;
  }
  return `${out}}`;
}

/** One row value as JSON text, a bigint (also in a list) as its exact digits. */
export function jsonValue(v: RowValue): string {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      // As JSON.stringify: an undefined element (a hole) is written null.
      out += `${i === 0 ? '' : ','}${x === undefined ? 'null' : jsonValue(x)}`;
    }
    return `${out}]`;
  }
  // Anything else that is not a row value (an object that slipped in) throws here, as it would have.
  return JSON.stringify(v);
}
