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

/**
 * The documented fields of each stream (Zendesk's API reference: Users, Organizations, Incremental Ticket
 * Event Export), flattened with `__`: ids int64, times UTC timestamps, flags booleans, lists typed.
 * Custom user and organization fields (`user_fields`, `organization_fields`) are objects whose keys each
 * account chooses: they flatten to `user_fields__<key>` / `organization_fields__<key>` and are kept as they
 * came (in Parquet, in `_extra`), never dropped.
 */
export const USER_COLUMNS: readonly Column[] = [
  c('id', 'int64'), c('url', 'text'), c('name', 'text'), c('email', 'text'), c('created_at', 'timestamp'), c('updated_at', 'timestamp'),
  c('role', 'text'), c('role_type', 'int64'), c('custom_role_id', 'int64'), c('organization_id', 'int64'), c('default_group_id', 'int64'),
  c('active', 'boolean'), c('suspended', 'boolean'), c('verified', 'boolean'), c('shared', 'boolean'), c('shared_agent', 'boolean'),
  c('shared_phone_number', 'boolean'), c('restricted_agent', 'boolean'), c('only_private_comments', 'boolean'), c('moderator', 'boolean'),
  c('chat_only', 'boolean'), c('report_csv', 'boolean'), c('two_factor_auth_enabled', 'boolean'), c('permanently_deleted', 'boolean'),
  c('ticket_restriction', 'text'), c('alias', 'text'), c('signature', 'text'), c('time_zone', 'text'), c('iana_time_zone', 'text'),
  c('locale', 'text'), c('locale_id', 'int64'), c('phone', 'text'), c('external_id', 'text'), c('last_login_at', 'timestamp'),
  c('tags', 'list<text>'), c('details', 'text'), c('notes', 'text'),
  // The profile photo (an attachment object, or null); its `thumbnails` array is kept as JSON text.
  c('photo__id', 'int64'), c('photo__url', 'text'), c('photo__file_name', 'text'), c('photo__content_url', 'text'),
  c('photo__mapped_content_url', 'text'), c('photo__content_type', 'text'), c('photo__size', 'int64'), c('photo__width', 'int64'),
  c('photo__height', 'int64'), c('photo__inline', 'boolean'), c('photo__deleted', 'boolean'),
];

export const ORGANIZATION_COLUMNS: readonly Column[] = [
  c('id', 'int64'), c('url', 'text'), c('name', 'text'), c('created_at', 'timestamp'), c('updated_at', 'timestamp'), c('deleted_at', 'timestamp'),
  c('domain_names', 'list<text>'), c('group_id', 'int64'), c('shared_tickets', 'boolean'), c('shared_comments', 'boolean'), c('external_id', 'text'),
  c('tags', 'list<text>'), c('details', 'text'), c('notes', 'text'),
];

/**
 * Ticket events: `via` is text (Zendesk sends a string such as "Web form"; an object, if ever sent, is kept
 * as its JSON text), `child_events` (the changes, and the comments with `include=comment_events`) is JSON.
 */
export const TICKET_EVENT_COLUMNS: readonly Column[] = [
  c('id', 'int64'), c('ticket_id', 'int64'), c('timestamp', 'int64'), c('created_at', 'timestamp'), c('updater_id', 'int64'), c('via', 'text'),
  c('event_type', 'text'), c('system__client', 'text'), c('system__ip_address', 'text'), c('system__location', 'text'),
  c('system__latitude', 'double'), c('system__longitude', 'double'), c('merged_ticket_ids', 'list<int64>'), c('child_events', 'json'),
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

/** A duration metric of a ticket's metric set: `{calendar, business}` minutes. */
const minutes = (name: string): Column[] => [c(`${name}__calendar`, 'int64'), c(`${name}__business`, 'int64')];

/** Columns of sideloaded tables (`include=users,groups,...`); unknown tables keep `id` typed and the rest in `_extra`. */
export const SIDELOAD_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  users: USER_COLUMNS,
  organizations: ORGANIZATION_COLUMNS,
  groups: [
    c('id', 'int64'), c('url', 'text'), c('name', 'text'), c('description', 'text'), c('default', 'boolean'), c('is_public', 'boolean'),
    c('deleted', 'boolean'), c('created_at', 'timestamp'), c('updated_at', 'timestamp'),
  ],
  brands: [
    c('id', 'int64'), c('url', 'text'), c('name', 'text'), c('brand_url', 'text'), c('subdomain', 'text'), c('host_mapping', 'text'),
    c('has_help_center', 'boolean'), c('help_center_state', 'text'), c('active', 'boolean'), c('default', 'boolean'), c('is_deleted', 'boolean'),
    c('ticket_form_ids', 'list<int64>'), c('signature_template', 'text'), c('created_at', 'timestamp'), c('updated_at', 'timestamp'),
  ],
  // Ticket metrics (`include=metric_sets`).
  metric_sets: [
    c('id', 'int64'), c('url', 'text'), c('ticket_id', 'int64'), c('group_stations', 'int64'), c('assignee_stations', 'int64'),
    c('reopens', 'int64'), c('replies', 'int64'), c('assignee_updated_at', 'timestamp'), c('requester_updated_at', 'timestamp'),
    c('status_updated_at', 'timestamp'), c('initially_assigned_at', 'timestamp'), c('assigned_at', 'timestamp'), c('solved_at', 'timestamp'),
    c('latest_comment_added_at', 'timestamp'), c('custom_status_updated_at', 'timestamp'),
    ...minutes('reply_time_in_minutes'), ...minutes('first_resolution_time_in_minutes'), ...minutes('full_resolution_time_in_minutes'),
    ...minutes('agent_wait_time_in_minutes'), ...minutes('requester_wait_time_in_minutes'), ...minutes('on_hold_time_in_minutes'),
    c('reply_time_in_seconds__calendar', 'int64'), c('created_at', 'timestamp'), c('updated_at', 'timestamp'),
  ],
};

export function sideloadColumns(table: string): readonly Column[] {
  return SIDELOAD_COLUMNS[table] ?? [c('id', 'int64')];
}

export function streamSpec(name: string): StreamSpec {
  const spec = (STREAMS as Record<string, StreamSpec | undefined>)[name];
  if (!spec) throw new Error(`unknown stream ${name}`);
  return spec;
}
