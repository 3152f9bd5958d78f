import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EncoderService } from './encoder-service.js';
import type { FromEncoder, ToEncoder } from './encoder-protocol.js';

/**
 * Where Parquet files are encoded: one encoding thread per process, started when the first file opens
 * and kept for the next ones (starting it and compiling parquet-wasm costs ~0.5 s of CPU). Its files
 * share a budget of bytes in flight (batches posted, not yet taken), on top of each file's own bound.
 *
 * Where a thread cannot be used (fewer than 2 CPUs, or the thread fails to start), the same encoder
 * runs on the main thread: the same files, only slower for the rows.
 *
 * The thread never keeps the process alive when no file is open on it (it is unref'd while idle), is
 * terminated when the process exits, and is replaced when it dies (a WebAssembly trap) or hangs; the
 * files open on it then fail, each with an error naming it.
 */

export type EncoderThreads = 'auto' | 'worker' | 'inline';

/** A file's writer, as the encoder sees it. */
export interface EncoderClient {
  onMessage(m: FromEncoder): void;
  /** The encoder went away (its thread died, or was stopped). */
  onLost(err: Error): void;
}

/** A file's connection to its encoder. */
export interface EncoderLink {
  readonly kind: 'worker' | 'inline';
  /** The file's number on the encoder. */
  readonly file: number;
  post(m: ToEncoder, transfer?: ArrayBuffer[]): void;
  /** The encoder stopped answering: a thread is terminated (its files fail), a main-thread encoder drops this file. */
  kill(reason: Error): void;
  /** The file is done with the encoder. */
  detach(): void;
}

const READY_TIMEOUT_MS = 60_000;
/** An idle thread whose WebAssembly memory grew beyond this is replaced (that memory never shrinks). */
const RECYCLE_WASM_BYTES = 512 * 1024 * 1024;
/** Bytes of batches in flight to the encoder, all files together (one batch may always go). */
const IN_FLIGHT_BUDGET = 24 * 1024 * 1024;

abstract class Host {
  abstract readonly kind: 'worker' | 'inline';
  abstract readonly ready: Promise<void>;
  readonly clients = new Map<number, EncoderClient>();
  dead = false;

  abstract post(m: ToEncoder, transfer: ArrayBuffer[]): void;
  abstract kill(file: number, reason: Error): void;
  protected abstract idle(busy: boolean): void;
  /** Resolves when the encoder can take files; while a file waits for that, the encoder keeps the process alive. */
  abstract whenReady(): Promise<void>;

  route(m: FromEncoder): void {
    if (m.type !== 'ready') this.clients.get(m.file)?.onMessage(m);
  }

  /** Every file open here fails with `err`. */
  lose(err: Error): void {
    this.dead = true;
    const clients = [...this.clients.values()];
    this.clients.clear();
    for (const c of clients) c.onLost(err);
  }

  attach(file: number, client: EncoderClient): void {
    this.clients.set(file, client);
    if (this.clients.size === 1) this.idle(false);
  }

  detach(file: number): void {
    if (this.clients.delete(file) && this.clients.size === 0) this.idle(true);
  }
}

