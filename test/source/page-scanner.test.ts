import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ZendeskEtlError } from '../../src/core/errors.js';
import { decodeJsonString } from '../../src/source/large-strings.js';
import { LARGE_STRING_BYTES, PageScanner, type PageScannerOptions } from '../../src/source/page-scanner.js';

// ------------------------------------------------------------------ helpers

const SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A small deterministic PRNG, so one generated seed decides every spelling choice. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/**
 * `s` as a JSON string token, each character spelled one of the ways JSON allows: raw UTF-8 where it
 * may be, a short escape, or `\uXXXX` in either case (lone surrogates only escaped; they have no UTF-8).
 */
function spell(s: string, seed: number): string {
  const rand = rng(seed);
  let out = '"';
  for (const ch of s) {
    const u = ch.charCodeAt(0);
    const lone = ch.length === 1 && u >= 0xd800 && u <= 0xdfff;
    const mayBeRaw = u >= 0x20 && ch !== '"' && ch !== '\\' && !lone;
    const r = rand();
    if (mayBeRaw && r < 0.6) out += ch;
    else if (SHORT[ch] !== undefined && r < 0.8) out += SHORT[ch];
    else {
      for (let k = 0; k < ch.length; k++) {
        const hex = ch.charCodeAt(k).toString(16).padStart(4, '0');
        out += `\\u${rand() < 0.5 ? hex : hex.toUpperCase()}`;
      }
    }
  }
  return `${out}"`;
}

const char = fc.oneof(
  fc.constantFrom('"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', '\u0080', '\u07ff', '\u0800', '\u2028', '\uffff', 'é', '東', '🙂', '𝔘', 'a', ' '),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), // lone surrogates
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const text = fc.array(char, { maxLength: 80 }).map((a) => a.join(''));

/** Scan `bytes` cut at `cuts`; the elements of every array and the members, or the error. */
function scan(bytes: Buffer, cuts: number[] = [], options: PageScannerOptions = {}): { values: unknown[]; large: number; error?: ZendeskEtlError } {
  const values: unknown[] = [];
  const scanner = new PageScanner({ element: (_k, v) => values.push(v), member: (_k, v) => values.push(v), array: () => {} }, options);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  try {
    for (const p of [...points, bytes.length]) {
      if (p > prev) scanner.write(bytes.subarray(prev, p));
      prev = p;
    }
    scanner.end();
    return { values, large: scanner.largeStrings };
  } catch (err) {
    if (!(err instanceof ZendeskEtlError)) throw err;
    return { values, large: scanner.largeStrings, error: err };
  }
}

/** What JSON.parse makes of the page, as `scan` lists it. */
function expected(page: string): unknown[] {
  const doc = JSON.parse(page) as Record<string, unknown>;
  return Object.values(doc).flatMap((v) => (Array.isArray(v) ? v : [v]));
}

/** A token of exactly `bytes` bytes (quotes included): `é`s, then `a` or `\n` to make up the length. */
function tokenOfBytes(bytes: number, ascii: boolean): string {
  const inner = bytes - 2;
  if (ascii) return `"${'\\n'.repeat(Math.floor(inner / 2))}${inner % 2 ? 'a' : ''}"`;
  return `"${'é'.repeat(Math.floor(inner / 2))}${inner % 2 ? 'a' : ''}"`;
}

// ------------------------------------------------------------------ the string decoder

