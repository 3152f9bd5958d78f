import { isAscii } from 'node:buffer';
import { BACKSLASH, COMMA, LBRACE, LBRACKET, QUOTE, RBRACE, RBRACKET } from './json-bytes.js';

/**
 * Large strings: decode and unescape a JSON string's bytes in one pass into UTF-16, and parse an element
 * with its large strings put back where they sat. Pure: no I/O. Used by `page-scanner.ts`.
 */

/** "No value": the large-string path gave up; `JSON.parse` of the whole value decides. */
export const NONE: unique symbol = Symbol('none');

/** Hex digit values, -1 for any other byte. */
const HEX = new Int8Array(256).fill(-1);
for (let d = 0; d < 10; d++) HEX[0x30 + d] = d;
for (let d = 0; d < 6; d++) {
  HEX[0x41 + d] = 10 + d;
  HEX[0x61 + d] = 10 + d;
}
/** What the byte after a backslash stands for, -1 if it is not a one-character escape (`u` included). */
const UNESCAPE = new Int32Array(256).fill(-1);
UNESCAPE[0x22] = 0x22;
UNESCAPE[0x5c] = 0x5c;
UNESCAPE[0x2f] = 0x2f;
UNESCAPE[0x62] = 0x08;
UNESCAPE[0x66] = 0x0c;
UNESCAPE[0x6e] = 0x0a;
UNESCAPE[0x72] = 0x0d;
UNESCAPE[0x74] = 0x09;

/** Reused output of the decoder; a string longer than this gets a buffer of its own, not kept. */
const SCRATCH_MAX_UNITS = 1 << 21;
let scratch = new Uint16Array(0);

/**
 * The value of the JSON string token `bytes[start, end)`, exactly as
 * `JSON.parse(bytes.toString('utf8', start, end))` gives it, or `undefined` where the caller must ask
 * `JSON.parse`: invalid UTF-8 (replaced by U+FFFD there), an invalid escape, a raw control character.
 * The token is one the scanner delimited: a quote at each end and no unescaped quote between them.
 */
export function decodeJsonString(bytes: Buffer, start: number, end: number): string | undefined {
  if (end - start < 2 || bytes[start] !== QUOTE || bytes[end - 1] !== QUOTE) return undefined;
  if (isAscii(bytes.subarray(start, end))) {
    // On ASCII, V8's own path is faster than a JS loop, however many escapes (measured: 1.1-2.2x).
    try {
      return JSON.parse(bytes.toString('latin1', start, end)) as string;
    } catch {
      return undefined;
    }
  }
  return decodeUtf8String(bytes, start + 1, end - 1);
}