/** Start the encoding thread: compiled code loads its .js file; TypeScript sources (tests) register tsx in the thread first. */
function spawnEncoderThread(): Worker {
  const here = import.meta.url;
  // No inherited execArgv: the parent's flags (--input-type, preloads) are not the thread's business.
  if (!here.endsWith('.ts')) return new Worker(new URL('./parquet-encoder.worker.js', here), { execArgv: [] });
  const script = new URL('./parquet-encoder.worker.ts', here).href;
  const tsx = tsxApi(here);
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { (t.register ?? t.default.register)(); return import(${JSON.stringify(script)}); })`;
  return new Worker(boot, { eval: true, execArgv: [] });
}

/** tsx's ESM API (a devDependency: only TypeScript sources need it), as a file URL. */
function tsxApi(here: string): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api');
  // Its `import` entry point, beside the `require` one that createRequire finds.
  return pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
}

class WorkerHost extends Host {
  readonly kind = 'worker';
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  #wasmMemory = 0;
  readonly #onGone: (h: WorkerHost) => void;

  constructor(onGone: (h: WorkerHost) => void) {
    super();
    this.#onGone = onGone;
    this.#worker = spawnEncoderThread();
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the Parquet encoding thread did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      timer.unref();
      this.#worker.on('message', (m: FromEncoder) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          this.#wasmMemory = m.wasmMemory;
          resolve();
          return;
        }
        if (m.type === 'closed') this.#wasmMemory = m.wasmMemory;
        this.route(m);
        // A trap leaves parquet-wasm's instance unusable: the thread goes, and its other files with it.
        if (m.type === 'error' && m.fatal) this.kill(m.file, new Error(`the Parquet encoding thread was stopped after a WebAssembly trap: ${m.message}`));
      });
      this.#worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      this.#worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the Parquet encoding thread exited (code ${code}) before it was ready`));
      });
    });
    this.ready.catch(() => undefined);
    this.#worker.on('error', (err) => this.#gone(new Error(`the Parquet encoding thread failed: ${err.message}`)));
    this.#worker.on('exit', (code) => this.#gone(new Error(`the Parquet encoding thread stopped (exit code ${code})`)));
    // Last: listening for messages refs the thread's port again.
    this.#worker.unref();
  }

  async whenReady(): Promise<void> {
    if (this.clients.size === 0) this.#worker.ref();
    try {
      await this.ready;
    } finally {
      if (this.clients.size === 0) this.#worker.unref();
    }
  }

  #gone(err: Error): void {
    if (!this.dead) this.#onGone(this);
    this.lose(err);
  }

  post(m: ToEncoder, transfer: ArrayBuffer[]): void {
    if (!this.dead) this.#worker.postMessage(m, transfer);
  }

  kill(_file: number, reason: Error): void {
    this.#gone(reason);
    void this.#worker.terminate();
  }

  protected idle(idle: boolean): void {
    if (!idle) {
      this.#worker.ref();
      return;
    }
    this.#worker.unref();
    if (this.#wasmMemory > RECYCLE_WASM_BYTES) this.kill(0, new Error('recycled: its WebAssembly memory grew'));
  }

  terminate(): Promise<number> {
    this.dead = true;
    return this.#worker.terminate();
  }
}

/** The encoder on the main thread: parquet-wasm and apache-arrow load when the first file opens. */
class InlineHost extends Host {
  readonly kind = 'inline';
  readonly ready: Promise<void>;
  #service: EncoderService | undefined;

  constructor(onFatal: (err: Error) => void) {
    super();
    this.ready = import('./encoder-service.js').then(({ EncoderService }) => {
      this.#service = new EncoderService((m) => queueMicrotask(() => this.route(m)), {
        transfer: false,
        onFatal: (err) => {
          onFatal(err);
          this.lose(new Error(`the Parquet encoder failed for good: ${err.message}`));
        },
      });
    });
  }

  post(m: ToEncoder): void {
    this.#service?.handle(m);
  }

  kill(file: number, reason: Error): void {
    this.#service?.handle({ type: 'abort', file });
    const c = this.clients.get(file);
    this.clients.delete(file);
    c?.onLost(reason);
  }

  protected idle(): void {}

  whenReady(): Promise<void> {
    return this.ready;
  }
}

export class EncoderPool {
  static #shared: EncoderPool | undefined;
  #worker: WorkerHost | undefined;
  #inline: InlineHost | undefined;
  /** Why threads are not used in this process (they failed to start), or undefined. */
  #noThreads: string | undefined;
  /** Why the main-thread encoder cannot be used any more (a trap), or undefined. */
  #inlineBroken: string | undefined;
  #nextFile = 1;
  #used = 0;
  readonly #waiting: { bytes: number; resolve: () => void }[] = [];
  readonly #budget: number;

