import { isAscii } from 'node:buffer';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';

/**
 * A byte-level scanner for one page envelope: `{ "tickets": [ {...}, ... ], "end_of_stream": true, ... }`.
 *
 * It finds the bounds of each element of every top-level array (tracking strings, escapes and depth)
 * and hands that element's bytes to `JSON.parse`, so the heavy lifting runs in V8's native parser while
 * only one element is ever held in memory. Other top-level members (`end_time`, `after_cursor`, ...) are
 * captured whole, wherever they sit in the envelope. The structure outside elements is checked byte by
 * byte; the inside of each element is checked by `JSON.parse`. Any malformed input throws a
 * `ZDE_MALFORMED_PAGE` error with the byte offset where it was seen.
 *
 * Large strings (`largeStringBytes`, 8 KiB by default) take a cheaper path. On non-ASCII text, V8's
 * UTF-8 decoding plus `JSON.parse` cost ~7 ns a byte when escapes are dense, where one JS pass that
 * decodes and unescapes into a UTF-16 buffer costs ~3 ns: the element is parsed by `JSON.parse` with
 * `""` in place of each such string, and the decoded strings are put back where a structural pass
 * over the element's bytes says they sat. ASCII strings stay with `JSON.parse`, which is faster on
 * them, but are decoded as Latin-1 (~10x faster than UTF-8, same characters). Anything unusual
 * (invalid UTF-8, an invalid escape, a raw control byte, a large key, a repeated key, a parse error)
 * falls back to `JSON.parse` of the whole element, so values and errors are exactly `JSON.parse`'s.
 *
 * Pure: no streams, no I/O. `write()` chunks in, `end()` at the end; handlers are called synchronously.
 */
export interface PageScannerHandler {
  /** One element of a top-level array (e.g. a ticket of `tickets`, a user of a `users` sideload). */
  element(key: string, value: unknown, index: number): void;
  /** A top-level member that is not an array. */
  member(key: string, value: unknown): void;
  /** A top-level array starts (its elements follow). */
  array(key: string): void;
}

export interface PageScannerOptions {
  /** The largest element or member, in bytes, before the page is refused. Default 512 MiB. */
  maxValueBytes?: number;
  /**
   * Strings at least this many bytes long (quotes included) are decoded by the scanner rather than by
   * `JSON.parse`. Default 8 KiB; `Infinity` turns the large-string path off.
   */
  largeStringBytes?: number;
}

/**
 * Default `largeStringBytes`. Measured per element (a ticket with one string of this size): the path
 * breaks even at 1.5-2.5 KB and gains 1.2-1.4x at 8 KB on escape-dense, non-ASCII and ASCII text
 * alike; 8 KiB leaves typical tickets (descriptions of 2-3 KB) on the plain path.
 */
export const LARGE_STRING_BYTES = 8 * 1024;

