/**
 * Real-shaped payloads (test/fixtures/*.json, written from Zendesk's documented examples) flatten with
 * nothing lost: every leaf of the input is in a typed column with the same value, kept untyped (the
 * Parquet sink's `_extra`), or kept raw in `_rejects`. Typed columns hold their documented types, every
 * row serialises as an NDJSON line, and nothing throws.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { flattenRecord, type FlattenResult, type RowValue, type TicketRow } from '../src/flatten/flatten.js';
import { FlattenStream } from '../src/flatten/flatten-stream.js';
import { toJsonLine } from '../src/flatten/json-line.js';
import { FieldCatalog, parseTicketFields } from '../src/schema/custom-fields.js';
import type { ColumnType } from '../src/schema/ticket-schema.js';
import { STREAMS, sideloadColumns } from '../src/streams.js';

type Json = Record<string, unknown>;

function fixture(name: string): Json {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Json;
}

function records(file: string, key: string): Json[] {
  const list = fixture(file)[key];
  if (!Array.isArray(list)) throw new Error(`${file} has no ${key} array`);
  return list as Json[];
}

const EXTRACTED_AT = '2026-01-01T00:00:00.000Z';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function catalogFromFixture(): FieldCatalog {
  return new FieldCatalog(parseTicketFields(fixture('ticket-fields.json').ticket_fields as unknown[]));
}

function typesOf(columns: readonly { name: string; type: ColumnType }[]): Map<string, ColumnType> {
  return new Map(columns.map((c) => [c.name, c.type]));
}

const isPlainObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const isJsonScalar = (v: unknown): boolean => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** Does a typed column hold the same value as the raw input (as its type reads it)? */
function sameValue(type: ColumnType, raw: unknown, out: RowValue | undefined): boolean {
  if (raw === null || raw === undefined) return out === null || out === undefined;
  switch (type) {
    case 'int64':
      if (!(typeof out === 'number' || typeof out === 'bigint')) return false;
      if (typeof raw === 'number') return Number.isSafeInteger(raw) && BigInt(raw) === BigInt(out);
      return typeof raw === 'string' && BigInt(raw.trim()) === BigInt(out);
    case 'double':
      return typeof out === 'number' && Number(raw) === out;
    case 'boolean':
      return typeof out === 'boolean' && String(raw) === String(out);
    case 'timestamp':
      return typeof raw === 'string' && typeof out === 'string' && Date.parse(raw) === Date.parse(out);
    case 'date':
      return typeof raw === 'string' && out === raw.slice(0, 10);
    case 'text':
      if (typeof out !== 'string') return false;
      if (typeof raw === 'string') return out === raw;
      return isJsonScalar(raw) ? out === String(raw) : isDeepStrictEqual(JSON.parse(out), raw);
    case 'json':
      return typeof out === 'string' && isDeepStrictEqual(JSON.parse(out), raw);
    case 'list<int64>':
      return Array.isArray(raw) && Array.isArray(out) && raw.length === out.length && raw.every((r, i) => sameValue('int64', r, out[i]));
    case 'list<text>': {
      if (!Array.isArray(out)) return false;
      const list = Array.isArray(raw) ? raw : [raw];
      return list.length === out.length && list.every((r, i) => (typeof r === 'string' ? r : JSON.stringify(r)) === out[i]);
    }
  }
}

/** Does a value conform to its documented column type? */
function conforms(type: ColumnType, v: RowValue | undefined): boolean {
  if (v === null || v === undefined) return true;
  const int64 = (x: unknown): boolean => (typeof x === 'number' && Number.isSafeInteger(x)) || (typeof x === 'bigint' && !Number.isSafeInteger(Number(x)) && x >= INT64_MIN && x <= INT64_MAX);
  switch (type) {
    case 'int64':
      return int64(v);
    case 'double':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'timestamp':
      return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v);
    case 'date':
      return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v);
    case 'text':
      return typeof v === 'string';
    case 'json':
      if (typeof v !== 'string') return false;
      JSON.parse(v); // throws if it is not JSON text
      return true;
    case 'list<int64>':
      return Array.isArray(v) && v.every(int64);
    case 'list<text>':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
  }
}

interface Accounting {
  /** Leaves (and empty objects) of the input that are nowhere in the row. */
  lost: string[];
  /** Row keys that no input path explains. */
  invented: string[];
  /** Typed columns holding a value of the wrong type. */
  mistyped: string[];
}

