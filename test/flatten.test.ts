import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coerce, flattenRecord, flattenTicket } from '../src/flatten/flatten.js';
import { FieldCatalog } from '../src/schema/custom-fields.js';
import { TICKET_COLUMNS } from '../src/schema/ticket-schema.js';

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
    expect(coerce('12345678901234567', 'int64')).toBeUndefined(); // beyond 2^53: kept raw, not rounded
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
        for (const v of Object.values(row)) {
          const ok = v === null || ['string', 'number', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x)));
          expect(ok).toBe(true);
        }
        if (rejects > 0) expect(Object.keys(JSON.parse(row._rejects as string) as object).length).toBe(rejects);
        // Typed columns hold their type or null.
        for (const c of TICKET_COLUMNS) {
          const v = row[c.name];
          if (v === undefined || v === null) continue;
          if (c.type === 'int64') expect(Number.isSafeInteger(v)).toBe(true);
          if (c.type === 'boolean') expect(typeof v).toBe('boolean');
          if (c.type === 'timestamp') expect(Number.isNaN(Date.parse(v as string))).toBe(false);
          if (c.type === 'list<int64>') expect((v as unknown[]).every((x) => Number.isSafeInteger(x))).toBe(true);
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

describe('progress', () => {
  it('draws a bar and a human duration', async () => {
    const { bar, duration } = await import('../src/cli/progress.js');
    expect(bar(0.31)).toBe('[######--------------] 31%');
    expect(bar(2)).toBe('[####################] 100%');
    expect(duration(59)).toBe('59s');
    expect(duration(3 * 3600 + 120)).toBe('3h02m');
  });
});
