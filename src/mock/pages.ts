import type { ServerResponse } from 'node:http';
import { sendJson } from './faults.js';
import { lowerBound, type SimpleRecord } from './other-streams.js';
import type { OtherStream } from './router.js';
import type { StoredTicket, TicketStore } from './ticket-store.js';

/**
 * The stand-in's pages: which records a request gets and the envelope's other members, for both the
 * time-based and the cursor-based export. Each function answers a bad request itself (and returns
 * undefined); the body is written by `writePage` (faults.ts).
 */

export interface PageBody {
  /** The envelope key of the records. */
  key: string;
  /** The records, rendered lazily while the body streams. */
  items: readonly (() => string)[];
  /** Tickets on the page (for sideloads). */
  tickets: StoredTicket[];
  include: string[];
  meta: Record<string, unknown>;
}

/** What the pages read of the stand-in. */
export interface PageSource {
  readonly store: TicketStore;
  readonly baseUrl: string;
  /** Bumped to expire every cursor handed out so far. */
  readonly cursorGeneration: number;
  /** What a time-based page does when a clump is larger than per_page. */
  readonly clumpBehaviour: 'grow' | 'stuck';
  /** The clock, in Unix seconds. */
  now(): number;
  renderText(t: StoredTicket): string;
  records(stream: OtherStream): SimpleRecord[];
}

type Query = Record<string, string>;
interface Position {
  gts: number;
  id: number;
}

function encodeCursor(generation: number, pos: Position): string {
  return Buffer.from(JSON.stringify([generation, pos.gts, pos.id])).toString('base64url');
}

function decodeCursor(generation: number, cursor: string): Position | undefined {
  try {
    const [gen, gts, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [number, number, number];
    if (gen !== generation || !Number.isInteger(gts) || !Number.isInteger(id)) return undefined;
    return { gts, id };
  } catch {
    return undefined;
  }
}

function perPageOf(query: Query, res: ServerResponse): number | undefined {
  const perPage = query.per_page === undefined ? 1000 : Number(query.per_page);
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > 1000) {
    sendJson(res, 400, { error: 'InvalidValue', description: 'per_page must be between 1 and 1000' });
    return undefined;
  }
  return perPage;
}

function params(query: Query, res: ServerResponse): { perPage: number; scope: string; excludeDeleted: boolean; include: string[] } | undefined {
  const perPage = perPageOf(query, res);
  if (perPage === undefined) return undefined;
  const scope = query.support_type_scope ?? 'agent';
  if (!['agent', 'ai_agent', 'all'].includes(scope)) {
    sendJson(res, 400, { error: 'InvalidValue', description: `Invalid support_type_scope ${scope}` });
    return undefined;
  }
  return { perPage, scope, excludeDeleted: query.exclude_deleted === 'true', include: (query.include ?? '').split(',').filter(Boolean) };
}

function startTimeOf(src: PageSource, query: Query, res: ServerResponse): number | undefined {
  const raw = query.start_time;
  const start = Number(raw);
  if (raw === undefined || raw === '' || !Number.isInteger(start) || start < 0) {
    sendJson(res, 400, { error: 'InvalidValue', description: 'start_time is required and must be a Unix epoch time in seconds' });
    return undefined;
  }
  if (start > src.now() - 60) {
    sendJson(res, 422, { error: 'InvalidValue', description: 'Too recent start_time. Use a start_time older than 1 minute' });
    return undefined;
  }
  return start;
}

/**
 * Where a page starts: after the position a cursor names, else at `start_time`. `invalidCursor` is the
 * body of the 400 for a cursor that is invalid or expired.
 */
function startIndex(src: PageSource, query: Query, res: ServerResponse, useCursor: boolean, invalidCursor: unknown, lower: (gts: number, id: number) => number): number | undefined {
  if (useCursor && query.cursor !== undefined) {
    const pos = decodeCursor(src.cursorGeneration, query.cursor);
    if (!pos) {
      sendJson(res, 400, invalidCursor);
      return undefined;
    }
    return lower(pos.gts, pos.id + 1);
  }
  const start = startTimeOf(src, query, res);
  if (start === undefined) return undefined;
  return lower(start, 0);
}

/**
 * A time-based page's `end_time`: its last record's timestamp. When a whole page shares one
 * timestamp, the start's (a clump grown past per_page), it moves past it so the export progresses.
 */
function endTimeOf(first: number | undefined, last: number | undefined, start: number, endOfStream: boolean, movePast: boolean): number {
  if (last === undefined) return start;
  return movePast && first === last && last === start && !endOfStream ? start + 1 : last;
}

/** A cursor page's position: its last record, else the record before where it started, else the start of time. */
function positionOf(last: Position | undefined, before: Position | undefined): Position {
  return last ?? before ?? { gts: 0, id: 0 };
}

