import type { EncoderFileOptions, FromEncoder, ToEncoder } from './encoder-protocol.js';
import { WasmFileEncoder, wasmMemoryBytes } from './wasm-encoder.js';

/**
 * The encoder's side of the protocol (encoder-protocol.ts), the same on the encoding thread and on the
 * main thread: the files opened on it, each with its messages taken in order (one file waiting for
 * its output to be acknowledged never holds up another), and the output credit of each.
 *
 * A WebAssembly trap (a Rust panic) leaves parquet-wasm's instance unusable: the error is reported as
 * fatal and `onFatal` ends the encoder (the thread exits; its pool starts another for the next file).
 */

interface FileState {
  readonly file: number;
  readonly options: EncoderFileOptions;
  encoder: WasmFileEncoder | undefined;
  /** This file's messages, in order. */
  chain: Promise<void>;
  /** Bytes emitted and not yet acknowledged. */
  unacked: number;
  credit: (() => void) | undefined;
  batches: number;
  dead: boolean;
}

export interface EncoderServiceOptions {
  /** Transfer chunks' buffers (between threads); false on the main thread. */
  transfer: boolean;
  /** The encoder cannot go on (a trap; `now`: an injected `exit`, which ends it at once): end it. */
  onFatal: (reason: Error, now: boolean) => void;
}

/** A chunk's buffer, as a whole ArrayBuffer of its own (copied if it is a view on a larger one). */
function ownBuffer(chunk: Uint8Array): Uint8Array {
  return chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.byteLength && chunk.buffer instanceof ArrayBuffer ? chunk : chunk.slice();
}

/** WebAssembly.RuntimeError: what a trap (a Rust panic) throws. (The compiler's libs here do not declare WebAssembly.) */
const RuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (message: string) => Error } }).WebAssembly.RuntimeError;

function isTrap(err: unknown): boolean {
  return err instanceof RuntimeError;
}

export class EncoderService {
  readonly #post: (m: FromEncoder, transfer: ArrayBuffer[]) => void;
  readonly #opts: EncoderServiceOptions;
  readonly #files = new Map<number, FileState>();

  constructor(post: (m: FromEncoder, transfer: ArrayBuffer[]) => void, opts: EncoderServiceOptions) {
    this.#post = post;
    this.#opts = opts;
  }

  /** Files open on this encoder. */
  get open(): number {
    return this.#files.size;
  }

  handle(m: ToEncoder): void {
    if (m.type === 'open') {
      const state: FileState = { file: m.file, options: m.options, encoder: undefined, chain: Promise.resolve(), unacked: 0, credit: undefined, batches: 0, dead: false };
      this.#files.set(m.file, state);
      this.#enqueue(state, m);
      return;
    }
    const state = this.#files.get(m.file);
    if (!state) return; // a file already failed or dropped: its late messages are moot
    if (m.type === 'written') {
      // Not queued behind the file's own work: that work may be waiting for this very credit.
      state.unacked -= m.bytes;
      this.#wake(state);
    } else if (m.type === 'abort') {
      this.#drop(state);
    } else {
      this.#enqueue(state, m);
    }
  }

  #enqueue(state: FileState, m: ToEncoder): void {
    state.chain = state.chain.then(() => (state.dead ? undefined : this.#run(state, m))).catch((err: unknown) => this.#fail(state, err));
  }

  #wake(state: FileState): void {
    const c = state.credit;
    state.credit = undefined;
    c?.();
  }

  async #run(state: FileState, m: ToEncoder): Promise<void> {
    switch (m.type) {
      case 'open':
        state.encoder = await WasmFileEncoder.open(state.options, (chunk) => this.#emit(state, chunk));
        if (!state.dead) this.#post({ type: 'opened', file: state.file }, []);
        return;
      case 'batch': {
        const encoder = state.encoder!;
        state.batches++;
        const fault = state.options.fault;
        if (fault && state.batches > fault.afterBatches) {
          if (fault.kind === 'drop') {
            encoder.dropForTest(m.batch);
            this.#post({ type: 'taken', file: state.file }, []);
            return;
          }
          await this.#fake(fault.kind);
        }
        await encoder.write(m.batch);
        if (!state.dead) this.#post({ type: 'taken', file: state.file }, []);
        return;
      }
      case 'close': {
        const r = await state.encoder!.close();
        this.#files.delete(state.file);
        if (!state.dead) this.#post({ type: 'closed', file: state.file, rows: r.rows, rowGroups: r.rowGroups, bytes: r.bytes, wasmMemory: wasmMemoryBytes() }, []);
        state.dead = true;
        return;
      }
      default:
        return;
    }
  }

  /** One chunk of the file's bytes to the writer; waits while too many are unacknowledged. */
  async #emit(state: FileState, chunk: Uint8Array): Promise<void> {
    if (state.dead) return;
    const data = this.#opts.transfer ? ownBuffer(chunk) : chunk;
    const n = data.byteLength;
    this.#post({ type: 'chunk', file: state.file, data }, this.#opts.transfer ? [data.buffer as ArrayBuffer] : []);
    state.unacked += n;
    while (state.unacked > state.options.maxUnackedBytes && !state.dead) await new Promise<void>((resolve) => (state.credit = resolve));
  }

  async #fake(kind: 'exit' | 'trap' | 'hang' | 'throw'): Promise<void> {
    switch (kind) {
      case 'exit':
        this.#opts.onFatal(new Error('the encoder exited (injected fault)'), true);
        return new Promise<void>(() => undefined);
      case 'trap':
        throw new RuntimeError('unreachable (injected fault)');
      case 'hang':
        return new Promise<void>(() => undefined);
      case 'throw':
        throw new Error('the encoder failed (injected fault)');
    }
  }

  #drop(state: FileState): void {
    state.dead = true;
    this.#files.delete(state.file);
    state.encoder?.abort();
    this.#wake(state);
  }

  #fail(state: FileState, err: unknown): void {
    if (state.dead) return;
    this.#drop(state);
    const e = err instanceof Error ? err : new Error(String(err));
    const fatal = isTrap(err);
    this.#post({ type: 'error', file: state.file, message: fatal ? `a WebAssembly trap in parquet-wasm: ${e.message}` : e.message, fatal }, []);
    if (fatal) this.#opts.onFatal(e, false);
  }
}
