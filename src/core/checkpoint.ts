import type { ExportPosition } from './position.js';

/**
 * A checkpoint travels in band with the rows: the source emits one after each page, every stage
 * passes it through untouched and in order, and a sink acknowledges it only once every row before it
 * is durably committed. What a checkpoint carries is the position to resume from.
 */
export class Checkpoint {
  /** The stream this checkpoint belongs to (`tickets`, `users`, ...). */
  readonly stream: string;
  /** Where to resume once every row before this checkpoint is committed. */
  readonly position: ExportPosition;
  /** Pages completed so far in this run. */
  readonly page: number;

  constructor(stream: string, position: ExportPosition, page: number) {
    this.stream = stream;
    this.position = position;
    this.page = page;
  }
}

/** A row of a sideloaded table (`include=users,groups,...`), kept apart from ticket rows. */
export class SideloadRecord {
  readonly table: string;
  readonly record: Record<string, unknown>;

  constructor(table: string, record: Record<string, unknown>) {
    this.table = table;
    this.record = record;
  }
}

/** What flows between stages: rows of type T, with checkpoints (and sideload rows) in band. */
export type Item<T> = T | Checkpoint | SideloadRecord;

export function isCheckpoint(value: unknown): value is Checkpoint {
  return value instanceof Checkpoint;
}

export function isSideload(value: unknown): value is SideloadRecord {
  return value instanceof SideloadRecord;
}

/** True for a row: neither a checkpoint nor a sideload record. */
export function isRow<T>(value: Item<T>): value is T {
  return !(value instanceof Checkpoint) && !(value instanceof SideloadRecord);
}