function ticketPage(src: PageSource, tickets: StoredTicket[], include: string[], meta: Record<string, unknown>): PageBody {
  return { key: 'tickets', items: tickets.map((t) => () => src.renderText(t)), tickets, include, meta };
}

/** `GET /api/v2/incremental/tickets`: time-based. */
export function timePage(src: PageSource, query: Query, res: ServerResponse): PageBody | undefined {
  const p = params(query, res);
  if (!p) return undefined;
  const start = startTimeOf(src, query, res);
  if (start === undefined) return undefined;
  const store = src.store;
  const grow = src.clumpBehaviour === 'grow';
  const from = store.lowerBound(start, 0);
  const tickets = store.collect(from, p.perPage, p, grow);
  const last = tickets.at(-1);
  const endOfStream = !store.anyInScopeFrom(last ? store.indexOf(last) + 1 : from, p);
  const endTime = endTimeOf(tickets[0]?.gts, last?.gts, start, endOfStream, grow);
  const q = new URLSearchParams({ ...query, start_time: String(endTime) });
  return ticketPage(src, tickets, p.include, { count: tickets.length, end_time: endTime, next_page: `${src.baseUrl}/api/v2/incremental/tickets.json?${q.toString()}`, end_of_stream: endOfStream });
}

/** `GET /api/v2/incremental/tickets/cursor`: cursor-based. */
export function cursorPage(src: PageSource, query: Query, res: ServerResponse): PageBody | undefined {
  const p = params(query, res);
  if (!p) return undefined;
  const store = src.store;
  const invalid = { errors: [{ code: 'InvalidCursor', title: 'Invalid cursor', detail: 'The cursor is invalid or has expired' }] };
  const from = startIndex(src, query, res, true, invalid, (gts, id) => store.lowerBound(gts, id));
  if (from === undefined) return undefined;
  const tickets = store.collect(from, p.perPage, p, false);
  const last = tickets.at(-1);
  const afterIdx = last ? store.indexOf(last) + 1 : from;
  const endOfStream = !store.anyInScopeFrom(afterIdx, p);
  const before = afterIdx > 0 ? store.at(afterIdx - 1)! : undefined;
  const position = positionOf(last && { gts: last.gts, id: last.id }, before && { gts: before.gts, id: before.id });
  const afterCursor = encodeCursor(src.cursorGeneration, position);
  const beforeCursor = encodeCursor(src.cursorGeneration, tickets[0] ? { gts: tickets[0].gts, id: tickets[0].id - 1 } : position);
  const base = { ...query };
  delete base.start_time;
  const link = (cursor: string): string => `${src.baseUrl}/api/v2/incremental/tickets/cursor.json?${new URLSearchParams({ ...base, cursor }).toString()}`;
  return ticketPage(src, tickets, p.include, { after_url: link(afterCursor), after_cursor: afterCursor, before_url: link(beforeCursor), before_cursor: beforeCursor, end_of_stream: endOfStream });
}

/** The other incremental streams (users, organizations, ticket events), time- or cursor-based. */
export function simplePage(src: PageSource, stream: OtherStream, kind: 'time' | 'cursor', query: Query, res: ServerResponse): PageBody | undefined {
  const list = src.records(stream);
  const perPage = perPageOf(query, res);
  if (perPage === undefined) return undefined;
  const from = startIndex(src, query, res, kind === 'cursor', { errors: [{ code: 'InvalidCursor', title: 'Invalid cursor' }] }, (gts, id) => lowerBound(list, gts, id));
  if (from === undefined) return undefined;
  let to = Math.min(list.length, from + perPage);
  // As for tickets: a time-based page never splits records that share its last timestamp.
  if (kind === 'time') while (to < list.length && to > from && list[to]!.version === list[to - 1]!.version) to++;
  const page = list.slice(from, to);
  const includeComments = (query.include ?? '').split(',').includes('comment_events');
  const items = page.map((r) => () => JSON.stringify(r.render(includeComments)));
  const endOfStream = to >= list.length;
  const last = page.at(-1);
  if (kind === 'cursor') {
    const before = from > 0 ? list[from - 1]! : undefined;
    const cursor = encodeCursor(src.cursorGeneration, positionOf(last && { gts: last.version, id: last.id }, before && { gts: before.version, id: before.id }));
    return { key: stream, items, tickets: [], include: [], meta: { after_cursor: cursor, after_url: `${src.baseUrl}/api/v2/incremental/${stream}/cursor.json?cursor=${cursor}`, before_cursor: null, before_url: null, end_of_stream: endOfStream } };
  }
  const endTime = endTimeOf(page[0]?.version, last?.version, Number(query.start_time), endOfStream, true);
  return { key: stream, items, tickets: [], include: [], meta: { count: page.length, end_time: endTime, next_page: `${src.baseUrl}/api/v2/incremental/${stream}.json?start_time=${endTime}`, end_of_stream: endOfStream } };
}
