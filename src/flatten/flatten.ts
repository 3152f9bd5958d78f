import type { FieldCatalog } from '../schema/custom-fields.js';
import { DROPPED_KEYS, TICKET_COLUMN_TYPES, type ColumnType } from '../schema/ticket-schema.js';

/**
 * The pure core of the flatten stage: one ticket version in, one row out.
 *  - nested objects flatten with `__` (`via__source__from__address`);
 *  - custom fields become one column each (`custom_fields__<id>`), typed from the field catalog;
 *    the duplicate `fields` array is dropped; system fields (subject, status, ...) never get one;
 *  - arrays of scalars stay lists; arrays holding objects become JSON text;
 *  - documented fields are coerced to their type; a value that does not fit becomes null in its
 *    column and is kept raw in `_rejects` (never dropped, never fatal);
 *  - keys nobody documented yet pass through as they are (the Parquet sink keeps them in `_extra`).
 *
 * Shapes that carry no value (decided once, for every stream):
 *  - an object path the schema documents leaves (`via__source__from__address` for `via.source.from`) is
 *    represented by those leaf columns only: `{}`, `null` and an absent key all read as null leaves
 *    (Zendesk sends `from: {}` / `satisfaction_rating: null` for "nothing here"; a marker on most rows
 *    would only fill `_extra`, whose job is to say "Zendesk sent something new");
 *  - any other path keeps its shape: `null` stays `null`, an empty object becomes the JSON text `"{}"`
 *    (`user_fields: {}` -> `user_fields: "{}"`), so "empty" and "absent" stay apart where no schema says
 *    what the object means;
 *  - a documented column whose path holds an object (`via` of a ticket event sent as an object) gets
 *    the object itself, coerced like any value (JSON text for text/json columns, `_rejects` otherwise).
 *
 * Lists: the Parquet writers cannot hold a null list element (parquetjs-lite's legacy repeated layout
 * has no level for it), so a typed list column never holds one: null elements are left out of the
 * column and the raw list is kept in `_rejects` (counted). Undocumented lists are kept as they came.
 *
 * Int64 beyond 2^53: an int64 column holds a `bigint` when the value is an exact integer outside
 * Number's safe range. Only a string can carry such a value exactly (`"9007199254740993"`): a bare JSON
 * number was already rounded by `JSON.parse`, so an unsafe `number` is refused (kept raw in `_rejects`).
 * Rows holding a bigint cannot go through `JSON.stringify`: serialise rows with `toJsonLine`
 * (`./json-line.ts`).
 */
export type Scalar = string | number | bigint | boolean | null;
export type RowValue = Scalar | Scalar[];
export type TicketRow = Record<string, RowValue>;

export interface FlattenContext {
  /** Custom ticket fields (tickets only): `custom_fields` become typed columns, `fields` is dropped. */
  catalog?: FieldCatalog | undefined;
  /** ISO-8601 UTC time stamped into `_extracted_at`. */
  extractedAt: string;
  /** Types of the documented columns. Default: the ticket columns. */
  types?: ReadonlyMap<string, ColumnType> | undefined;
}

