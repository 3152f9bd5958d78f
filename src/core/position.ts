import type { Frontier } from './delivery.js';

/** How the incremental export pages: by cursor, or by time (the older endpoint). */
export type PaginationMode = 'cursor' | 'time';

/** Where the export of one range stands. Carried by each checkpoint. */
export interface ExportPosition {
  mode: PaginationMode;
  /** Cursor mode: the `after_cursor` of the last page read. Opaque: never built or parsed. */
  cursor?: string | undefined;
  /** Where the range starts (exclusive): what was delivered before it. */
  from: Frontier;
  /** Where it ends (inclusive frontier); undefined: open-ended. */
  to?: Frontier | undefined;
  /** What has been delivered of it: every version up to this frontier. */
  reached: Frontier;
  /** True once the range is finished: its end was passed, or the end of the stream reached. */
  done: boolean;
}
