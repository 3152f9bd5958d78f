import { readFile } from 'node:fs/promises';
import { frontier } from '../core/delivery.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { ExportPosition } from '../core/position.js';
import { writeFileAtomic } from './atomic.js';

export const STATE_VERSION = 2;

/**
 * Where an export to a byte stream (`--out -`, or a sink of your own) stands. A lake needs no state
 * file: its table log says what it holds. This never holds a credential.
 */
export interface ExportState {
  version: number;
  stream: string;
  /** Where to resume: a checkpoint's position. */
  position: ExportPosition;
  /** Rows written so far. */
  rows: number;
  updatedAt: string;
}

/** Reads and writes one state file: atomic (temp, fsync, rename), mode 0600, versioned. */
export class StateStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async load(): Promise<ExportState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `cannot read the state file ${this.path}: ${(err as Error).message}`, { path: this.path }, { cause: err });
    }
    return parseState(text, this.path);
  }

  async save(state: ExportState): Promise<void> {
    try {
      await writeFileAtomic(this.path, `${JSON.stringify(state, null, 2)}\n`, 0o600);
    } catch (err) {
      throw new ZendeskEtlError(ErrorCodes.SINK_WRITE, `cannot save the state file ${this.path}: ${(err as Error).message}`, { path: this.path }, { cause: err });
    }
  }
}

interface StateV1 {
  version: 1;
  stream: string;
  window: { startTime: number; endTime?: number };
  position: { mode: 'cursor' | 'time'; cursor?: string; watermark: number; boundary: number[]; done: boolean };
  counters?: { rows?: number };
  updatedAt: string;
}

export function parseState(text: string, path: string): ExportState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the state file ${path} is corrupt (not JSON: ${(err as Error).message}); move it away to start over, or restore it`, { path }, { cause: err });
  }
  const s = raw as Partial<ExportState>;
  if (typeof s !== 'object' || s === null || typeof s.version !== 'number') {
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the state file ${path} is corrupt: no version field`, { path });
  }
  if (s.version > STATE_VERSION) {
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the state file ${path} was written by a newer version of zendesk-stream-etl (state version ${s.version}, this one reads ${STATE_VERSION}); upgrade to resume`, { path, value: s.version });
  }
  if (s.version === 1) return fromV1(raw as StateV1, path);
  const p = s.position;
  if (!p || (p.mode !== 'cursor' && p.mode !== 'time') || !p.from || !p.reached || typeof p.reached.at !== 'number' || !Array.isArray(p.reached.ids) || typeof s.stream !== 'string') {
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the state file ${path} is corrupt: position or stream is missing or malformed`, { path });
  }
  return s as ExportState;
}

function fromV1(s: StateV1, path: string): ExportState {
  const p = s.position;
  if (!p || !s.window || typeof p.watermark !== 'number' || !Array.isArray(p.boundary)) {
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the state file ${path} is corrupt: position or window is missing or malformed`, { path });
  }
  const from = frontier(s.window.startTime);
  const to = s.window.endTime === undefined ? undefined : frontier(s.window.endTime);
  const reached = p.done && to ? to : p.watermark >= 0 ? frontier(p.watermark, p.boundary) : from;
  return { version: STATE_VERSION, stream: s.stream, position: { mode: p.mode, cursor: p.cursor, from, to, reached, done: p.done }, rows: s.counters?.rows ?? 0, updatedAt: s.updatedAt };
}