/** `decodeJsonString` for the content `bytes[from, to)` of a token, in one pass of UTF-8 decoding and unescaping. */
function decodeUtf8String(bytes: Buffer, from: number, to: number): string | undefined {
  const need = to - from; // one UTF-16 unit per byte at most
  let out = scratch;
  if (out.length < need) {
    out = new Uint16Array(Math.max(need, Math.min(out.length * 2, SCRATCH_MAX_UNITS)));
    if (out.length <= SCRATCH_MAX_UNITS) scratch = out;
  }
  let n = 0;
  let i = from;
  while (i < to) {
    let c = bytes[i]!;
    // Runs of printable ASCII.
    while (c >= 0x20 && c < 0x80 && c !== BACKSLASH) {
      out[n++] = c;
      if (++i === to) return utf16(out, n);
      c = bytes[i]!;
    }
    if (c === BACKSLASH) {
      if (i + 2 > to) return undefined;
      const e = bytes[i + 1]!;
      if (e === 0x75) {
        // \uXXXX: the code unit as written, lone surrogates included (as JSON.parse does).
        if (i + 6 > to) return undefined;
        const u = (HEX[bytes[i + 2]!]! << 12) | (HEX[bytes[i + 3]!]! << 8) | (HEX[bytes[i + 4]!]! << 4) | HEX[bytes[i + 5]!]!;
        if (u < 0) return undefined;
        out[n++] = u;
        i += 6;
      } else {
        const u = UNESCAPE[e]!;
        if (u < 0) return undefined;
        out[n++] = u;
        i += 2;
      }
    } else if (c < 0x20) {
      return undefined; // a raw control character: JSON.parse refuses it
    } else if (c < 0xe0) {
      if (c < 0xc2 || i + 2 > to) return undefined;
      const c1 = bytes[i + 1]!;
      if ((c1 & 0xc0) !== 0x80) return undefined;
      out[n++] = ((c & 0x1f) << 6) | (c1 & 0x3f);
      i += 2;
    } else if (c < 0xf0) {
      if (i + 3 > to) return undefined;
      const c1 = bytes[i + 1]!;
      const c2 = bytes[i + 2]!;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) return undefined;
      const cp = ((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
      if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return undefined; // overlong, or an encoded surrogate
      out[n++] = cp;
      i += 3;
    } else {
      if (c > 0xf4 || i + 4 > to) return undefined;
      const c1 = bytes[i + 1]!;
      const c2 = bytes[i + 2]!;
      const c3 = bytes[i + 3]!;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80) return undefined;
      const cp = ((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f);
      if (cp < 0x10000 || cp > 0x10ffff) return undefined;
      const v = cp - 0x10000;
      out[n++] = 0xd800 | (v >> 10);
      out[n++] = 0xdc00 | (v & 0x3ff);
      i += 4;
    }
  }
  return utf16(out, n);
}

function utf16(units: Uint16Array, n: number): string {
  return Buffer.from(units.buffer, units.byteOffset, n * 2).toString('utf16le');
}

/** Text for `JSON.parse`: ASCII is decoded as Latin-1, the same characters ~10x faster than V8's UTF-8 decoder. */
export function jsonText(bytes: Buffer, start = 0, end = bytes.length): string {
  return isAscii(bytes.subarray(start, end)) ? bytes.toString('latin1', start, end) : bytes.toString('utf8', start, end);
}

/**
 * Parse a captured value (`bytes`, starting at absolute offset `base`) that holds the large strings
 * `spans` (absolute [start, end) pairs, in order), or give up with `NONE`.
 */
export function parseWithLargeStrings(bytes: Buffer, spans: readonly number[], base: number): unknown {
  if (spans.length === 2 && spans[0] === base && spans[1]! - base === bytes.length) {
    // The value is the string itself (a key, a member or an element).
    return decodeJsonString(bytes, 0, bytes.length) ?? NONE;
  }
  const rel: number[] = [];
  const strings: string[] = [];
  let text = '';
  let prev = 0;
  for (let k = 0; k < spans.length; k += 2) {
    const s = spans[k]! - base;
    const e = spans[k + 1]! - base;
    // Cuts at quotes, which are ASCII: the UTF-8 decode of the pieces is that of the whole.
    if (isAscii(bytes.subarray(s, e))) {
      // JSON.parse is fastest on ASCII: leave it there, only decoded faster.
      text += bytes.toString('utf8', prev, s) + bytes.toString('latin1', s, e);
    } else {
      const str = decodeUtf8String(bytes, s + 1, e - 1);
      if (str === undefined) return NONE;
      strings.push(str);
      rel.push(s, e);
      text += `${bytes.toString('utf8', prev, s)}""`;
    }
    prev = e;
  }
  text += bytes.toString('utf8', prev);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return NONE; // JSON.parse of the whole value says what is wrong
  }
  if (strings.length === 0) return value;
  const found = locate(bytes, rel);
  if (found === undefined) return NONE;
  // An object on the way to a large string that repeats a key: JSON.parse kept the last member, and a
  // path cannot say which one it was. Rare (Zendesk never does it): let JSON.parse do all of it.
  // Outermost first (an object closes after all it holds), so each path leads where the text says.
  for (let j = found.objects.length - 1; j >= 0; j--) {
    const { path, keys } = found.objects[j]!;
    if (Object.keys(at(value, path, path.length) as object).length !== keys) return NONE;
  }
  for (let k = 0; k < found.paths.length; k++) {
    const path = found.paths[k]!;
    // JSON.parse made every member an own data property ("__proto__" included): a plain store replaces it.
    (at(value, path, path.length - 1) as Record<string | number, unknown>)[path[path.length - 1]!] = strings[k];
  }
  return value;
}

