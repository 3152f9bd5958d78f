import type { FieldCatalog } from '../schema/custom-fields.js';
import { DROPPED_KEYS, TICKET_COLUMN_TYPES, type ColumnType } from '../schema/ticket-schema.js';

/**
 * The pure core of the flatten stage: one ticket version in, one row out.
 *  - nested objects flatten with `__` (`via__source__from__address`);
 *  - custom fields become one column each (`custom_fields__<id>`), typed from the field catalog;
 *    the duplicate `fields` array is dropped;
 *  - arrays of scalars stay lists; arrays holding objects become JSON text;
 *  - documented fields are coerced to their type; a value that does not fit becomes null in its
 *    column and is kept raw in `_rejects` (never dropped, never fatal);
 *  - keys nobody documented yet pass through as they are (the Parquet sink keeps them in `_extra`).
 */
export type Scalar = string | number | boolean | null;
export type RowValue = Scalar | Scalar[];
export type TicketRow = Record<string, RowValue>;

export interface FlattenContext {
  /** Custom ticket fields (tickets only): `custom_fields` become typed columns, `fields` is dropped. */
  catalog?: FieldCatalog | undefined;
  /** ISO-8601 UTC time stamped into `_extracted_at`. */
  extractedAt: string;
  /** Types of the documented columns. Default: the ticket columns. */
  types?: ReadonlyMap<string, ColumnType>;
}

export interface FlattenResult {
  row: TicketRow;
  /** Number of values that did not fit their column (kept raw in `_rejects`). */
  rejects: number;
  /** Custom field ids the catalog does not know (a field created mid-run). */
  unknownFields: number[];
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Coerce `value` to `type`. Returns `undefined` when it does not fit. */
export function coerce(value: unknown, type: ColumnType): RowValue | undefined {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'int64':
      if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
      if (typeof value === 'string' && /^-?\d{1,16}$/.test(value.trim())) {
        const n = Number(value.trim());
        return Number.isSafeInteger(n) ? n : undefined;
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
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return JSON.stringify(value);
    case 'json':
      return JSON.stringify(value);
    case 'list<int64>': {
      if (!Array.isArray(value)) return undefined;
      const out: number[] = [];
      for (const v of value) {
        const c = coerce(v, 'int64');
        if (typeof c !== 'number') return undefined;
        out.push(c);
      }
      return out;
    }
    case 'list<text>': {
      if (!Array.isArray(value)) return typeof value === 'string' ? [value] : undefined;
      const out: string[] = [];
      for (const v of value) {
        if (v === null) continue;
        out.push(typeof v === 'string' ? v : JSON.stringify(v));
      }
      return out;
    }
  }
}

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** Flatten one ticket version (see `flattenRecord`). */
export function flattenTicket(ticket: Record<string, unknown>, ctx: FlattenContext): FlattenResult {
  return flattenRecord(ticket, ctx);
}

/** Flatten one record of any stream: nested `__`, typed documented columns, the rest kept as is. */
export function flattenRecord(record: Record<string, unknown>, ctx: FlattenContext): FlattenResult {
  const types = ctx.types ?? TICKET_COLUMN_TYPES;
  const catalog = ctx.catalog;
  const row: TicketRow = {};
  let rejects: Record<string, unknown> | undefined;
  let unknownFields: number[] | undefined;

  const put = (name: string, value: unknown): void => {
    const type = types.get(name);
    if (type === undefined) {
      // Not documented: keep it as it came (lists of scalars stay lists, anything deeper is JSON).
      row[name] = value === undefined ? null : isScalar(value) ? value : Array.isArray(value) && value.every(isScalar) ? (value as Scalar[]) : JSON.stringify(value);
      return;
    }
    const c = name === 'via__channel' && typeof value === 'number' ? String(value) : coerce(value, type);
    if (c === undefined) {
      row[name] = null;
      (rejects ??= {})[name] = value;
    } else row[name] = c;
  };

  const walk = (prefix: string, obj: Record<string, unknown>): void => {
    for (const key in obj) {
      const value = obj[key];
      const name = prefix === '' ? key : `${prefix}__${key}`;
      if (prefix === '' && catalog) {
        if (DROPPED_KEYS.has(key)) continue;
        if (key === 'custom_fields' && Array.isArray(value)) {
          customFields(value);
          continue;
        }
      }
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        walk(name, value as Record<string, unknown>);
      } else {
        put(name, value);
      }
    }
  };

  const customFields = (list: unknown[]): void => {
    for (const f of list) {
      if (f === null || typeof f !== 'object' || typeof (f as { id?: unknown }).id !== 'number') {
        (rejects ??= {}).custom_fields = list;
        continue;
      }
      const { id, value } = f as { id: number; value: unknown };
      const name = catalog!.columnName(id);
      if (!catalog!.has(id)) (unknownFields ??= []).push(id);
      const c = coerce(value, catalog!.columnType(id));
      if (c === undefined) {
        row[name] = null;
        (rejects ??= {})[name] = value;
      } else row[name] = c;
    }
  };

  walk('', record);
  row._extracted_at = ctx.extractedAt;
  row._rejects = rejects === undefined ? null : JSON.stringify(rejects);
  return { row, rejects: rejects === undefined ? 0 : Object.keys(rejects).length, unknownFields: unknownFields ?? [] };
}
