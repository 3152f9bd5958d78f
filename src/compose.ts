import { Transform, Writable, type TransformCallback } from 'node:stream';
import { Checkpoint, isCheckpoint, isSideload, type Item, type SideloadRecord } from './core/checkpoint.js';
import { invalidOption } from './core/errors.js';
import { OBJECT_HIGH_WATER_MARK } from './core/flow.js';

/**
 * Stages for composing pipelines of your own. Each one passes checkpoints (and sideload rows) through
 * untouched and in order, so exactly-once commits still hold downstream. Types flow: a `mapStage`
 * from `A` to `B` accepts `Item<A>` and produces `Item<B>`.
 */

type Passthrough = Checkpoint | SideloadRecord;

class RowStage<A, B> extends Transform {
  readonly #fn: (row: A) => B | undefined | Promise<B | undefined>;

  constructor(fn: (row: A) => B | undefined | Promise<B | undefined>) {
    super({ objectMode: true, highWaterMark: OBJECT_HIGH_WATER_MARK });
    this.#fn = fn;
  }

  override _transform(item: Item<A>, _enc: BufferEncoding, callback: TransformCallback): void {
    if (isCheckpoint(item) || isSideload(item)) {
      callback(null, item satisfies Passthrough);
      return;
    }
    let out: B | undefined | Promise<B | undefined>;
    try {
      out = this.#fn(item);
    } catch (err) {
      callback(err as Error);
      return;
    }
    if (out instanceof Promise) out.then((v) => callback(null, v ?? undefined), callback);
    else callback(null, out ?? undefined);
  }
}

/** Keep the rows for which `predicate` is true. */
export function filterStage<T>(predicate: (row: T) => boolean): Transform {
  return new RowStage<T, T>((row) => (predicate(row) ? row : undefined));
}

/** Turn each row into another (return `undefined` to drop it). May be async. */
export function mapStage<A, B>(fn: (row: A) => B | undefined | Promise<B | undefined>): Transform {
  return new RowStage<A, B>(fn);
}

/** Keep some columns, optionally renamed: `selectStage({ id: 'ticket_id', status: 'status' })`. */
export function selectStage<T extends Record<string, unknown>>(columns: readonly (keyof T & string)[] | Readonly<Partial<Record<keyof T & string, string>>>): Transform {
  const pairs: [string, string][] = Array.isArray(columns) ? columns.map((c: string) => [c, c]) : Object.entries(columns as Record<string, string>);
  if (pairs.length === 0) throw invalidOption('columns', 'at least one column', columns);
  return new RowStage<T, Record<string, unknown>>((row) => {
    const out: Record<string, unknown> = {};
    for (const [from, to] of pairs) out[to] = row[from] ?? null;
    return out;
  });
}

/**
 * Write every item to two sinks. A checkpoint is acknowledged ('commit') only once both sinks have
 * committed it, so a state saved on the tee's 'commit' is never ahead of either output.
 */
export class TeeSink extends Writable {
  readonly #a: Writable;
  readonly #b: Writable;
  readonly #pending = new Map<Checkpoint, number>();

  constructor(a: Writable, b: Writable) {
    super({ objectMode: true, highWaterMark: OBJECT_HIGH_WATER_MARK });
    this.#a = a;
    this.#b = b;
    for (const sink of [a, b]) {
      sink.on('commit', (cp: Checkpoint) => this.#ack(cp));
      sink.on('error', (err) => this.destroy(err));
    }
  }

  #ack(cp: Checkpoint): void {
    const n = (this.#pending.get(cp) ?? 0) + 1;
    if (n < 2) {
      this.#pending.set(cp, n);
      return;
    }
    this.#pending.delete(cp);
    this.emit('commit', cp);
  }

  override _write(item: unknown, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    let waiting = 2;
    let failed = false;
    const done = (err?: Error | null): void => {
      if (failed) return;
      if (err) {
        failed = true;
        callback(err);
        return;
      }
      if (--waiting === 0) callback();
    };
    for (const sink of [this.#a, this.#b]) {
      if (sink.write(item)) done();
      else sink.once('drain', () => done());
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    let waiting = 2;
    const finished = (): void => {
      if (--waiting === 0) callback();
    };
    for (const sink of [this.#a, this.#b]) {
      sink.once('finish', finished);
      sink.end();
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#a.destroy(err ?? undefined);
    this.#b.destroy(err ?? undefined);
    callback(err);
  }
}

export function teeSink(a: Writable, b: Writable): TeeSink {
  return new TeeSink(a, b);
}