const enum S {
  Start,
  ObjFirst,
  Key,
  Colon,
  Value,
  Member,
  AfterValue,
  ObjKey,
  ArrFirst,
  Element,
  ArrNext,
  ArrElem,
  Done,
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function describe(c: number): string {
  return c >= 0x20 && c < 0x7f ? JSON.stringify(String.fromCharCode(c)) : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

export class PageScanner {
  readonly #handler: PageScannerHandler;
  readonly #maxValueBytes: number;
  #state: S = S.Start;
  /** Bytes of all chunks before the current one. */
  #base = 0;
  #key = '';
  #index = 0;
  // The value being captured.
  /** Its bytes from the chunks before the current one, in a buffer reused from one value to the next. */
  #held: Buffer | undefined;
  #heldBytes = 0;
  #capStart = 0; // absolute offset where the captured value starts
  #capFrom = 0; // where, in the current chunk, the bytes of the value not yet kept start
  #depth = 0;
  #inString = false;
  #escape = false; // the previous chunk ended on an unpaired backslash inside a string
  #scalar = false;
  readonly #largeBytes: number;
  #strStart = 0; // absolute offset of the opening quote of the string being scanned
  /** Absolute [start, end) offsets of the large strings of the value being captured, in order. */
  #spans: number[] = [];
  #largeStrings = 0;

  constructor(handler: PageScannerHandler, options: PageScannerOptions = {}) {
    this.#handler = handler;
    this.#maxValueBytes = options.maxValueBytes ?? 512 * 1024 * 1024;
    this.#largeBytes = options.largeStringBytes ?? LARGE_STRING_BYTES;
  }

  /** How many strings were at least `largeStringBytes` long, so went the large-string path (which may hand them back to `JSON.parse`). */
  get largeStrings(): number {
    return this.#largeStrings;
  }

  /** Bytes consumed so far. */
  get bytesRead(): number {
    return this.#base;
  }

  /** True once the closing `}` of the envelope was seen. */
  get complete(): boolean {
    return this.#state === S.Done;
  }

  write(chunk: Buffer): void {
    const len = chunk.length;
    let i = 0;
    while (i < len) {
      switch (this.#state) {
        case S.Element:
        case S.Member:
        case S.Key: {
          const end = this.#capture(chunk, i);
          if (end < 0) {
            i = len;
          } else {
            this.#finishCapture(chunk, end);
            i = end;
          }
          break;
        }
        default: {
          const c = chunk[i]!;
          if (isWs(c)) {
            i++;
            break;
          }
          this.#structural(c, i);
          i++;
          // A capture that started at this byte continues from the next one.
        }
      }
    }
    if (this.#capturing()) this.#keep(chunk);
    this.#capFrom = 0;
    this.#base += len;
  }

  /** Call once the body has ended. Throws if the envelope is incomplete. */
  end(): void {
    if (this.#state !== S.Done) {
      throw this.#error(
        this.#base === 0
          ? 'expected a JSON object, got an empty body'
          : `the body ended early after ${this.#base} bytes, inside ${this.#where()}`,
        this.#base,
      );
    }
  }

  #where(): string {
    switch (this.#state) {
      case S.Element:
      case S.ArrFirst:
      case S.ArrNext:
      case S.ArrElem:
        return `element ${this.#index} of ${JSON.stringify(this.#key)}`;
      case S.Member:
      case S.Value:
      case S.Colon:
        return `member ${JSON.stringify(this.#key)}`;
      default:
        return 'the envelope';
    }
  }

  #error(message: string, byteOffset: number, cause?: unknown): ZendeskEtlError {
    return new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `malformed page: ${message} (byte ${byteOffset})`, { byteOffset }, { cause });
  }

  /** A byte outside any captured value. */
  #structural(c: number, i: number): void {
    const at = this.#base + i;
    switch (this.#state) {
      case S.Start:
        if (c === LBRACE) this.#state = S.ObjFirst;
        else throw this.#error(`expected "{" to open the page object, got ${describe(c)}`, at);
        return;
      case S.ObjFirst:
        if (c === RBRACE) this.#state = S.Done;
        else if (c === QUOTE) this.#begin(S.Key, c, i);
        else throw this.#error(`expected a key or "}", got ${describe(c)}`, at);
        return;
      case S.ObjKey:
        if (c === QUOTE) this.#begin(S.Key, c, i);
        else throw this.#error(`expected a key, got ${describe(c)}`, at);
        return;
      case S.Colon:
        if (c === COLON) this.#state = S.Value;
        else throw this.#error(`expected ":" after key ${JSON.stringify(this.#key)}, got ${describe(c)}`, at);
        return;
      case S.Value:
        if (c === LBRACKET) {
          this.#index = 0;
          this.#state = S.ArrFirst;
          this.#handler.array(this.#key);
        } else if (c === RBRACE || c === RBRACKET || c === COMMA || c === COLON) {
          throw this.#error(`expected a value for ${JSON.stringify(this.#key)}, got ${describe(c)}`, at);
        } else this.#begin(S.Member, c, i);
        return;
      case S.AfterValue:
        if (c === COMMA) this.#state = S.ObjKey;
        else if (c === RBRACE) this.#state = S.Done;
        else throw this.#error(`expected "," or "}" after ${JSON.stringify(this.#key)}, got ${describe(c)}`, at);
        return;
      case S.ArrFirst:
        if (c === RBRACKET) this.#state = S.AfterValue;
        else this.#beginElement(c, i, at);
        return;
      case S.ArrNext:
        if (c === COMMA) this.#state = S.ArrElem;
        else if (c === RBRACKET) this.#state = S.AfterValue;
        else throw this.#error(`expected "," or "]" after element ${this.#index - 1} of ${JSON.stringify(this.#key)}, got ${describe(c)}`, at);
        return;
      case S.ArrElem:
        this.#beginElement(c, i, at);
        return;
      case S.Done:
        throw this.#error(`unexpected ${describe(c)} after the end of the page object`, at);
      default:
        throw this.#error(`internal scanner state ${this.#state as number}`, at);
    }
  }

  #beginElement(c: number, i: number, at: number): void {
    if (c === RBRACKET || c === COMMA || c === COLON || c === RBRACE) {
      throw this.#error(`expected element ${this.#index} of ${JSON.stringify(this.#key)}, got ${describe(c)}`, at);
    }
    this.#begin(S.Element, c, i);
  }

  /** Start capturing a value whose first byte `c` sits at `i`. The capture resumes at `i + 1`. */
  #begin(state: S, c: number, i: number): void {
    this.#state = state;
    this.#capStart = this.#base + i;
    this.#heldBytes = 0;
    this.#escape = false;
    this.#scalar = false;
    this.#inString = false;
    this.#depth = 0;
    if (this.#spans.length > 0) this.#spans = [];
    if (c === QUOTE) {
      this.#inString = true;
      this.#strStart = this.#capStart;
    } else if (c === LBRACE || c === LBRACKET) this.#depth = 1;
    else this.#scalar = true;
    this.#capFrom = i;
  }

  #capturing(): boolean {
    return this.#state === S.Element || this.#state === S.Member || this.#state === S.Key;
  }

  /**
   * Advance the capture through `chunk` from `from`. Returns the end (exclusive) of the value in this
   * chunk, or -1 if the chunk ended inside it.
   */
  #capture(chunk: Buffer, from: number): number {
    const len = chunk.length;
    let i = from;
    if (this.#scalar) {
      // Scalars start at their first byte, which has not been consumed.
      for (; i < len; i++) {
        const c = chunk[i]!;
        if (c === COMMA || c === RBRACE || c === RBRACKET || isWs(c)) return i;
      }
      return -1;
    }
    for (;;) {
      if (this.#inString) {
        if (this.#escape) {
          if (i >= len) return -1;
          this.#escape = false;
          i++;
        }
        const q = chunk.indexOf(QUOTE, i);
        if (q < 0) {
          // Ends inside a string: does it end on an unpaired backslash?
          let n = 0;
          for (let k = len - 1; k >= i && chunk[k] === BACKSLASH; k--) n++;
          this.#escape = (n & 1) === 1;
          return -1;
        }
        let n = 0;
        for (let k = q - 1; k >= i && chunk[k] === BACKSLASH; k--) n++;
        i = q + 1;
        if ((n & 1) === 1) continue; // an escaped quote
        this.#inString = false;
        if (this.#base + i - this.#strStart >= this.#largeBytes) this.#spans.push(this.#strStart, this.#base + i);
        if (this.#depth === 0) return i; // a string value or a key
      }
      // Structure inside an object or array value.
      for (; i < len; i++) {
        const c = chunk[i]!;
        if (c === QUOTE) {
          this.#inString = true;
          this.#strStart = this.#base + i;
          i++;
          break;
        } else if (c === LBRACE || c === LBRACKET) {
          this.#depth++;
        } else if (c === RBRACE || c === RBRACKET) {
          if (--this.#depth === 0) return i + 1;
        }
      }
      if (!this.#inString) return -1;
    }
  }

  /** The chunk ended inside a captured value: keep its bytes (a copy: the caller may reuse the chunk). */
  #keep(chunk: Buffer): void {
    if (chunk.length > this.#capFrom) this.#hold(chunk, this.#capFrom, chunk.length);
    if (this.#heldBytes > this.#maxValueBytes) {
      throw this.#error(`${this.#where()} is larger than ${this.#maxValueBytes} bytes`, this.#capStart);
    }
  }

  /**
   * Append `chunk[from, to)` to the held bytes. The buffer grows by doubling and is reused by the next
   * values: a page of 1.5 MB tickets costs one buffer, not two copies of every ticket (the chunks kept,
   * then their concatenation), garbage that only a full GC frees.
   */
  #hold(chunk: Buffer, from: number, to: number): void {
    const need = this.#heldBytes + to - from;
    let held = this.#held;
    if (held === undefined || held.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * (held?.length ?? 0), 64 * 1024));
      held?.copy(grown, 0, 0, this.#heldBytes);
      this.#held = held = grown;
    }
    chunk.copy(held, this.#heldBytes, from, to);
    this.#heldBytes = need;
  }

  #finishCapture(chunk: Buffer, end: number): void {
    // `bytes` may be the held buffer: it is read only below, before the next value overwrites it.
    let bytes: Buffer;
    if (this.#heldBytes === 0) {
      bytes = chunk.subarray(this.#capFrom, end);
    } else {
      this.#hold(chunk, this.#capFrom, end);
      bytes = this.#held!.subarray(0, this.#heldBytes);
      this.#heldBytes = 0;
    }
    let value: unknown = NONE;
    if (this.#spans.length > 0) {
      this.#largeStrings += this.#spans.length / 2;
      value = parseWithLargeStrings(bytes, this.#spans, this.#capStart);
      this.#spans = [];
    }
    if (value === NONE) {
      try {
        value = JSON.parse(jsonText(bytes));
      } catch (err) {
        throw this.#error(`${this.#where()} is not valid JSON: ${(err as Error).message}`, this.#capStart, err);
      }
    }
    switch (this.#state) {
      case S.Key:
        this.#key = value as string;
        this.#state = S.Colon;
        return;
      case S.Member:
        this.#state = S.AfterValue;
        this.#handler.member(this.#key, value);
        return;
      case S.Element: {
        this.#state = S.ArrNext;
        const index = this.#index++;
        this.#handler.element(this.#key, value, index);
        return;
      }
      default:
        throw this.#error(`internal scanner state ${this.#state as number}`, this.#capStart);
    }
  }
}

// ------------------------------------------------------------------ large strings

/** "No value": the large-string path gave up; `JSON.parse` of the whole value decides. */
const NONE: unique symbol = Symbol('none');

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
function jsonText(bytes: Buffer, start = 0, end = bytes.length): string {
  return isAscii(bytes.subarray(start, end)) ? bytes.toString('latin1', start, end) : bytes.toString('utf8', start, end);
}

/**
 * Parse a captured value (`bytes`, starting at absolute offset `base`) that holds the large strings
 * `spans` (absolute [start, end) pairs, in order), or give up with `NONE`.
 */
function parseWithLargeStrings(bytes: Buffer, spans: readonly number[], base: number): unknown {
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