describe('decodeJsonString: the large-string decoder is JSON.parse, or declines', () => {
  it('any string, spelled any way JSON allows (escapes, \\uXXXX in both cases, lone surrogates, raw UTF-8): the same value', () => {
    fc.assert(
      fc.property(text, fc.integer(), fc.nat({ max: 5 }), fc.nat({ max: 3 }), (s, seed, pre, post) => {
        const token = spell(s, seed);
        expect(JSON.parse(token)).toBe(s);
        // Somewhere inside a larger buffer, as the scanner hands it over.
        const before = Buffer.from('{"x":'.slice(0, pre));
        const bytes = Buffer.concat([before, Buffer.from(token), Buffer.from(',]}'.slice(0, post))]);
        expect(decodeJsonString(bytes, before.length, before.length + Buffer.byteLength(token))).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('invalid escapes, raw control bytes and bad UTF-8: never a value JSON.parse would not give', () => {
    const bad = [
      '\\x', '\\U0041', "\\'", '\\a', '\\0', '\\ ', '\\\n', '\\u12G4', '\\u12', '\\u', '\\uD80', '\\u{41}', '\\u-123',
      '\u0000', '\u0009', '\n', '\u001f',
    ].map((t) => Buffer.from(t));
    const badUtf8 = [[0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xc2], [0xc2, 0x41], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xe2, 0x82], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8], [0xfe], [0xff], [0xf0, 0x9f, 0x99]].map((b) => Buffer.from(b));
    fc.assert(
      fc.property(text, fc.integer(), fc.constantFrom(...bad, ...badUtf8), fc.nat(), fc.boolean(), (s, seed, junk, at, ascii) => {
        const good = Buffer.from(spell((ascii ? '' : 'é') + s, seed));
        const pos = 1 + (at % (good.length - 1)); // after the opening quote, up to before the closing one
        const bytes = Buffer.concat([good.subarray(0, pos), junk, good.subarray(pos)]);
        // Keep it one token: a stray quote would end it early, which the scanner never hands over.
        if (stringTokenEnd(bytes) !== bytes.length) return;
        let want: string | undefined;
        try {
          want = JSON.parse(bytes.toString('utf8')) as string;
        } catch {
          want = undefined;
        }
        const got = decodeJsonString(bytes, 0, bytes.length);
        if (want === undefined) expect(got).toBeUndefined();
        else if (got !== undefined) expect(got).toBe(want);
      }),
      { numRuns: 3000 },
    );
  });

  it('declines bad UTF-8 (JSON.parse of the decoded text then gives U+FFFD) and accepts every valid sequence boundary', () => {
    expect(decodeJsonString(Buffer.from([0x22, 0xc3, 0xa9, 0xff, 0x22]), 0, 5)).toBeUndefined();
    expect(decodeJsonString(Buffer.from([0x22, 0xc3, 0xa9, 0xed, 0xa0, 0x80, 0x22]), 0, 7)).toBeUndefined(); // an encoded surrogate
    for (const cp of [0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff]) {
      const s = `é${String.fromCodePoint(cp)}`;
      const bytes = Buffer.from(JSON.stringify(s));
      expect(decodeJsonString(bytes, 0, bytes.length)).toBe(s);
    }
    // DEL is not a control character in JSON.
    expect(decodeJsonString(Buffer.from('"é\u007f"'), 0, Buffer.byteLength('"é\u007f"'))).toBe('é\u007f');
  });

  it('lone and paired surrogates written as escapes, in any case', () => {
    for (const [token, want] of [
      ['"é\\uD800"', 'é\ud800'],
      ['"é\\udfff\\uD800"', 'é\udfff\ud800'],
      ['"é\\uD83D\\uDE00"', 'é😀'],
      ['"é\\ud83d\\ude00"', 'é😀'],
      ['"é\\uDE00\\uD83D"', 'é\ude00\ud83d'],
      ['"\\uD83D🙂"', '\ud83d🙂'],
    ] as const) {
      const bytes = Buffer.from(token);
      expect(decodeJsonString(bytes, 0, bytes.length)).toBe(want);
      expect(JSON.parse(token)).toBe(want);
    }
  });
});

// ------------------------------------------------------------------ the threshold

describe('PageScanner: strings at the large-string threshold', () => {
  const T = LARGE_STRING_BYTES;

  it(`takes strings of ${T} bytes and more (quotes included), not ${T - 1}, wherever they sit`, () => {
    for (const ascii of [false, true]) {
      for (const len of [T - 1, T, T + 1]) {
        const tok = tokenOfBytes(len, ascii);
        expect(Buffer.byteLength(tok)).toBe(len);
        const large = len >= T ? 1 : 0;
        const cases: [string, number][] = [
          [`{"tickets":[${tok}]}`, large], // the element is the string
          [`{"extra":${tok}}`, large], // a member
          [`{${tok}:1}`, large], // a key of the envelope
          [`{"tickets":[{"id":1,"description":${tok},"tags":["a"]}]}`, large],
          [`{"tickets":[{"id":1,"list":[0,${tok},{"k":${tok}}]}]}`, 2 * large],
          [`{"tickets":[{${tok}:1,"x":"é"}]}`, large], // a key inside an element: declined, JSON.parse decides
          [`{"tickets":[{"a":${tok},"a":"é"}]}`, large], // a repeated key: declined
        ];
        for (const [page, count] of cases) {
          const bytes = Buffer.from(page);
          for (const cuts of [[], [Math.floor(bytes.length / 2)], [20, 21, 22, bytes.length - 3]]) {
            const got = scan(bytes, cuts);
            expect(got.error, page.slice(0, 40)).toBeUndefined();
            expect(got.values).toEqual(expected(page));
            expect(got.large, `${len} bytes, ${ascii ? 'ASCII' : 'UTF-8'}: ${page.slice(0, 30)}`).toBe(count);
          }
        }
      }
    }
  });

  it('a custom threshold counts the same way (off by one on both sides)', () => {
    // Above the envelope's own keys ("tickets" is 9 bytes), which count too.
    for (const threshold of [10, 11, 16, 17, 100]) {
      for (const len of [threshold - 1, threshold, threshold + 1]) {
        if (len < 2) continue;
        const tok = tokenOfBytes(len, false);
        const page = `{"tickets":[{"d":${tok}}],"m":${tok}}`;
        const got = scan(Buffer.from(page), [7, 13], { largeStringBytes: threshold });
        expect(got.values).toEqual(expected(page));
        expect(got.large).toBe(len >= threshold ? 2 : 0);
      }
    }
  });

  it('largeStringBytes: Infinity turns the path off', () => {
    const page = `{"tickets":[{"d":${tokenOfBytes(3 * T, false)}}]}`;
    const got = scan(Buffer.from(page), [], { largeStringBytes: Infinity });
    expect(got.large).toBe(0);
    expect(got.values).toEqual(expected(page));
  });
});

/** Where the string token starting at byte 0 ends (after its closing quote). */
function stringTokenEnd(bytes: Buffer): number {
  for (let i = 1; i < bytes.length; i++) {
    if (bytes[i] === 0x5c) i++;
    else if (bytes[i] === 0x22) return i + 1;
  }
  return -1;
}

// ------------------------------------------------------------------ hand-written JSON, differential

/** A JSON value as written: objects as lists of members, so keys can repeat. */
type Node = null | boolean | number | string | Node[] | { members: [string, Node][] };

const key = fc.oneof(fc.constantFrom('a', 'b', 'é', '__proto__', '0', '1', '', 'a\\"b'), text);
const node: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie('node')), { maxLength: 5 }).map((members) => ({ members })),
  ),
})).node;

