import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coerce, flattenRecord, flattenTicket, type TicketRow } from '../../src/flatten/flatten.js';
import { FlattenStream } from '../../src/flatten/flatten-stream.js';
import { FieldCatalog, parseTicketFields } from '../../src/schema/custom-fields.js';
import { TICKET_COLUMNS } from '../../src/schema/ticket-schema.js';
import { STREAMS, sideloadColumns } from '../../src/streams.js';

const catalog = new FieldCatalog([
  { id: 1, type: 'checkbox', title: 'VIP' },
  { id: 2, type: 'integer', title: 'Seats' },
  { id: 3, type: 'decimal', title: 'Refund' },
  { id: 4, type: 'date', title: 'Renewal' },
  { id: 5, type: 'multiselect', title: 'Platforms' },
  { id: 6, type: 'tagger', title: 'Area' },
]);
const ctx = { catalog, extractedAt: '2026-01-01T00:00:00.000Z' };

describe('flatten (pure core)', () => {
  it('flattens nested objects with __, types custom fields, drops the duplicate fields array, keeps the rest', () => {
    const { row, rejects, unknownFields } = flattenTicket(
      {
        id: 7,
        generated_timestamp: 100,
        created_at: '2024-05-01T10:00:00Z',
        via: { channel: 4, source: { from: { address: 'a@b.c', ticket_id: 9 }, to: {}, rel: null } },
        satisfaction_rating: { score: 'good', id: 5 },
        tags: ['x', 'y'],
        collaborator_ids: [1, 2],
        custom_fields: [
          { id: 1, value: true },
          { id: 2, value: '42' },
          { id: 3, value: '12.50' },
          { id: 4, value: '2024-06-30' },
          { id: 5, value: ['ios', 'web'] },
          { id: 6, value: 'billing' },
          { id: 99, value: 'new field' },
        ],
        fields: [{ id: 1, value: true }],
        brand_new_key: { deep: [{ a: 1 }] },
      },
      ctx,
    );
    expect(row).toMatchObject({
      id: 7,
      created_at: '2024-05-01T10:00:00.000Z',
      via__channel: '4',
      via__source__from__address: 'a@b.c',
      via__source__from__ticket_id: 9,
      via__source__rel: null,
      satisfaction_rating__score: 'good',
      satisfaction_rating__id: 5,
      tags: ['x', 'y'],
      collaborator_ids: [1, 2],
      custom_fields__1: true,
      custom_fields__2: 42,
      custom_fields__3: 12.5,
      custom_fields__4: '2024-06-30',
      custom_fields__5: ['ios', 'web'],
      custom_fields__6: 'billing',
      custom_fields__99: '"new field"',
      brand_new_key__deep: '[{"a":1}]',
      _extracted_at: '2026-01-01T00:00:00.000Z',
      _rejects: null,
    });
    expect(row.fields).toBeUndefined();
    expect(rejects).toBe(0);
    expect(unknownFields).toEqual([99]);
  });

  it('keeps a value that does not fit its column raw in _rejects, nulls the column, and counts it', () => {
    const { row, rejects } = flattenTicket({ id: 1, generated_timestamp: 1, requester_id: 'abc', due_at: 'tomorrow', custom_fields: [{ id: 2, value: 'lots' }] }, ctx);
    expect(row.requester_id).toBeNull();
    expect(row.due_at).toBeNull();
    expect(row.custom_fields__2).toBeNull();
    expect(JSON.parse(row._rejects as string)).toEqual({ requester_id: 'abc', due_at: 'tomorrow', custom_fields__2: 'lots' });
    expect(rejects).toBe(3);
  });

  it('coerces by column type and refuses what does not fit', () => {
    expect(coerce('123', 'int64')).toBe(123);
    expect(coerce('12345678901234567', 'int64')).toBe(12345678901234567n); // beyond 2^53: exact, as a bigint
    expect(coerce('99999999999999999999', 'int64')).toBeUndefined(); // beyond int64: kept raw, not rounded
    expect(coerce(1.5, 'int64')).toBeUndefined();
    expect(coerce('2024-05-01T10:00:00+02:00', 'timestamp')).toBe('2024-05-01T08:00:00.000Z');
    expect(coerce('2024-05-01T10:00:00', 'timestamp')).toBeUndefined(); // no zone: ambiguous
    expect(coerce('2024-13-01', 'date')).toBeUndefined();
    expect(coerce('2024-06-30T12:00:00Z', 'date')).toBe('2024-06-30');
    expect(coerce('yes', 'boolean')).toBeUndefined();
    expect(coerce({ a: 1 }, 'text')).toBe('{"a":1}');
  });

  it('property: any ticket shape flattens without throwing, into scalars and lists of scalars only', () => {
    const scalar = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true }), fc.string());
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 4 })),
    })).v;
    const known = fc.constantFrom(...TICKET_COLUMNS.map((c) => c.name.split('__')[0]!), 'custom_fields', 'fields', 'via', 'satisfaction_rating');
    const ticket = fc.dictionary(fc.oneof(known, fc.string({ maxLength: 8 })), value, { maxKeys: 12 });
    fc.assert(
      fc.property(ticket, (t) => {
        const { row, rejects } = flattenTicket(t, ctx);
        const scalar = (x: unknown): boolean => x === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof x);
        for (const v of Object.values(row)) expect(scalar(v) || (Array.isArray(v) && v.every(scalar))).toBe(true);
        if (rejects > 0) expect(Object.keys(JSON.parse(row._rejects as string) as object).length).toBe(rejects);
        // Typed columns hold their type or null.
        for (const c of TICKET_COLUMNS) {
          const v = row[c.name];
          if (v === undefined || v === null) continue;
          const int64 = (x: unknown): boolean => Number.isSafeInteger(x) || (typeof x === 'bigint' && !Number.isSafeInteger(Number(x)) && BigInt.asIntN(64, x) === x);
          if (c.type === 'int64') expect(int64(v)).toBe(true);
          if (c.type === 'boolean') expect(typeof v).toBe('boolean');
          if (c.type === 'timestamp') expect(Number.isNaN(Date.parse(v as string))).toBe(false);
          if (c.type === 'list<int64>') expect((v as unknown[]).every(int64)).toBe(true);
          // A typed list never holds a null (the Parquet writers cannot store one).
          if (c.type.startsWith('list<')) expect((v as unknown[]).includes(null)).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('flattens records of other streams with their own column types', () => {
    const types = new Map([['id', 'int64' as const], ['updated_at', 'timestamp' as const]]);
    const { row } = flattenRecord({ id: '5', updated_at: '2024-01-01T00:00:00Z', user_fields: { plan: 'pro' } }, { extractedAt: 'x', types });
    expect(row).toMatchObject({ id: 5, updated_at: '2024-01-01T00:00:00.000Z', user_fields__plan: 'pro' });
  });
});

/** GET /ticket_fields as real accounts answer it: the system fields come first, then the custom ones. */
const SYSTEM_FIELDS = [
  { id: 101, type: 'subject', title: 'Subject', removable: false },
  { id: 102, type: 'description', title: 'Description', removable: false },
  { id: 103, type: 'status', title: 'Status', removable: false },
  { id: 104, type: 'tickettype', title: 'Type', removable: true },
  { id: 105, type: 'priority', title: 'Priority', removable: true },
  { id: 106, type: 'group', title: 'Group', removable: false },
  { id: 107, type: 'assignee', title: 'Assignee', removable: false },
  { id: 108, type: 'custom_status', title: 'Ticket status', removable: false },
  { id: 109, type: 'basic_priority', title: 'Priority', removable: true },
  { id: 110, type: 'brand', title: 'Brand', removable: false },
  { id: 111, type: 'some_future_system_type', title: 'Future', removable: false },
];

async function flattenThrough(stage: FlattenStream, tickets: Record<string, unknown>[]): Promise<TicketRow[]> {
  const rows: TicketRow[] = [];
  stage.on('data', (r: TicketRow) => rows.push(r));
  const ended = new Promise((resolve, reject) => {
    stage.on('end', resolve);
    stage.on('error', reject);
  });
  for (const t of tickets) stage.write(t);
  stage.end();
  await ended;
  return rows;
}

describe('real payloads: the gaps closed', () => {
  it('1. system fields of GET /ticket_fields get no column, in either naming', () => {
    for (const naming of ['id', 'title'] as const) {
      const cat = new FieldCatalog([...SYSTEM_FIELDS, { id: 1, type: 'text', title: 'Order number' }, { id: 2, type: 'text', title: 'Multi-recipient', removable: false }], naming);
      const names = cat.columns().map((c) => c.name);
      // Only the custom fields; a system-managed field of a custom type stays a custom field.
      expect(names).toEqual(naming === 'id' ? ['custom_fields__1', 'custom_fields__2'] : ['custom_fields__order_number', 'custom_fields__multi_recipient']);
      expect(names).not.toContain('custom_fields__status');
      expect(names).not.toContain('custom_fields__type');
      for (const f of SYSTEM_FIELDS) expect(cat.isSystem(f.id)).toBe(true);
      expect(cat.isSystem(1)).toBe(false);
      // Archived as they came, so a replay knows them too.
      expect(new FieldCatalog(cat.fields, naming).columns()).toEqual(cat.columns());
    }
    expect(parseTicketFields([{ id: 7, type: 'status', title: 'Status', removable: false }, { id: 'x' }, null])).toEqual([{ id: 7, type: 'status', title: 'Status', removable: false }]);
  });

  it('1. a system field found in custom_fields makes no column: kept raw in _rejects and counted', () => {
    const cat = new FieldCatalog([...SYSTEM_FIELDS, { id: 1, type: 'text', title: 'Order number' }]);
    const { row, rejects, unknownFields } = flattenTicket({ id: 1, status: 'open', custom_fields: [{ id: 103, value: 'open' }, { id: 1, value: 'A-1' }] }, { catalog: cat, extractedAt: 'x' });
    expect(row).not.toHaveProperty('custom_fields__103');
    expect(row).toMatchObject({ status: 'open', custom_fields__1: 'A-1' });
    expect(JSON.parse(row._rejects as string)).toEqual({ custom_fields__103: 'open' });
    expect(rejects).toBe(1);
    expect(unknownFields).toEqual([]); // not mistaken for a field created mid-run
  });

  it('2. a custom field missing from GET /ticket_fields (deleted) gets a stable JSON text column, not _extra', async () => {
    for (const naming of ['id', 'title'] as const) {
      const cat = new FieldCatalog([{ id: 1, type: 'integer', title: 'Seats' }], naming);
      let refreshes = 0;
      const stage = new FlattenStream({ catalog: cat, refreshCatalog: async () => void refreshes++, extractedAt: new Date(0) });
      const rows = await flattenThrough(stage, [
        { id: 1, custom_fields: [{ id: 1, value: '3' }, { id: 777, value: 'kept' }] },
        { id: 2, custom_fields: [{ id: 777, value: 12 }] },
        { id: 3, custom_fields: [{ id: 777, value: ['a', null] }] },
      ]);
      expect(refreshes).toBe(1); // one re-read; the field is still unknown, so it is a deleted field
      expect(cat.columns()).toEqual([
        { name: naming === 'id' ? 'custom_fields__1' : 'custom_fields__seats', type: 'int64', field: 1 },
        { name: 'custom_fields__777', type: 'json', field: 777 },
      ]);
      expect(cat.has(777)).toBe(true);
      // Values of any type are kept exactly, as JSON text.
      expect(rows.map((r) => r.custom_fields__777)).toEqual(['"kept"', '12', '["a",null]']);
      expect(rows.every((r) => r._rejects === null)).toBe(true);
    }
    // The same decision in every run: a fresh catalog (a new run, or a replay with no refresh) decides the same.
    const a = new FieldCatalog([{ id: 1, type: 'integer', title: 'Seats' }], 'title');
    const b = new FieldCatalog([{ id: 1, type: 'integer', title: 'Seats' }], 'title');
    const v = a.version;
    expect(a.addDeleted(777)).toBe(true);
    expect(a.addDeleted(777)).toBe(false);
    expect(a.version).toBe(v + 1);
    await flattenThrough(new FlattenStream({ catalog: b, extractedAt: new Date(0) }), [{ id: 1, custom_fields: [{ id: 777, value: 1 }] }]);
    expect(b.columns()).toEqual(a.columns());
    // A field the catalog lists is never turned into a deleted one.
    expect(a.addDeleted(1)).toBe(false);
    expect(a.columnType(1)).toBe('int64');
    expect(new FieldCatalog([...SYSTEM_FIELDS]).addDeleted(103)).toBe(false); // a system field never gets one
  });

  it('3. null elements of a typed list: left out of the column, the raw list kept in _rejects and counted', () => {
    const { row, rejects } = flattenTicket(
      { id: 1, tags: ['a', null, 'b'], collaborator_ids: [1, null], follower_ids: [null], custom_fields: [{ id: 5, value: ['ios', null] }], other_list: [1, null] },
      ctx,
    );
    expect(row).toMatchObject({ tags: ['a', 'b'], collaborator_ids: [1], follower_ids: [], custom_fields__5: ['ios'] });
    expect(JSON.parse(row._rejects as string)).toEqual({ tags: ['a', null, 'b'], collaborator_ids: [1, null], follower_ids: [null], custom_fields__5: ['ios', null] });
    expect(rejects).toBe(4);
    expect(row.other_list).toEqual([1, null]); // undocumented: kept as it came
    // A list without nulls is no reject.
    expect(flattenTicket({ id: 1, tags: ['a'], collaborator_ids: [] }, ctx).rejects).toBe(0);
  });

  it('4. every stream has its documented fields typed: organizations.deleted_at, users, ticket events, sideloads', () => {
    const typeOf = (columns: readonly { name: string; type: string }[], name: string): string | undefined => columns.find((c) => c.name === name)?.type;
    expect(typeOf(STREAMS.organizations.columns, 'deleted_at')).toBe('timestamp');
    expect(typeOf(STREAMS.users.columns, 'custom_role_id')).toBe('int64');
    expect(typeOf(STREAMS.users.columns, 'two_factor_auth_enabled')).toBe('boolean');
    expect(typeOf(STREAMS.users.columns, 'photo__id')).toBe('int64');
    expect(typeOf(STREAMS.ticket_events.columns, 'system__latitude')).toBe('double');
    expect(typeOf(sideloadColumns('brands'), 'ticket_form_ids')).toBe('list<int64>');
    expect(typeOf(sideloadColumns('groups'), 'is_public')).toBe('boolean');
    expect(typeOf(sideloadColumns('metric_sets'), 'solved_at')).toBe('timestamp');
    expect(typeOf(sideloadColumns('metric_sets'), 'reply_time_in_minutes__business')).toBe('int64');
    for (const spec of Object.values(STREAMS)) expect(new Set(spec.columns.map((c) => c.name)).size).toBe(spec.columns.length);
    const types = new Map(STREAMS.organizations.columns.map((c) => [c.name, c.type]));
    const { row } = flattenRecord({ id: 9, deleted_at: '2024-05-02T12:00:00+02:00', organization_fields: { tier: 'gold', seats: 3, since: '2020-01-01', vip: true, none: null, regions: ['emea'] } }, { extractedAt: 'x', types });
    expect(row).toMatchObject({ deleted_at: '2024-05-02T10:00:00.000Z', organization_fields__tier: 'gold', organization_fields__seats: 3, organization_fields__since: '2020-01-01', organization_fields__vip: true, organization_fields__none: null, organization_fields__regions: ['emea'] });
  });

  it('5. an int64 beyond 2^53 is kept exact as a bigint (only strings can carry one exactly)', () => {
    expect(coerce('9007199254740993', 'int64')).toBe(9007199254740993n);
    expect(coerce(' -9223372036854775808 ', 'int64')).toBe(-9223372036854775808n);
    expect(coerce('9223372036854775807', 'int64')).toBe(9223372036854775807n);
    expect(coerce('9223372036854775808', 'int64')).toBeUndefined(); // beyond int64
    expect(coerce('9007199254740991', 'int64')).toBe(9007199254740991); // safe: a number
    expect(coerce('000000000000000042', 'int64')).toBe(42);
    // A bare JSON number beyond 2^53 was already rounded by JSON.parse: refused, not stored wrong.
    expect(coerce(JSON.parse('9007199254740993'), 'int64')).toBeUndefined();
    expect(coerce(9007199254740993n, 'int64')).toBe(9007199254740993n);
    expect(coerce(['9007199254740993', 1], 'list<int64>')).toEqual([9007199254740993n, 1]);
    expect(coerce(9007199254740993n, 'text')).toBe('9007199254740993');
    const { row, rejects } = flattenTicket({ id: 1, requester_id: '9007199254740993', custom_fields: [{ id: 2, value: '9007199254740993' }] }, ctx);
    expect(row.custom_fields__2).toBe(9007199254740993n);
    expect(row.requester_id).toBe(9007199254740993n);
    expect(rejects).toBe(0);
  });

  it('6. empty objects: documented ones are their null leaves, like null and absent; others are kept as "{}"', () => {
    const base = { id: 1, generated_timestamp: 1 };
    const rowOf = (t: Record<string, unknown>): TicketRow => flattenTicket({ ...base, ...t }, ctx).row;
    // A documented object path: empty, null and absent give the same row.
    const empty = rowOf({ via: { channel: 'web', source: { from: {}, to: {}, rel: null } }, satisfaction_rating: {} });
    const nulls = rowOf({ via: { channel: 'web', source: { from: null, to: null, rel: null } }, satisfaction_rating: null });
    const absent = rowOf({ via: { channel: 'web', source: { rel: null } } });
    expect(empty).toEqual(absent);
    expect(nulls).toEqual(absent);
    expect(absent).toEqual({ ...base, via__channel: 'web', via__source__rel: null, _extracted_at: ctx.extractedAt, _rejects: null });
    // Anywhere else an empty object is kept, so "empty" and "absent" stay apart; a null stays null.
    const kept = rowOf({ ai_summary: {}, via: { channel: 'web', source: { from: { meta: {} } } }, brand_new: null, deep: { inner: {} } });
    expect(kept).toMatchObject({ ai_summary: '{}', via__source__from__meta: '{}', brand_new: null, deep__inner: '{}' });
    expect(rowOf({})).not.toHaveProperty('ai_summary');
    // Other streams: the same rule with their own documented paths.
    const userTypes = new Map(STREAMS.users.columns.map((c) => [c.name, c.type]));
    expect(flattenRecord({ id: 1, user_fields: {}, photo: null }, { extractedAt: 'x', types: userTypes }).row).toEqual({ id: 1, user_fields: '{}', _extracted_at: 'x', _rejects: null });
    // A documented column whose path holds an object gets the object itself (as JSON text here).
    const eventTypes = new Map(STREAMS.ticket_events.columns.map((c) => [c.name, c.type]));
    expect(flattenRecord({ id: 1, via: { channel: 'api' }, system: {} }, { extractedAt: 'x', types: eventTypes }).row).toEqual({ id: 1, via: '{"channel":"api"}', _extracted_at: 'x', _rejects: null });
  });
});

describe('progress', () => {
  it('draws a bar and a human duration', async () => {
    const { bar, duration } = await import('../../src/cli/progress.js');
    expect(bar(0.31)).toBe('[######--------------] 31%');
    expect(bar(2)).toBe('[####################] 100%');
    expect(duration(59)).toBe('59s');
    expect(duration(3 * 3600 + 120)).toBe('3h02m');
  });
});