export interface FlattenResult {
  row: TicketRow;
  /** Number of values that did not fit their column (kept raw in `_rejects`). */
  rejects: number;
  /** Custom field ids the catalog does not know (a field created mid-run, or a deleted one). */
  unknownFields: number[];
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const INTEGER = /^-?\d{1,19}$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * An integer written as a decimal string, exactly: a `number` when it is within Number's safe range, a
 * `bigint` beyond it (up to int64), `undefined` when it is not an int64.
 */
function int64FromString(text: string): number | bigint | undefined {
  const s = text.trim();
  if (!INTEGER.test(s)) return undefined;
  // Up to 15 digits is always safe: no bigint on the common path.
  if (s.length <= 15) return Number(s);
  const b = BigInt(s);
  if (b < INT64_MIN || b > INT64_MAX) return undefined;
  const n = Number(b);
  return Number.isSafeInteger(n) ? n : b;
}

/**
 * Coerce `value` to `type`. Returns `undefined` when it does not fit.
 * - `int64`: a safe integer `number`, or a `bigint` for an exact integer beyond 2^53 given as a string
 *   (or a bigint); an unsafe `number` is refused, as `JSON.parse` has already rounded it.
 * - list types leave null elements out (a typed list column cannot hold them): compare the lengths to
 *   know whether some were left out (`flattenRecord` then keeps the raw list in `_rejects`).
 */
export function coerce(value: unknown, type: ColumnType): RowValue | undefined {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'int64':
      if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
      if (typeof value === 'string') return int64FromString(value);
      if (typeof value === 'bigint') {
        if (value < INT64_MIN || value > INT64_MAX) return undefined;
        return Number.isSafeInteger(Number(value)) ? Number(value) : value;
      }
      return undefined;
    case 'double':
      if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
      return undefined;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      return undefined;
    case 'timestamp': {
      if (typeof value !== 'string' || !ISO_UTC.test(value)) return undefined;
      const ms = Date.parse(value);
      return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
    }
    case 'date':
      if (typeof value !== 'string') return undefined;
      if (DATE.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`))) return value;
      if (ISO_UTC.test(value) && !Number.isNaN(Date.parse(value))) return value.slice(0, 10);
      return undefined;
    case 'text':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
      return JSON.stringify(value);
    case 'json':
      return typeof value === 'bigint' ? String(value) : JSON.stringify(value);
    case 'list<int64>': {
      if (!Array.isArray(value)) return undefined;
      const out: (number | bigint)[] = [];
      for (const v of value) {
        if (v === null) continue; // left out; the caller sees the shorter list
        const c = coerce(v, 'int64');
        if (typeof c !== 'number' && typeof c !== 'bigint') return undefined;
        out.push(c);
      }
      return out;
    }
    case 'list<text>': {
      if (!Array.isArray(value)) return typeof value === 'string' ? [value] : undefined;
      const out: string[] = [];
      for (const v of value) {
        if (v === null) continue; // left out; the caller sees the shorter list
        out.push(typeof v === 'string' ? v : JSON.stringify(v));
      }
      return out;
    }
  }
}

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint';
}

/** `_rejects` keeps raw values; a bigint among them (only from a caller's own records) as its digits. */
function rawReplacer(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Object paths the schema documents leaves under (`via`, `via__source`, `via__source__from`, ...). */
const prefixCache = new WeakMap<ReadonlyMap<string, ColumnType>, ReadonlySet<string>>();

function documentedObjects(types: ReadonlyMap<string, ColumnType>): ReadonlySet<string> {
  let set = prefixCache.get(types);
  if (set === undefined) {
    const s = new Set<string>();
    for (const name of types.keys()) {
      for (let i = name.indexOf('__'); i > 0; i = name.indexOf('__', i + 2)) s.add(name.slice(0, i));
    }
    set = s;
    prefixCache.set(types, set);
  }
  return set;
}

/** Flatten one ticket version (see `flattenRecord`). */
export function flattenTicket(ticket: Record<string, unknown>, ctx: FlattenContext): FlattenResult {
  return flattenRecord(ticket, ctx);
}

/**
 * The state of one record being flattened. The steps below are module-level functions over it, not
 * closures, so a record costs no function allocations (this runs once per ticket).
 */
interface Flattening {
  readonly types: ReadonlyMap<string, ColumnType>;
  readonly catalog: FieldCatalog | undefined;
  readonly row: TicketRow;
  rejects: Record<string, unknown> | undefined;
  unknownFields: number[] | undefined;
}

/** Flatten one record of any stream: nested `__`, typed documented columns, the rest kept as is. */
export function flattenRecord(record: Record<string, unknown>, ctx: FlattenContext): FlattenResult {
  const st: Flattening = { types: ctx.types ?? TICKET_COLUMN_TYPES, catalog: ctx.catalog, row: {}, rejects: undefined, unknownFields: undefined };
  walk(st, '', record);
  const { row, rejects } = st;
  row._extracted_at = ctx.extractedAt;
  row._rejects = rejects === undefined ? null : JSON.stringify(rejects, rawReplacer);
  return { row, rejects: rejects === undefined ? 0 : Object.keys(rejects).length, unknownFields: st.unknownFields ?? [] };
}

function walk(st: Flattening, prefix: string, obj: Record<string, unknown>): void {
  let empty = true;
  for (const key in obj) {
    empty = false;
    const value = obj[key];
    const name = prefix === '' ? key : `${prefix}__${key}`;
    if (prefix === '' && st.catalog) {
      if (DROPPED_KEYS.has(key)) continue;
      if (key === 'custom_fields' && Array.isArray(value)) {
        customFields(st, st.catalog, value);
        continue;
      }
    }
    if (isObject(value) && !st.types.has(name)) walk(st, name, value);
    else put(st, name, value);
  }
  // An empty object where no documented leaves say what it means: keep it, so it is not lost.
  if (empty && prefix !== '' && !documentedObjects(st.types).has(prefix)) st.row[prefix] = '{}';
}

function put(st: Flattening, name: string, value: unknown): void {
  const type = st.types.get(name);
  if (type === undefined) {
    // A null at an object path the schema documents: its leaf columns say it (see the file comment).
    if (value === null && documentedObjects(st.types).has(name)) return;
    // Not documented: keep it as it came (lists of scalars stay lists, anything deeper is JSON).
    st.row[name] = value === undefined ? null : isScalar(value) ? value : Array.isArray(value) && value.every(isScalar) ? (value as Scalar[]) : JSON.stringify(value);
    return;
  }
  store(st, name, value, name === 'via__channel' && typeof value === 'number' ? String(value) : coerce(value, type));
}

/** Store a coerced value; keep the raw one in `_rejects` when it did not fit or lost null elements. */
function store(st: Flattening, name: string, value: unknown, c: RowValue | undefined): void {
  if (c === undefined) {
    st.row[name] = null;
    (st.rejects ??= {})[name] = value;
    return;
  }
  st.row[name] = c;
  if (Array.isArray(c) && Array.isArray(value) && c.length !== value.length) (st.rejects ??= {})[name] = value;
}

function customFields(st: Flattening, catalog: FieldCatalog, list: unknown[]): void {
  for (const f of list) {
    if (f === null || typeof f !== 'object' || typeof (f as { id?: unknown }).id !== 'number') {
      (st.rejects ??= {}).custom_fields = list;
      continue;
    }
    const { id, value } = f as { id: number; value: unknown };
    const slot = catalog.slot(id);
    if (slot === undefined) {
      // Not in the catalog (created mid-run, or deleted): JSON text until the stage knows more.
      (st.unknownFields ??= []).push(id);
      store(st, catalog.columnName(id), value, coerce(value, 'json'));
    } else if (slot.system) {
      // A system field (status, subject, ...) has no column: its value is the ticket's own key. Zendesk
      // does not send these here; if it ever does, the value is kept raw and counted, not made a column.
      (st.rejects ??= {})[`custom_fields__${id}`] = value;
    } else store(st, slot.name, value, coerce(value, slot.type));
  }
}