/** The value `depth` steps down `path` from `value`. */
function at(value: unknown, path: readonly (string | number)[], depth: number): unknown {
  let v = value;
  for (let d = 0; d < depth; d++) v = (v as Record<string | number, unknown>)[path[d]!];
  return v;
}

interface Located {
  /** The path (keys and indices) to each large string. */
  paths: (string | number)[][];
  /** Each object on one of those paths, with the number of members it was written with. */
  objects: { path: (string | number)[]; keys: number }[];
}

/**
 * Where the large strings `spans` (relative [start, end) pairs) of the JSON text `bytes`, which
 * `JSON.parse` has accepted, sit. Undefined if one of them is a key.
 */
function locate(bytes: Buffer, spans: readonly number[]): Located | undefined {
  const paths: (string | number)[][] = [];
  const objects: Located['objects'] = [];
  // One entry per open container: an object (its last key's bytes and its key count) or an array (its index).
  const isObject: boolean[] = [];
  const keyStart: number[] = [];
  const keyEnd: number[] = [];
  const count: number[] = [];
  const holds: ((string | number)[] | null)[] = []; // the path to an object that holds a large string
  let depth = 0;
  let expectKey = false;
  let k = 0;
  const len = bytes.length;
  const pathTo = (d: number): (string | number)[] => {
    const path: (string | number)[] = [];
    for (let j = 0; j < d; j++) path.push(isObject[j] ? decodeKey(bytes, keyStart[j]!, keyEnd[j]!) : count[j]!);
    return path;
  };
  for (let i = 0; i < len; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      if (expectKey) {
        if (i === spans[k]) return undefined;
        const end = stringEnd(bytes, i + 1);
        keyStart[depth - 1] = i;
        keyEnd[depth - 1] = end;
        count[depth - 1]!++;
        expectKey = false;
        i = end - 1;
      } else if (i === spans[k]) {
        const path = pathTo(depth);
        paths.push(path);
        for (let j = 0; j < depth; j++) if (isObject[j] && holds[j] === null) holds[j] = path.slice(0, j);
        i = spans[k + 1]! - 1;
        k += 2;
      } else {
        i = stringEnd(bytes, i + 1) - 1;
      }
    } else if (c === LBRACE || c === LBRACKET) {
      isObject[depth] = c === LBRACE;
      count[depth] = 0;
      holds[depth] = null;
      depth++;
      expectKey = c === LBRACE;
    } else if (c === RBRACE || c === RBRACKET) {
      depth--;
      const path = holds[depth];
      if (path !== null && path !== undefined) objects.push({ path, keys: count[depth]! });
      expectKey = false;
    } else if (c === COMMA) {
      if (isObject[depth - 1]) expectKey = true;
      else count[depth - 1]!++;
    }
  }
  return k === spans.length ? { paths, objects } : undefined;
}
/** The end (after the closing quote) of the string whose content starts at `from`. */
function stringEnd(bytes: Buffer, from: number): number {
  let i = from;
  for (;;) {
    const q = bytes.indexOf(QUOTE, i);
    if (q < 0) return bytes.length; // not reached: the text parsed
    let n = 0;
    for (let b = q - 1; b >= i && bytes[b] === BACKSLASH; b--) n++;
    if ((n & 1) === 0) return q + 1;
    i = q + 1;
  }
}

function decodeKey(bytes: Buffer, start: number, end: number): string {
  for (let i = start + 1; i < end - 1; i++) {
    if (bytes[i] === BACKSLASH) return JSON.parse(bytes.toString('utf8', start, end)) as string;
  }
  return bytes.toString('utf8', start + 1, end - 1);
}
