import type { Column, ColumnType } from './schema/ticket-schema.js';
import { TICKET_COLUMNS } from './schema/ticket-schema.js';

/**
 * The incremental export streams, described as data: where each lives, how its pages are keyed,
 * what a record's version is, and its typed columns. One machinery (source, flatten, lake sink,
 * commit protocol) serves them all.
 */
export interface StreamSpec {
  name: StreamName;
  /** The envelope key of the records. */
  key: string;
  /** Time-based endpoint, if the stream has one. */
  timePath?: string;
  /** Cursor-based endpoint, if the stream has one. */
  cursorPath?: string;
  /** Requests per minute Zendesk allows on this stream (cursor, time). */
  rateLimit: { cursor: number; time: number };
  /** The version of a record: the timestamp that moves on each change (Unix seconds). */
  version(record: Record<string, unknown>): number | undefined;
  /** Sent as `include=` unless the caller says otherwise. */
  defaultInclude?: string[];
  /** Whether `support_type_scope` and `exclude_deleted` apply. */
  ticketFilters: boolean;
  /** Typed columns (flattened names). Anything else is kept too (`_extra` in Parquet). */
  columns: readonly Column[];
  /** Partition fields that make sense (timestamp columns). */
}

export type StreamName = 'tickets' | 'ticket_events' | 'users' | 'organizations';

const isoSeconds = (field: string) => (r: Record<string, unknown>): number | undefined => {
  const v = r[field];
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
};

const intField = (field: string) => (r: Record<string, unknown>): number | undefined => {
  const v = r[field];
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
};

const c = (name: string, type: ColumnType): Column => ({ name, type });

export const USER_COLUMNS: readonly Column[] = [
  c('id', 'int64'), c('url', 'text'), c('name', 'text'), c('email', 'text'), c('created_at', 'timestamp'), c('updated_at', 'timestamp'),
  c('role', 'text'), c('role_type', 'int64'), c('organization_id', 'int64'), c('default_group_id', 'int64'), c('active', 'boolean'), c('suspended', 'boolean'),
  c('verified', 'boolean'), c('shared', 'boolean'), c('time_zone', 'text'), c('iana_time_zone', 'text'), c('locale', 'text'), c('locale_id', 'int64'),
  c('phone', 'text'), c('external_id', 'text'), c('last_login_at', 'timestamp'), c('tags', 'list<text>'), c('details', 'text'), c('notes', 'text'),
];

export const ORGANIZATION_COLUMNS: readonly Column[] = [
  c('id', 'int64'), c('url', 'text'), c('name', 'text'), c('created_at', 'timestamp'), c('updated_at', 'timestamp'), c('domain_names', 'list<text>'),
  c('group_id', 'int64'), c('shared_tickets', 'boolean'), c('shared_comments', 'boolean'), c('external_id', 'text'), c('tags', 'list<text>'),
  c('details', 'text'), c('notes', 'text'),
];

export const TICKET_EVENT_COLUMNS: readonly Column[] = [
  c('id', 'int64'), c('ticket_id', 'int64'), c('timestamp', 'int64'), c('created_at', 'timestamp'), c('updater_id', 'int64'), c('via', 'text'),
  c('event_type', 'text'), c('system__client', 'text'), c('system__ip_address', 'text'), c('system__location', 'text'), c('merged_ticket_ids', 'list<int64>'),
  c('child_events', 'json'),
];

export const STREAMS: Readonly<Record<StreamName, StreamSpec>> = {
  tickets: {
    name: 'tickets',
    key: 'tickets',
    timePath: '/api/v2/incremental/tickets.json',
    cursorPath: '/api/v2/incremental/tickets/cursor.json',
    rateLimit: { cursor: 10, time: 10 },
    version: intField('generated_timestamp'),
    ticketFilters: true,
    columns: TICKET_COLUMNS,
  },
  ticket_events: {
    name: 'ticket_events',
    key: 'ticket_events',
    timePath: '/api/v2/incremental/ticket_events.json',
    rateLimit: { cursor: 10, time: 10 },
    version: intField('timestamp'),
    defaultInclude: ['comment_events'],
    ticketFilters: false,
    columns: TICKET_EVENT_COLUMNS,
  },
  users: {
    name: 'users',
    key: 'users',
    timePath: '/api/v2/incremental/users.json',
    cursorPath: '/api/v2/incremental/users/cursor.json',
    // Cursor-based user export has a limit of its own.
    rateLimit: { cursor: 20, time: 10 },
    version: isoSeconds('updated_at'),
    ticketFilters: false,
    columns: USER_COLUMNS,
  },
  organizations: {
    name: 'organizations',
    key: 'organizations',
    timePath: '/api/v2/incremental/organizations.json',
    rateLimit: { cursor: 10, time: 10 },
    version: isoSeconds('updated_at'),
    ticketFilters: false,
    columns: ORGANIZATION_COLUMNS,
  },
};

/** Columns of sideloaded tables (`include=users,groups,...`); unknown tables keep `id` typed and the rest in `_extra`. */
export const SIDELOAD_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  users: USER_COLUMNS,
  organizations: ORGANIZATION_COLUMNS,
  groups: [c('id', 'int64'), c('name', 'text'), c('created_at', 'timestamp'), c('updated_at', 'timestamp'), c('deleted', 'boolean')],
  brands: [c('id', 'int64'), c('name', 'text'), c('subdomain', 'text'), c('active', 'boolean'), c('created_at', 'timestamp'), c('updated_at', 'timestamp')],
  metric_sets: [c('id', 'int64'), c('ticket_id', 'int64'), c('reopens', 'int64'), c('replies', 'int64'), c('created_at', 'timestamp'), c('updated_at', 'timestamp')],
};

export function sideloadColumns(table: string): readonly Column[] {
  return SIDELOAD_COLUMNS[table] ?? [c('id', 'int64')];
}

export function streamSpec(name: string): StreamSpec {
  const spec = (STREAMS as Record<string, StreamSpec | undefined>)[name];
  if (!spec) throw new Error(`unknown stream ${name}`);
  return spec;
}
