import { createRequire } from 'node:module';
import type Assembler from 'stream-json/Assembler.js';
import type StreamJsonParser from 'stream-json/Parser.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { PageScanner, type PageScannerOptions } from './page-scanner.js';

/**
 * One page envelope in, a flat list of events out: each element of each top-level array, and each
 * other top-level member, wherever it sits in the envelope. Two interchangeable parsers:
 *  - 'scan' (default): `PageScanner`, a byte scanner that hands each element to `JSON.parse` (and
 *    decodes strings of 8 KiB and more itself, faster);
 *  - 'stream-json': stream-json's tokenizer and Assembler, the reference.
 * Both are synchronous: `write()` appends events to `out`; the caller drains it.
 */
export type PageEvent =
  | { kind: 'element'; key: string; value: unknown; index: number }
  | { kind: 'member'; key: string; value: unknown }
  | { kind: 'array'; key: string };

export type ParserKind = 'scan' | 'stream-json';

export interface PageParser {
  write(chunk: Buffer): void;
  end(): void;
}

/** `options` tune the 'scan' parser (see `PageScannerOptions`); stream-json ignores them. */
export function createPageParser(kind: ParserKind, out: PageEvent[], options?: PageScannerOptions): PageParser {
  if (kind === 'stream-json') return new StreamJsonPageParser(out);
  const scanner = new PageScanner(
    {
      element: (key, value, index) => out.push({ kind: 'element', key, value, index }),
      member: (key, value) => out.push({ kind: 'member', key, value }),
      array: (key) => out.push({ kind: 'array', key }),
    },
    options,
  );
  return scanner;
}

interface Token {
  name: string;
  value?: string;
}

/** stream-json, loaded only when it is asked for (the scanner is the default). */
let streamJson: { Parser: typeof StreamJsonParser; Assembler: typeof Assembler } | undefined;
function loadStreamJson(): NonNullable<typeof streamJson> {
  const require = createRequire(import.meta.url);
  streamJson ??= { Parser: require('stream-json/Parser.js') as typeof StreamJsonParser, Assembler: require('stream-json/Assembler.js') as typeof Assembler };
  return streamJson;
}

/**
 * stream-json's Parser driven synchronously through its public `write()` and `end()`: a subclass
 * collects the tokens it pushes and the error its transform reports, then they are assembled one
 * element at a time.
 */
class StreamJsonPageParser implements PageParser {
  readonly #out: PageEvent[];
  readonly #tokens: Token[] = [];
  readonly #parser: StreamJsonParser;
  readonly #Assembler: typeof Assembler;
  #failure: Error | undefined;
  #depth = 0;
  #key = '';
  #inArray = false;
  #index = 0;
  #asm: Assembler | undefined;
  #bytes = 0;
  #closed = false;

  constructor(out: PageEvent[]) {
    this.#out = out;
    const { Parser, Assembler: Asm } = loadStreamJson();
    this.#Assembler = Asm;
    const tokens = this.#tokens;
    const fail = (err: Error | null | undefined): void => {
      if (err) this.#failure ??= err;
    };
    // Tokens are collected as they are pushed, and the transform's error as it is reported, both
    // synchronously: nothing waits in the Readable side, and no error goes through 'error' events.
    this.#parser = new (class extends Parser {
      override push(chunk: unknown): boolean {
        if (chunk !== null) tokens.push(chunk as Token);
        return true;
      }
      override _transform(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
        super._transform(chunk, encoding, (err?: Error | null) => {
          fail(err);
          callback();
        });
      }
      override _flush(callback: (error?: Error | null) => void): void {
        super._flush((err?: Error | null) => {
          fail(err);
          callback();
        });
      }
    })({ packValues: true, streamValues: false });
    this.#parser.on('error', fail);
  }

  write(chunk: Buffer): void {
    this.#run(() => this.#parser.write(chunk));
    this.#bytes += chunk.length;
  }

  end(): void {
    this.#run(() => this.#parser.end());
    if (!this.#closed) {
      throw new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `malformed page: the body ended early after ${this.#bytes} bytes (byte ${this.#bytes})`, { byteOffset: this.#bytes });
    }
  }

  #run(step: () => void): void {
    step();
    const failure = this.#failure;
    if (failure) {
      throw new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `malformed page: ${failure.message} (near byte ${this.#bytes})`, { byteOffset: this.#bytes }, { cause: failure });
    }
    for (const t of this.#tokens) this.#token(t);
    this.#tokens.length = 0;
  }

  #token(t: Token): void {
    if (this.#closed) throw this.#error(`unexpected ${t.name} after the end of the page object`);
    const asm = this.#asm;
    if (asm) {
      asm.consume(t);
      if (asm.done) {
        this.#asm = undefined;
        this.#emitValue(asm.current);
      }
      return;
    }
    if (this.#depth === 0) {
      if (t.name !== 'startObject') throw this.#error(`expected "{" to open the page object, got ${t.name}`);
      this.#depth = 1;
      return;
    }
    if (this.#inArray) {
      if (t.name === 'endArray') {
        this.#inArray = false;
        return;
      }
      this.#startValue(t);
      return;
    }
    if (t.name === 'keyValue') {
      this.#key = t.value as string;
      return;
    }
    if (t.name === 'endObject') {
      this.#closed = true;
      return;
    }
    if (t.name === 'startArray') {
      this.#inArray = true;
      this.#index = 0;
      this.#out.push({ kind: 'array', key: this.#key });
      return;
    }
    this.#startValue(t);
  }

  #startValue(t: Token): void {
    const asm = new this.#Assembler();
    asm.consume(t);
    if (asm.done) this.#emitValue(asm.current);
    else this.#asm = asm;
  }

  #emitValue(value: unknown): void {
    if (this.#inArray) this.#out.push({ kind: 'element', key: this.#key, value, index: this.#index++ });
    else this.#out.push({ kind: 'member', key: this.#key, value });
  }

  #error(message: string): ZendeskEtlError {
    return new ZendeskEtlError(ErrorCodes.MALFORMED_PAGE, `malformed page: ${message} (near byte ${this.#bytes})`, { byteOffset: this.#bytes });
  }
}
