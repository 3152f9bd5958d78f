import { Readable } from 'node:stream';
import { OBJECT_HIGH_WATER_MARK } from '../core/flow.js';

/**
 * The shell of a pull-based source: an object-mode `Readable` whose producer is one async loop,
 * `produce()`, started on the first read. `deliver()` pushes one item and, when the buffer is full,
 * waits for the next `_read()`: the producer runs only as fast as downstream consumes.
 */
export abstract class PullSource<T> extends Readable {
  #started = false;
  #wake: (() => void) | undefined;

  constructor(highWaterMark = OBJECT_HIGH_WATER_MARK) {
    super({ objectMode: true, highWaterMark });
  }

  /** The producer: emit items, return at the end. A throw destroys the stream with that error. */
  protected abstract produce(): Promise<void>;

  /** Push with backpressure. */
  protected async deliver(item: T): Promise<void> {
    if (this.push(item)) return;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }

  override _read(): void {
    if (!this.#started) {
      this.#started = true;
      this.produce().then(
        () => this.push(null),
        (err: unknown) => this.destroy(err as Error),
      );
      return;
    }
    this.#release();
  }

  /** Let a producer waiting in `deliver()` go on (on read, or when the stream is destroyed). */
  protected release(): void {
    this.#release();
  }

  #release(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
