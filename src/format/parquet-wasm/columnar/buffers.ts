
/** Growable buffers in Arrow's layout for column builders: bytes, Int32 and int64 values, validity bits. */

/** Buffer's unchecked UTF-8 writer (public since Node 0.x, not in @types/node); `write(s, o, 'utf8')` validates its arguments first. */
interface Utf8Writable {
  utf8Write(s: string, offset: number): number;
}

/** UTF-8 bytes, appended. Lone surrogates become U+FFFD (Parquet strings are UTF-8). */
export class Bytes {
  buf: Uint8Array;
  view: Buffer & Utf8Writable;
  length = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
    this.view = Buffer.from(this.buf.buffer, 0, this.buf.byteLength) as Buffer & Utf8Writable;
  }

  ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = Buffer.from(next.buffer, 0, cap) as Buffer & Utf8Writable;
  }

  /** Append a string; short ASCII strings are copied in JS (no native call). */
  utf8(s: string): void {
    const len = s.length;
    // A long string is measured first, so a 1.5 MB description does not reserve 4.5 MB.
    this.ensure(len < 65_536 ? len * 3 : Buffer.byteLength(s, 'utf8'));
    const at = this.length;
    if (len < 32) {
      const buf = this.buf;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === len) {
        this.length = at + len;
        return;
      }
    }
    this.length = at + this.view.utf8Write(s, at);
  }

  done(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export class I32 {
  buf: Int32Array;
  length = 0;

  constructor(capacity: number) {
    this.buf = new Int32Array(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Int32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }

  done(): Int32Array {
    return this.buf.subarray(0, this.length);
  }
}

/** int64 values as two little-endian 32-bit halves; a BigInt only for values that arrive as bigint. */
export class I64 {
  i32: Int32Array;
  i64: BigInt64Array;
  length = 0;

  constructor(capacity: number) {
    this.i32 = new Int32Array(Math.max(16, capacity) * 2);
    this.i64 = new BigInt64Array(this.i32.buffer);
  }

  push(v: number | bigint): void {
    if (this.length * 2 === this.i32.length) {
      const next = new Int32Array(this.i32.length * 2);
      next.set(this.i32);
      this.i32 = next;
      this.i64 = new BigInt64Array(next.buffer);
    }
    if (typeof v === 'bigint') {
      if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new TypeError(`not an int64: ${v}`);
      this.i64[this.length++] = v;
      return;
    }
    if (!Number.isSafeInteger(v)) throw new TypeError(`not an int64: ${v}`);
    const i = this.length++ * 2;
    this.i32[i] = v % 4294967296; // ToInt32 keeps the low 32 bits (two's complement for negatives)
    this.i32[i + 1] = Math.floor(v / 4294967296);
  }

  done(): Uint8Array {
    return new Uint8Array(this.i32.buffer, 0, this.length * 8);
  }
}

export class Bits {
  buf: Uint8Array;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(8, (capacity + 7) >> 3));
  }

  set(i: number): void {
    const byte = i >> 3;
    if (byte >= this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, byte + 1));
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[byte]! |= 1 << (i & 7);
  }

  /** The first `n` bits. */
  done(n: number): Uint8Array {
    const bytes = (n + 7) >> 3;
    if (this.buf.length < bytes) {
      const next = new Uint8Array(bytes);
      next.set(this.buf);
      this.buf = next;
    }
    return this.buf.subarray(0, bytes);
  }
}
