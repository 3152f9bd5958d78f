import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ZendeskEtlError } from '../src/errors.js';
import { createPageParser, type PageEvent, type ParserKind } from '../src/source/page-parser.js';

/** Parse `bytes` fed in the given chunk sizes; returns the events, or the error. */
function parse(kind: ParserKind, bytes: Buffer, cuts: number[] = []): { events?: PageEvent[]; error?: ZendeskEtlError } {
  const out: PageEvent[] = [];
  const parser = createPageParser(kind, out);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  try {
    for (const p of [...points, bytes.length]) {
      if (p > prev) parser.write(bytes.subarray(prev, p));
      prev = p;
    }
    parser.end();
    return { events: out };
  } catch (err) {
    if (!(err instanceof ZendeskEtlError)) throw err;
    return { error: err };
  }
}

/** What `JSON.parse` of the whole page says, as the same events. */
function reference(text: string): { events?: PageEvent[]; error?: true } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { error: true };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { error: true };
  const events: PageEvent[] = [];
  // Key order as written; a repeated key appears each time in the stream but once in JSON.parse.
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (Array.isArray(value)) {
      events.push({ kind: 'array', key });
      value.forEach((v, index) => events.push({ kind: 'element', key, value: v, index }));
    } else events.push({ kind: 'member', key, value });
  }
  return { events };
}

const page = {
  tickets: [
    { id: 1, generated_timestamp: 10, description: 'quote " backslash \\ newline \n unicode é 東京 🙂 \u2028', tags: ['a', 'b'], via: { channel: 4, source: { from: {}, to: {} } } },
    { id: 2, generated_timestamp: 11, nested: [[[{ deep: [1, 2, { x: '}]' }] }]]], empty: {}, list: [] },
  ],
  count: 2,
  end_of_stream: true,
  next_page: 'https://x.zendesk.com/api/v2/incremental/tickets.json?start_time=11',
  end_time: 11,
  after_cursor: null,
  users: [{ id: 7, name: 'Zoë' }],
};

describe('page parsers: scan and stream-json', () => {
  for (const kind of ['scan', 'stream-json'] as const) {
    it(`${kind}: emits each ticket, sideload row and envelope member, whatever the key order`, () => {
      const text = JSON.stringify(page);
      const got = parse(kind, Buffer.from(text));
      expect(got.error).toBeUndefined();
      expect(got.events).toEqual(reference(text).events);
      // Pagination keys before the tickets, as some proxies reorder them.
      const reordered = JSON.stringify({ end_of_stream: true, end_time: 11, tickets: page.tickets });
      expect(parse(kind, Buffer.from(reordered)).events).toEqual(reference(reordered).events);
    });

    it(`${kind}: gives the same events for every way of cutting the bytes into chunks`, () => {
      const bytes = Buffer.from(JSON.stringify(page, null, 2));
      const want = reference(bytes.toString()).events;
      for (let cut = 1; cut < bytes.length; cut += 7) {
        expect(parse(kind, bytes, [cut]).events).toEqual(want);
      }
      // One byte at a time: every escape and every UTF-8 sequence is split.
      expect(parse(kind, bytes, [...bytes.keys()]).events).toEqual(want);
    });

    it(`${kind}: refuses malformed pages with a coded error and a byte offset`, () => {
      const bad = ['', '<html>', '{"tickets":[{"id":1}', '{"tickets":[{"id":1},]}', '{"tickets":[1 2]}', '{"a":1}}', '{"a":tru}', '{"a" 1}', '[1,2]', '{"tickets":[{"x":"\u0001"}]}'];
      for (const text of bad) {
        const got = parse(kind, Buffer.from(text));
        expect(got.error, text).toBeInstanceOf(ZendeskEtlError);
        expect(got.error!.code).toBe('ZDE_MALFORMED_PAGE');
        expect(typeof got.error!.byteOffset).toBe('number');
        expect(got.error!.message).toMatch(/malformed page/);
      }
    });
  }

  it('scan names the element and the byte where a page ends early', () => {
    const text = JSON.stringify(page);
    const cut = text.indexOf('"id":2') + 3;
    const truncated = Buffer.from(text.slice(0, cut));
    const got = parse('scan', truncated);
    expect(got.error!.message).toContain('element 1 of "tickets"');
    expect(got.error!.byteOffset).toBe(truncated.length);
  });
});

// ------------------------------------------------------------------ property-based, differential

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'binary' }),
    fc.string({ unit: fc.constantFrom('"', '\\', '/', '\n', '\u2028', 'é', '🙂', '{', '}', '[', ']', ',', ':', 'a') }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: fc.constantFrom('a', 'b', '"', '\\', 'é', '🙂') }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const envelope = fc.record({
  tickets: fc.array(fc.dictionary(fc.string(), jsonValue, { maxKeys: 5 }), { maxLength: 6 }),
  end_of_stream: fc.boolean(),
  end_time: fc.integer({ min: 0 }),
  extra: jsonValue,
});

const cuts = fc.array(fc.nat({ max: 5000 }), { maxLength: 12 });

describe('page parsers agree with JSON.parse (property-based)', () => {
  it('random envelopes, random chunking, random whitespace: scan == stream-json == JSON.parse', () => {
    fc.assert(
      fc.property(envelope, cuts, fc.boolean(), (doc, cutPoints, pretty) => {
        const text = JSON.stringify(doc, null, pretty ? 2 : undefined);
        const want = reference(text).events;
        const bytes = Buffer.from(text);
        expect(parse('scan', bytes, cutPoints).events).toEqual(want);
        // stream-json's Assembler drops "__proto__" keys (it assigns them); JSON.parse keeps them.
        if (!text.includes('"__proto__"')) expect(parse('stream-json', bytes, cutPoints).events).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('truncated and mutated pages: never a hang or a crash; scan fails exactly when JSON.parse fails', () => {
    fc.assert(
      fc.property(envelope, cuts, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (doc, cutPoints, at, byte, truncate) => {
        const bytes = Buffer.from(JSON.stringify(doc));
        const pos = at % Math.max(1, bytes.length);
        const mutated = truncate ? bytes.subarray(0, pos) : Buffer.concat([bytes.subarray(0, pos), Buffer.from([byte]), bytes.subarray(pos + 1)]);
        const want = reference(mutated.toString('utf8'));
        const got = parse('scan', mutated, cutPoints);
        if (want.error) {
          expect(got.error).toBeInstanceOf(ZendeskEtlError);
          expect(got.error!.byteOffset).toBeGreaterThanOrEqual(0);
        } else if (Object.keys(JSON.parse(mutated.toString('utf8')) as object).length === new Set(Object.keys(JSON.parse(mutated.toString('utf8')) as object)).size) {
          expect(got.events).toEqual(want.events);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('handles deep nesting and a string of megabytes split across chunks', () => {
    let deep: unknown = 'core';
    for (let i = 0; i < 2000; i++) deep = i % 2 ? [deep] : { k: deep };
    const huge = 'é"\\'.repeat(400_000);
    const text = JSON.stringify({ tickets: [{ id: 1, deep }, { id: 2, huge }], end_of_stream: true });
    const bytes = Buffer.from(text);
    const chunks = Array.from({ length: 200 }, (_, i) => Math.floor((bytes.length * (i + 1)) / 201));
    const got = parse('scan', bytes, chunks);
    expect(got.events).toEqual(reference(text).events);
  });
});
