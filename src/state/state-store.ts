import { readFile } from 'node:fs/promises';
import { ErrorCodes, ZendeskEtlError } from '../errors.js';
import type { ExportPosition } from '../source/pagination.js';
import { writeFileAtomic } from './atomic.js';

export const STATE_VERSION = 1;

/** What a state file holds. It never holds a credential. */
export interface ExportState {
  version: number;
  stream: string;
  /** The window this state belongs to (Unix seconds; `endTime` exclusive). */
  window: { startTime: number; endTime?: number | undefined };
  /** Where to resume: cursor or generated_timestamp, and what was delivered at the boundary. */
  position: ExportPosition;
  /** Files committed so far, relative to the output folder, in commit order. */
  files: string[];
  counters: { rows: number; commits: number; rejects: number };
  updatedAt: string;
}

/** The state of an export that has committed nothing yet. */
export function newExportState(stream: string, position: ExportPosition, window: ExportState['window'] = { startTime: position.startTime }): ExportState {
  return { version: STATE_VERSION, stream, window, position, files: [], counters: { rows: 0, commits: 0, rejects: 0 }, updatedAt: new Date().toISOString() };
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
  const p = s.position;
  if (!p || (p.mode !== 'cursor' && p.mode !== 'time') || typeof p.startTime !== 'number' || typeof p.watermark !== 'number' || !Array.isArray(p.boundary) || !Array.isArray(s.files) || !s.window || typeof s.stream !== 'string') {
    throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the state file ${path} is corrupt: position, window, stream or files are missing or malformed`, { path });
  }
  return s as ExportState;
}
