import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ZendeskEtlError } from '../../src/core/errors.js';
import { createPageParser, type PageEvent, type ParserKind } from '../../src/source/page-parser.js';
import { LARGE_STRING_BYTES, type PageScannerOptions } from '../../src/source/page-scanner.js';

/** Parse `bytes` fed in the given chunk sizes; returns the events, or the error. */
function parse(kind: ParserKind, bytes: Buffer, cuts: number[] = [], options?: PageScannerOptions): { events?: PageEvent[]; error?: ZendeskEtlError } {
  const out: PageEvent[] = [];
  const parser = createPageParser(kind, out, options);
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

  it('every string through the large-string path (thresholds of 1 to 64 bytes): scan == stream-json == JSON.parse', () => {
    fc.assert(
      fc.property(envelope, cuts, fc.boolean(), fc.integer({ min: 1, max: 64 }), (doc, cutPoints, pretty, threshold) => {
        const text = JSON.stringify(doc, null, pretty ? 2 : undefined);
        const want = reference(text).events;
        const bytes = Buffer.from(text);
        expect(parse('scan', bytes, cutPoints, { largeStringBytes: threshold }).events).toEqual(want);
        if (!text.includes('"__proto__"')) expect(parse('stream-json', bytes, cutPoints).events).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  const threshold = fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 64 }));

  it('truncated and mutated pages: never a hang or a crash; scan fails exactly when JSON.parse fails', () => {
    fc.assert(
      fc.property(envelope, cuts, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), threshold, (doc, cutPoints, at, byte, truncate, largeStringBytes) => {
        const bytes = Buffer.from(JSON.stringify(doc));
        const pos = at % Math.max(1, bytes.length);
        const mutated = truncate ? bytes.subarray(0, pos) : Buffer.concat([bytes.subarray(0, pos), Buffer.from([byte]), bytes.subarray(pos + 1)]);
        const want = reference(mutated.toString('utf8'));
        const got = parse('scan', mutated, cutPoints, { largeStringBytes });
        if (want.error) {
          expect(got.error).toBeInstanceOf(ZendeskEtlError);
          expect(got.error!.byteOffset).toBeGreaterThanOrEqual(0);
        } else if (Object.keys(JSON.parse(mutated.toString('utf8')) as object).length === new Set(Object.keys(JSON.parse(mutated.toString('utf8')) as object)).size) {
          expect(got.events).toEqual(want.events);
        }
      }),
      { numRuns: 1000 },
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

// ------------------------------------------------------------------ huge strings

/** Pieces of escape-dense text (the characters): JSON writes most with escapes, lone surrogates included. */
const PIECES = ['"q"', '\\', '\n', '\r\n', '\t', '\u0000', '\u001b', '\b', '\f', '/', 'é', '東京', '🙂', '\ud800', '\udfff', '\u2028', '<a href="x">', 'ascii text ', '{"k":[1]}'];

/** A deterministic escape-dense string of about `bytes` bytes of JSON. */
function dense(seed: number, bytes: number): string {
  let x = seed >>> 0 || 1;
  const parts: string[] = [];
  for (let length = 0; length < bytes / 1.4; ) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const piece = PIECES[(x >>> 0) % PIECES.length]!;
    parts.push(piece);
    length += Buffer.byteLength(piece);
  }
  return parts.join('');
}

describe('page parsers on huge strings', () => {
  it('escape-dense strings of 125 KB and more, cut anywhere: scan == stream-json == JSON.parse', () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.nat({ max: 700_000 }), { maxLength: 30 }), (seed, cutPoints) => {
        const doc = { tickets: [{ id: 1, description: dense(seed, 125_000), tags: ['a'] }, { id: 2, description: dense(seed + 1, 200_000), via: { source: { body: dense(seed + 2, 9000) } } }], end_of_stream: true, note: dense(seed + 3, 20_000) };
        const text = JSON.stringify(doc);
        const bytes = Buffer.from(text);
        const want = reference(text).events;
        expect(parse('scan', bytes, cutPoints).events).toEqual(want);
        expect(parse('scan', bytes, [...cutPoints, 64 * 1024, 128 * 1024, 192 * 1024]).events).toEqual(want);
        expect(parse('stream-json', bytes, cutPoints).events).toEqual(want);
      }),
      { numRuns: 12 },
    );
  });

  it('lone surrogates escaped as \\uD800 (either case), and pairs split by a chunk boundary', () => {
    const body = 'é'.repeat(LARGE_STRING_BYTES);
    const text = `{"tickets":[{"d":"${body}\\uD800 \\udfff \\uD83D\\uDE00 \\uDE00\\uD83D \\uDBFF\\uDFFF"}]}`;
    const bytes = Buffer.from(text);
    const want = reference(text).events;
    expect(want).toBeDefined();
    const at = bytes.indexOf('\\uD83D');
    for (let cut = at - 2; cut < at + 14; cut++) expect(parse('scan', bytes, [cut]).events).toEqual(want);
    expect(parse('stream-json', bytes).events).toEqual(want);
  });

  it('multi-byte UTF-8 split at every byte across chunk boundaries', () => {
    const s = 'aé東🙂\u00e9'.repeat(3000); // 2-, 3- and 4-byte sequences next to escapes
    const text = JSON.stringify({ tickets: [{ d: s }], m: s });
    const bytes = Buffer.from(text);
    const want = reference(text).events;
    const mid = bytes.indexOf('🙂', 20_000);
    for (let cut = mid - 8; cut < mid + 8; cut++) {
      expect(parse('scan', bytes, [cut]).events).toEqual(want);
      expect(parse('scan', bytes, [cut, cut + 1, cut + 2, cut + 3]).events).toEqual(want);
    }
    // Every byte its own chunk.
    expect(parse('scan', bytes, [...bytes.keys()]).events).toEqual(want);
  });

  it('invalid escapes, raw control characters and bad UTF-8 in a huge string: fails (or decodes) exactly like JSON.parse', () => {
    // The bad bytes go between two whole pieces of escape-dense text, never inside an escape.
    const [before, after] = JSON.stringify({ tickets: [{ id: 1 }, { id: 2, description: `${dense(7, 2 * LARGE_STRING_BYTES)}@BAD@${dense(8, LARGE_STRING_BYTES)}` }], end_of_stream: true }).split('@BAD@') as [string, string];
    const cases: [string, Buffer][] = [
      ...['\\x', '\\U0041', "\\'", '\\u12G4', '\\u12', '\\ ', '\\\n', '\n', '\t', '\u0000', '\u001f'].map((bad): [string, Buffer] => [JSON.stringify(bad), Buffer.from(bad)]),
      ...[[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]].map((b): [string, Buffer] => [`bytes ${b.join(',')}`, Buffer.from(b)]),
    ];
    for (const [name, bad] of cases) {
      const bytes = Buffer.concat([Buffer.from(before), bad, Buffer.from(after)]);
      const at = Buffer.byteLength(before);
      let parses = true;
      try {
        JSON.parse(bytes.toString('utf8'));
      } catch {
        parses = false;
      }
      for (const cutPoints of [[], [70_000], [at - 1], [at + 1, at + 2], [at + 3]]) {
        const got = parse('scan', bytes, cutPoints);
        const plain = parse('scan', bytes, cutPoints, { largeStringBytes: Infinity });
        if (parses) {
          expect(got.error, name).toBeUndefined();
          expect(got.events, name).toEqual(reference(bytes.toString('utf8')).events);
        } else {
          expect(got.error, name).toBeInstanceOf(ZendeskEtlError);
          expect(got.error!.code).toBe('ZDE_MALFORMED_PAGE');
          expect(got.error!.message).toContain('element 1 of "tickets" is not valid JSON');
          expect(got.error!.byteOffset).toBe(bytes.indexOf('{"id":2'));
          expect(got.error!.message).toBe(plain.error!.message);
        }
      }
      expect(parses, name).toBe(name.startsWith('bytes')); // bad UTF-8 becomes U+FFFD; the rest is refused
    }
  });

  it(`strings of ${LARGE_STRING_BYTES - 1}, ${LARGE_STRING_BYTES} and ${LARGE_STRING_BYTES + 1} bytes (the threshold): all parsers agree`, () => {
    for (const len of [LARGE_STRING_BYTES - 1, LARGE_STRING_BYTES, LARGE_STRING_BYTES + 1]) {
      for (const fill of ['é', '\\n', '🙂']) {
        let inner = '';
        while (Buffer.byteLength(inner) + Buffer.byteLength(fill) <= len - 2) inner += fill;
        inner += 'a'.repeat(len - 2 - Buffer.byteLength(inner));
        const tok = `"${inner}"`;
        expect(Buffer.byteLength(tok)).toBe(len);
        const text = `{"tickets":[{"d":${tok},"e":[${tok}]},${tok}],"m":${tok}}`;
        const bytes = Buffer.from(text);
        const want = reference(text).events;
        for (const kind of ['scan', 'stream-json'] as const) {
          expect(parse(kind, bytes).events).toEqual(want);
          expect(parse(kind, bytes, [len, len + 7, 2 * len]).events).toEqual(want);
        }
      }
    }
  });
});
