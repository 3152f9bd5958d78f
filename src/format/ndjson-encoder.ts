import type { TicketRow } from '../flatten/flatten.js';
import { jsonValue, toJsonText } from '../flatten/json-line.js';

const utf8 = new TextEncoder();

/** Strings this long (UTF-16 units) or longer are written by the encoder itself (`#jsonString`). */
const BIG_STRING = 64 * 1024;
const HEX = '0123456789abcdef';

/**
 * Rows into NDJSON bytes (exactly `toJsonLine`'s, in UTF-8), encoded straight into buffers of `size`
 * bytes: no text of many rows is joined and then copied to UTF-8. A row holding a big string (a 1.5 MB
 * description) has that string escaped and encoded by `#jsonString`, with no string made at all:
 * `JSON.stringify` of the row would copy it (~2 bytes a character, in large-object space), and its
 * UTF-8 encoding copy it again, garbage that only a full GC frees.
 * Full buffers wait for `take()` (a big row fills several); `take(true)` gives the partial one too.
 * Every buffer is new, so a stream may hold on to one as long as it likes.
 */
export class NdjsonEncoder {
  readonly #size: number;
  #buf: Buffer | undefined;
  #used = 0;
  readonly #full: Buffer[] = [];

  constructor(size: number) {
    if (!(size >= 16)) throw new RangeError(`an NDJSON buffer holds at least 16 bytes, not ${size}`);
    this.#size = size;
  }

  /** One row, as its line (newline included). */
  row(row: TicketRow): void {
    let big = false;
    for (const key in row) {
      const v = row[key];
      if (typeof v === 'string' && v.length >= BIG_STRING) {
        big = true;
        break;
      }
    }
    if (!big) {
      this.#text(toJsonText(row));
      this.#text('\n');
    } else {
      // As JSON.stringify writes the row: members in the same order, undefined ones left out.
      let sep = '{';
      for (const key in row) {
        const v = row[key];
        if (v === undefined) continue;
        this.#text(`${sep}${JSON.stringify(key)}:`);
        sep = ',';
        if (typeof v === 'string' && v.length >= BIG_STRING) this.#jsonString(v);
        else this.#text(jsonValue(v));
      }
      this.#text(sep === '{' ? '{}\n' : '}\n');
    }
    if (this.#used === this.#size) this.#seal();
  }

  /** True when a full buffer waits. */
  get ready(): boolean {
    return this.#full.length > 0;
  }

  /** The next full buffer, or with `all` the partial one too; undefined when none is left. */
  take(all = false): Buffer | undefined {
    if (this.#full.length === 0 && all && this.#used > 0) this.#seal();
    return this.#full.shift();
  }

  #text(text: string): void {
    let from = 0;
    while (from < text.length) {
      const buf = (this.#buf ??= Buffer.allocUnsafe(this.#size));
      const { read, written } = utf8.encodeInto(from === 0 ? text : text.slice(from), buf.subarray(this.#used));
      from += read;
      this.#used += written;
      // The buffer is full, or too full for the next character.
      if (from < text.length) this.#seal();
    }
  }

  /** `s` as JSON.stringify writes it (well-formed: lone surrogates as \uXXXX), in UTF-8, quotes included. */
  #jsonString(s: string): void {
    const size = this.#size;
    const room = size - 6; // a character takes at most 6 bytes (\uXXXX)
    let buf = (this.#buf ??= Buffer.allocUnsafe(size));
    let p = this.#used;
    const n = s.length;
    for (let i = -1; i <= n; i++) {
      if (p > room) {
        this.#used = p;
        this.#seal();
        buf = this.#buf = Buffer.allocUnsafe(size);
        p = 0;
      }
      if (i < 0 || i === n) {
        buf[p++] = 0x22;
        continue;
      }
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
          buf[p++] = c;
          continue;
        }
        buf[p++] = 0x5c;
        if (c === 0x22 || c === 0x5c) buf[p++] = c;
        else if (c === 0x0a) buf[p++] = 0x6e;
        else if (c === 0x0d) buf[p++] = 0x72;
        else if (c === 0x09) buf[p++] = 0x74;
        else if (c === 0x08) buf[p++] = 0x62;
        else if (c === 0x0c) buf[p++] = 0x66;
        else {
          buf[p++] = 0x75;
          buf[p++] = 0x30;
          buf[p++] = 0x30;
          buf[p++] = HEX.charCodeAt(c >> 4);
          buf[p++] = HEX.charCodeAt(c & 15);
        }
      } else if (c < 0x800) {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 63);
      } else if (c < 0xd800 || c > 0xdfff) {
        buf[p++] = 0xe0 | (c >> 12);
        buf[p++] = 0x80 | ((c >> 6) & 63);
        buf[p++] = 0x80 | (c & 63);
      } else {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[p++] = 0xf0 | (cp >> 18);
          buf[p++] = 0x80 | ((cp >> 12) & 63);
          buf[p++] = 0x80 | ((cp >> 6) & 63);
          buf[p++] = 0x80 | (cp & 63);
        } else {
          buf[p++] = 0x5c;
          buf[p++] = 0x75;
          buf[p++] = HEX.charCodeAt(c >> 12);
          buf[p++] = HEX.charCodeAt((c >> 8) & 15);
          buf[p++] = HEX.charCodeAt((c >> 4) & 15);
          buf[p++] = HEX.charCodeAt(c & 15);
        }
      }
    }
    this.#used = p;
  }

  #seal(): void {
    const buf = this.#buf!;
    this.#full.push(this.#used === buf.length ? buf : buf.subarray(0, this.#used));
    this.#buf = undefined;
    this.#used = 0;
  }
}