/**
 * Walk the input the way the row contract reads it, and check each leaf is accounted for: a typed
 * column with the same value, an untyped key with the value as it came, or the raw value in `_rejects`.
 */
function account(input: Json, result: FlattenResult, types: ReadonlyMap<string, ColumnType>, catalog?: FieldCatalog): Accounting {
  const row: TicketRow = result.row;
  const rejects = (row._rejects === null ? {} : JSON.parse(row._rejects as string)) as Json;
  const lost: string[] = [];
  const seen = new Set<string>(['_extracted_at', '_rejects']);
  const documentedObjects = new Set<string>();
  for (const name of types.keys()) {
    const parts = name.split('__');
    for (let i = 1; i < parts.length; i++) documentedObjects.add(parts.slice(0, i).join('__'));
  }
  const columnTypes = new Map(types);
  for (const c of catalog?.columns() ?? []) columnTypes.set(c.name, c.type);

  const leaf = (name: string, raw: unknown, type: ColumnType | undefined): void => {
    seen.add(name);
    if (name in rejects) {
      if (!isDeepStrictEqual(rejects[name], raw)) lost.push(`${name}: _rejects holds ${JSON.stringify(rejects[name])}`);
      // A list that lost null elements keeps the others in its column.
      if (type !== undefined && Array.isArray(raw) && row[name] !== null && !sameValue(type, raw.filter((x) => x !== null), row[name])) lost.push(`${name}: column holds ${String(row[name])}`);
      return;
    }
    const out = row[name];
    if (type === undefined) {
      if (raw === null && documentedObjects.has(name)) {
        if (name in row) lost.push(`${name}: a null documented object left a key`);
        return;
      }
      const ok = isJsonScalar(raw)
        ? out === raw
        : Array.isArray(raw) && raw.every(isJsonScalar)
          ? isDeepStrictEqual(out, raw)
          : typeof out === 'string' && isDeepStrictEqual(JSON.parse(out), raw);
      if (!ok) lost.push(`${name}: ${JSON.stringify(raw)} became ${String(out)}`);
      return;
    }
    const c = name === 'via__channel' && typeof raw === 'number' ? String(raw) : raw;
    if (!sameValue(type, c, out)) lost.push(`${name} (${type}): ${JSON.stringify(raw)} became ${String(out)}`);
  };

  const customFields = (list: unknown[]): void => {
    for (const f of list) {
      const { id, value } = f as { id: number; value: unknown };
      if (catalog!.isSystem(id)) leaf(`custom_fields__${id}`, value, undefined);
      else leaf(catalog!.columnName(id), value, catalog!.columnType(id));
    }
  };

  const visit = (prefix: string, obj: Json): void => {
    const keys = Object.keys(obj);
    if (keys.length === 0 && prefix !== '') {
      seen.add(prefix);
      // An empty documented object is its (null) leaves; any other empty object is kept as "{}".
      if (documentedObjects.has(prefix)) {
        if (Object.keys(row).some((k) => k.startsWith(`${prefix}__`))) lost.push(`${prefix}: an empty documented object left leaves`);
      } else if (row[prefix] !== '{}') lost.push(`${prefix}: an empty object became ${String(row[prefix])}`);
      return;
    }
    for (const key of keys) {
      const name = prefix === '' ? key : `${prefix}__${key}`;
      const value = obj[key];
      if (prefix === '' && catalog && key === 'fields') {
        // The duplicate of custom_fields: dropped, so it must say nothing custom_fields does not.
        if (!isDeepStrictEqual(value, obj.custom_fields)) lost.push('fields: differs from custom_fields');
        continue;
      }
      if (prefix === '' && catalog && key === 'custom_fields' && Array.isArray(value)) {
        customFields(value);
        continue;
      }
      if (isPlainObject(value) && !types.has(name)) visit(name, value);
      else leaf(name, value, types.get(name));
    }
  };

  visit('', input);
  const invented = Object.keys(row).filter((k) => !seen.has(k));
  const mistyped = Object.entries(row)
    .filter(([k, v]) => {
      const type = columnTypes.get(k) ?? (k.startsWith('custom_fields__') ? 'json' : undefined);
      if (type !== undefined) return !conforms(type, v);
      // Untyped keys hold JSON scalars or lists of them, never a bigint.
      return !(isJsonScalar(v) || (Array.isArray(v) && v.every(isJsonScalar)));
    })
    .map(([k, v]) => `${k}=${String(v)}`);
  return { lost, invented, mistyped };
}