  constructor(budget = IN_FLIGHT_BUDGET) {
    this.#budget = budget;
    process.once('exit', () => void this.#worker?.terminate());
  }

  /** The process's pool. */
  static shared(): EncoderPool {
    EncoderPool.#shared ??= new EncoderPool();
    return EncoderPool.#shared;
  }

  /** Where files are encoded now, and why not on a thread when they are not. */
  status(): { threads: boolean; reason?: string } {
    return this.#noThreads === undefined ? { threads: true } : { threads: false, reason: this.#noThreads };
  }

  /**
   * Start the encoding thread now, if files would be encoded on one, so that its start (~0.5 s of CPU,
   * on the other core) overlaps what comes before the first file: opening the table, the first page.
   */
  prestart(threads: EncoderThreads = 'auto'): void {
    if (threads === 'inline' || this.#noThreads !== undefined || (threads === 'auto' && availableParallelism() < 2)) return;
    if (this.#worker && !this.#worker.dead) return;
    try {
      this.#worker = this.#newWorker();
    } catch {
      // attach() tries again, and falls back to the main thread
    }
  }

  #newWorker(): WorkerHost {
    return new WorkerHost((gone) => {
      if (this.#worker === gone) this.#worker = undefined;
    });
  }

  /** Connect a file's writer to an encoder. */
  async attach(client: EncoderClient, threads: EncoderThreads = 'auto'): Promise<EncoderLink> {
    const host = await this.#host(threads);
    const file = this.#nextFile++;
    host.attach(file, client);
    return {
      kind: host.kind,
      file,
      post: (m, transfer = []) => host.post(m, transfer),
      kill: (reason) => host.kill(file, reason),
      detach: () => host.detach(file),
    };
  }

  async #host(threads: EncoderThreads): Promise<Host> {
    if (threads === 'auto' && this.#noThreads === undefined && availableParallelism() < 2) this.#noThreads = `${availableParallelism()} CPU available`;
    if (threads === 'worker' || (threads === 'auto' && this.#noThreads === undefined)) {
      try {
        if (!this.#worker || this.#worker.dead) this.#worker = this.#newWorker();
        const w = this.#worker;
        await w.whenReady();
        if (!w.dead) return w;
        throw new Error('the Parquet encoding thread stopped as it started');
      } catch (err) {
        void this.#worker?.terminate();
        this.#worker = undefined;
        if (threads === 'worker') throw err;
        this.#noThreads = `the encoding thread could not start: ${(err as Error).message}`;
      }
    }
    if (this.#inlineBroken !== undefined) throw new Error(`the Parquet encoder cannot be used in this process any more (${this.#inlineBroken})`);
    this.#inline ??= new InlineHost((err) => {
      this.#inlineBroken = err.message;
      this.#inline = undefined;
    });
    await this.#inline.whenReady();
    return this.#inline;
  }

  /** Take `bytes` of the in-flight budget; resolves at once when free (undefined), or once it is. */
  reserve(bytes: number): Promise<void> | undefined {
    if (this.#waiting.length === 0 && (this.#used === 0 || this.#used + bytes <= this.#budget)) {
      this.#used += bytes;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#waiting.push({ bytes, resolve }));
  }

  release(bytes: number): void {
    this.#used -= bytes;
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0]!;
      if (this.#used !== 0 && this.#used + next.bytes > this.#budget) break;
      this.#waiting.shift();
      this.#used += next.bytes;
      next.resolve();
    }
  }

  /** Stop the encoding thread (files open on it fail). The next file starts another. */
  async shutdown(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) {
      w.lose(new Error('the Parquet encoding thread was shut down'));
      await w.terminate();
    }
  }
}

/** Stop the process's Parquet encoding thread, if one runs (it also stops by itself when the process exits). */
export function shutdownParquetEncoders(): Promise<void> {
  return EncoderPool.shared().shutdown();
}
