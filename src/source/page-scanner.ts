import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { BACKSLASH, COLON, COMMA, LBRACE, LBRACKET, QUOTE, RBRACE, RBRACKET } from './json-bytes.js';
import { NONE, jsonText, parseWithLargeStrings } from './large-strings.js';

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