function checkAll(inputs: Json[], types: ReadonlyMap<string, ColumnType>, catalog?: FieldCatalog): FlattenResult[] {
  return inputs.map((input) => {
    const result = flattenRecord(input, { catalog, extractedAt: EXTRACTED_AT, types });
    const { lost, invented, mistyped } = account(input, result, types, catalog);
    expect({ id: input.id, lost, invented, mistyped }).toEqual({ id: input.id, lost: [], invented: [], mistyped: [] });
    // Every row serialises as one NDJSON line that parses back (bigints as exact JSON numbers).
    const line = toJsonLine(result.row);
    expect(line.endsWith('\n') && !line.slice(0, -1).includes('\n')).toBe(true);
    expect(() => JSON.parse(line) as unknown).not.toThrow();
    // The reject count is the number of keys kept in _rejects.
    const kept = result.row._rejects === null ? 0 : Object.keys(JSON.parse(result.row._rejects as string) as object).length;
    expect(result.rejects).toBe(kept);
    return result;
  });
}

describe('real-shaped payloads: every leaf is accounted for', () => {
  it('tickets: every custom field type, satisfaction ratings, voice/Twitter/Facebook/email/side-conversation via shapes', () => {
    const catalog = catalogFromFixture();
    const tickets = records('tickets.json', 'tickets');
    const results = checkAll(tickets, typesOf(STREAMS.tickets.columns), catalog);
    const byId = new Map(results.map((r) => [r.row.id, r.row]));
    const email = byId.get(35436)!;
    // Every custom field type, typed as documented.
    expect(email).toMatchObject({
      custom_fields__360001: 'A-1234',
      custom_fields__360003: true,
      custom_fields__360004: '2024-06-30',
      custom_fields__360005: 25,
      custom_fields__360006: 12.5,
      custom_fields__360007: 'PRT-001',
      custom_fields__360008: 'billing',
      custom_fields__360009: ['ios', 'web'],
      custom_fields__360010: 'XXXXXXXXXXXX1234',
      custom_fields__360011: '"01GDXYD7ZTWYP542BA8MDDTE36"',
      custom_fields__360012: 4611686018427387904n,
      custom_fields__360013: 'mret-7f3a', // a system-managed field of a custom type keeps its column
      via__source__from__original_recipients: ['support@acme.zendesk.com', 'help@acme.com'],
      satisfaction_rating__reason_id: 1003,
      custom_status_id: 30000004,
      _rejects: null,
    });
    // No column for the system fields of GET /ticket_fields.
    for (const id of [21101, 21102, 21103, 21104, 21105, 21106, 21107, 21108]) expect(Object.keys(email)).not.toContain(`custom_fields__${id}`);
    expect(byId.get(35437)).toMatchObject({ via__source__from__formatted_phone: '+1 (415) 555-0132', via__source__to__brand_id: 360000098765 });
    expect(byId.get(35437)).not.toHaveProperty('satisfaction_rating'); // null rating: its leaves say it
    expect(byId.get(35438)).toMatchObject({ via__source__from__username: 'janedoe', satisfaction_rating__score: 'unoffered', created_at: '2024-05-02T07:00:00.000Z' });
    expect(byId.get(35439)).toMatchObject({ via__source__from__facebook_id: '100000123456789', via__source__rel: 'message' });
    expect(byId.get(35442)).toMatchObject({ via__channel: 'side_conversation', via__source__from__ticket_id: 35436 });
    const edge = byId.get(35444)!;
    expect(edge).toMatchObject({
      via__channel: '4',
      custom_fields__360012: 9007199254740993n,
      custom_fields__360777: '"value of a deleted field"',
      custom_fields__360778: '["a",1,true]',
      tags: ['imported'],
      collaborator_ids: [1, 2],
      custom_fields__360009: ['linux'],
      ai_summary: '{}',
      via__source__from__meta: '{}',
      sentiment__labels: ['calm', null], // an undocumented list is kept as it came
    });
    expect(JSON.parse(edge._rejects as string)).toEqual({ collaborator_ids: [1, null, 2], tags: ['imported', null], custom_fields__360005: 'abc', custom_fields__360009: ['linux', null] });
  });

  it('ticket events with child events', () => {
    const results = checkAll(records('ticket-events.json', 'ticket_events'), typesOf(STREAMS.ticket_events.columns));
    expect(results[0]!.row).toMatchObject({ system__latitude: 48.8566, system__longitude: 2.3522, via: 'Mail', event_type: 'Audit' });
    expect(JSON.parse(results[0]!.row.child_events as string)).toHaveLength(2);
    expect(results[2]!.row).toMatchObject({ merged_ticket_ids: [35445, 35446], updater_id: -1 });
  });

  it('users with their user_fields, kept untyped as user_fields__<key>', () => {
    const results = checkAll(records('users.json', 'users'), typesOf(STREAMS.users.columns));
    expect(results[0]!.row).toMatchObject({
      user_fields__plan: 'enterprise',
      user_fields__seats: 250,
      user_fields__renewal_date: '2025-01-31',
      user_fields__vip: true,
      user_fields__account_manager: null,
      user_fields__regions: ['emea', 'apac'],
      user_fields__crm_id: '9007199254740993', // untyped: kept as the string it came as
      user_fields__migration: '{}',
      restricted_agent: true,
      ticket_restriction: 'requested',
    });
    expect(results[1]!.row).toMatchObject({ custom_role_id: 360002468, two_factor_auth_enabled: true, photo__id: 928374, photo__size: 166144, photo__inline: false });
    expect(JSON.parse(results[1]!.row.photo__thumbnails as string)).toHaveLength(1);
    expect(results[2]!.row).toMatchObject({ active: false, permanently_deleted: true, user_fields: '{}' });
  });

  it('organizations with organization_fields, and a deleted one with a typed deleted_at', () => {
    const results = checkAll(records('organizations.json', 'organizations'), typesOf(STREAMS.organizations.columns));
    expect(results[0]!.row).toMatchObject({ organization_fields__tier: 'gold', organization_fields__seats: 250, domain_names: ['example.com', 'test.com'], deleted_at: null });
    expect(results[1]!.row.deleted_at).toBe('2024-05-02T10:00:00.000Z');
    expect(results[2]!.row.organization_fields).toBe('{}');
  });

  it('sideloaded groups, brands and metric sets', () => {
    const side = fixture('sideloads.json');
    for (const table of ['groups', 'brands', 'metric_sets']) checkAll(side[table] as Json[], typesOf(sideloadColumns(table)));
    const [metrics] = checkAll((side.metric_sets as Json[]).slice(0, 1), typesOf(sideloadColumns('metric_sets')));
    expect(metrics!.row).toMatchObject({ reply_time_in_minutes__calendar: 373, reply_time_in_seconds__calendar: 22400, solved_at: '2024-05-03T16:42:10.000Z' });
    const [brand] = checkAll(side.brands as Json[], typesOf(sideloadColumns('brands')));
    expect(brand!.row).toMatchObject({ ticket_form_ids: [360000012345, 360000012346], host_mapping: 'support.acme.com', logo__id: 928000 });
  });

  it('through the flatten stage, the deleted fields get JSON text columns and the system fields none', async () => {
    const catalog = catalogFromFixture();
    const before = catalog.version;
    const stage = new FlattenStream({ catalog, refreshCatalog: async () => undefined, extractedAt: new Date(EXTRACTED_AT) });
    const rows: TicketRow[] = [];
    stage.on('data', (r: TicketRow) => rows.push(r));
    for (const t of records('tickets.json', 'tickets')) stage.write(t);
    stage.end();
    await new Promise((resolve) => stage.on('end', resolve));
    expect(rows).toHaveLength(8);
    expect(catalog.version).toBeGreaterThan(before);
    const columns = catalog.columns();
    expect(columns).toContainEqual({ name: 'custom_fields__360777', type: 'json', field: 360777 });
    expect(columns).toContainEqual({ name: 'custom_fields__360778', type: 'json', field: 360778 });
    expect(columns.map((c) => c.name).filter((n) => /__21\d{3}$/.test(n))).toEqual([]);
    expect(columns).toHaveLength(15); // 13 custom fields + 2 deleted
  });
});