/** `n` written out, strings spelled at random, whitespace sprinkled at random. */
function write(n: Node, rand: () => number): string {
  const ws = (): string => [' ', '', '', '\n', '\t', '\r\n  '][Math.floor(rand() * 6)]!;
  if (typeof n === 'string') return spell(n, Math.floor(rand() * 2 ** 31));
  if (n === null || typeof n !== 'object') return JSON.stringify(n);
  if (Array.isArray(n)) return `[${ws()}${n.map((v) => write(v, rand) + ws()).join(`,${ws()}`)}]`;
  return `{${ws()}${n.members.map(([k, v]) => `${spell(k, Math.floor(rand() * 2 ** 31))}${ws()}:${ws()}${write(v, rand)}${ws()}`).join(`,${ws()}`)}}`;
}

describe('PageScanner with the large-string path: hand-written JSON', () => {
  it('repeated keys around a large string, __proto__, escaped and large keys: JSON.parse values', () => {
    const big = `"${'é\\"'.repeat(8)}"`; // 34 bytes, escapes and UTF-8
    const pages = [
      `{"tickets":[{"a":[{"x":${big}}],"a":5}]}`, // a repeat replaces the array that held it
      `{"tickets":[{"a":{"b":${big}},"a":{"b":1}}]}`,
      `{"tickets":[{"a":${big},"a":""}]}`, // the later member is what JSON.parse keeps
      `{"tickets":[{"a":1,"a":${big}}]}`, // ...and here it is the large string
      `{"tickets":[{"o":{"p":[0,{"q":${big}}]},"o":{"p":[0,{"q":${big}}]}}]}`,
      `{"tickets":[{"__proto__":${big},"k":[1,${big},{"\\u0061":${big}}]}]}`,
      `{"tickets":[{${big}:1,"b":${big}}]}`, // a large key
      `{"tickets":[[${big},[${big}],{"":${big}}]],"m":{"n":${big}}}`,
    ];
    for (const page of pages) {
      for (const cuts of [[], [15], [16, 30, 31, 32]]) {
        const got = scan(Buffer.from(page), cuts, { largeStringBytes: 20 });
        expect(got.error, page).toBeUndefined();
        expect(JSON.stringify(got.values), page).toBe(JSON.stringify(expected(page)));
        expect(got.large).toBeGreaterThan(0);
      }
    }
  });

  it('repeated keys, __proto__, escaped keys, whitespace, any threshold, any chunking: JSON.parse values, the plain path errors', () => {
    fc.assert(
      fc.property(
        fc.array(node, { maxLength: 4 }),
        node,
        fc.integer(),
        fc.integer({ min: 1, max: 48 }),
        fc.array(fc.nat({ max: 4000 }), { maxLength: 10 }),
        (elements, extra, seed, threshold, cuts) => {
          const rand = rng(seed);
          const page = `{"tickets":[${elements.map((e) => write(e, rand)).join(',')}],"extra":${write(extra, rand)}}`;
          const bytes = Buffer.from(page);
          const got = scan(bytes, cuts, { largeStringBytes: threshold });
          expect(got.error).toBeUndefined();
          expect(got.values).toEqual(expected(page));
          // toEqual does not see "__proto__" own properties: compare the JSON too.
          expect(JSON.stringify(got.values)).toBe(JSON.stringify(expected(page)));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('mutated hand-written pages: the large-string path fails where the plain path fails, with the same message and byte', () => {
    const junk = fc.constantFrom(0x22, 0x5c, 0x00, 0x0a, 0x1f, 0x7f, 0x80, 0xbf, 0xc3, 0xe2, 0xed, 0xf0, 0xff, 0x75, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d);
    fc.assert(
      fc.property(fc.array(node, { maxLength: 3 }), fc.integer(), fc.integer({ min: 1, max: 48 }), fc.nat(), junk, fc.constantFrom('replace', 'insert', 'truncate'), fc.array(fc.nat({ max: 4000 }), { maxLength: 6 }), (elements, seed, threshold, at, byte, how, cuts) => {
        const rand = rng(seed);
        const good = Buffer.from(`{"tickets":[${elements.map((e) => write(e, rand)).join(',')}]}`);
        const pos = at % good.length;
        const bytes =
          how === 'truncate'
            ? good.subarray(0, pos)
            : Buffer.concat([good.subarray(0, pos), Buffer.from([byte]), good.subarray(how === 'replace' ? pos + 1 : pos)]);
        const plain = scan(bytes, cuts, { largeStringBytes: Infinity });
        const large = scan(bytes, cuts, { largeStringBytes: threshold });
        let parses = true;
        try {
          JSON.parse(bytes.toString('utf8'));
        } catch {
          parses = false;
        }
        expect(large.error === undefined).toBe(plain.error === undefined);
        if (!parses) expect(large.error).toBeInstanceOf(ZendeskEtlError);
        if (large.error) {
          expect(large.error.code).toBe('ZDE_MALFORMED_PAGE');
          expect(large.error.message).toBe(plain.error!.message);
          expect(large.error.byteOffset).toBe(plain.error!.byteOffset);
        } else {
          expect(JSON.stringify(large.values)).toBe(JSON.stringify(plain.values));
          if (parses) expect(large.values).toEqual(expected(bytes.toString('utf8')));
        }
      }),
      { numRuns: 1500 },
    );
  });
});
