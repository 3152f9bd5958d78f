import { ErrorCodes, ZendeskEtlError } from '../errors.js';

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
}

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
  #parts: Buffer[] = [];
  #partsBytes = 0;
  #capStart = 0; // absolute offset where the captured value starts
  #capFrom = 0; // where, in the current chunk, the bytes of the value not yet kept start
  #depth = 0;
  #inString = false;
  #escape = false; // the previous chunk ended on an unpaired backslash inside a string
  #scalar = false;

  constructor(handler: PageScannerHandler, options: PageScannerOptions = {}) {
    this.#handler = handler;
    this.#maxValueBytes = options.maxValueBytes ?? 512 * 1024 * 1024;
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
    this.#parts = [];
    this.#partsBytes = 0;
    this.#escape = false;
    this.#scalar = false;
    this.#inString = false;
    this.#depth = 0;
    if (c === QUOTE) this.#inString = true;
    else if (c === LBRACE || c === LBRACKET) this.#depth = 1;
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
        if (this.#depth === 0) return i; // a string value or a key
      }
      // Structure inside an object or array value.
      for (; i < len; i++) {
        const c = chunk[i]!;
        if (c === QUOTE) {
          this.#inString = true;
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
    if (chunk.length > this.#capFrom) {
      this.#parts.push(Buffer.from(chunk.subarray(this.#capFrom)));
      this.#partsBytes += chunk.length - this.#capFrom;
    }
    if (this.#partsBytes > this.#maxValueBytes) {
      throw this.#error(`${this.#where()} is larger than ${this.#maxValueBytes} bytes`, this.#capStart);
    }
  }

  #finishCapture(chunk: Buffer, end: number): void {
    let text: string;
    if (this.#parts.length === 0) {
      text = chunk.toString('utf8', this.#capFrom, end);
    } else {
      this.#parts.push(chunk.subarray(this.#capFrom, end));
      text = Buffer.concat(this.#parts).toString('utf8');
    }
    this.#parts = [];
    this.#partsBytes = 0;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw this.#error(`${this.#where()} is not valid JSON: ${(err as Error).message}`, this.#capStart, err);
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
