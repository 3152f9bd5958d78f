/**
 * The column types of the lake, and the documented ticket fields with their types.
 * Column types are logical: each sink maps them to its format (Parquet types, JSON values).
 * Row values per type: `int64` a safe-integer number, or a bigint beyond 2^53 (exact, from a string);
 * `timestamp` an ISO-8601 UTC string; `date` `YYYY-MM-DD`; `json` JSON text; lists never hold null.
 */
export type ColumnType = 'int64' | 'double' | 'boolean' | 'text' | 'timestamp' | 'date' | 'json' | 'list<int64>' | 'list<text>';

export interface Column {
  name: string;
  type: ColumnType;
  /** Never null (Parquet REQUIRED). */
  required?: boolean;
  /** A custom field's id (its column's name may come from its title). */
  field?: number;
}

/** Every documented ticket field, flattened with `__`. `id` is the only one that is never null. */
export const TICKET_COLUMNS: readonly Column[] = [
  { name: 'id', type: 'int64', required: true },
  { name: 'generated_timestamp', type: 'int64' },
  { name: 'url', type: 'text' },
  { name: 'external_id', type: 'text' },
  { name: 'created_at', type: 'timestamp' },
  { name: 'updated_at', type: 'timestamp' },
  { name: 'due_at', type: 'timestamp' },
  { name: 'type', type: 'text' },
  { name: 'subject', type: 'text' },
  { name: 'raw_subject', type: 'text' },
  { name: 'description', type: 'text' },
  { name: 'priority', type: 'text' },
  { name: 'status', type: 'text' },
  { name: 'recipient', type: 'text' },
  { name: 'requester_id', type: 'int64' },
  { name: 'submitter_id', type: 'int64' },
  { name: 'assignee_id', type: 'int64' },
  { name: 'organization_id', type: 'int64' },
  { name: 'group_id', type: 'int64' },
  { name: 'problem_id', type: 'int64' },
  { name: 'brand_id', type: 'int64' },
  { name: 'ticket_form_id', type: 'int64' },
  { name: 'custom_status_id', type: 'int64' },
  { name: 'forum_topic_id', type: 'int64' },
  { name: 'collaborator_ids', type: 'list<int64>' },
  { name: 'follower_ids', type: 'list<int64>' },
  { name: 'email_cc_ids', type: 'list<int64>' },
  { name: 'followup_ids', type: 'list<int64>' },
  { name: 'sharing_agreement_ids', type: 'list<int64>' },
  { name: 'tags', type: 'list<text>' },
  { name: 'has_incidents', type: 'boolean' },
  { name: 'is_public', type: 'boolean' },
  { name: 'allow_channelback', type: 'boolean' },
  { name: 'allow_attachments', type: 'boolean' },
  { name: 'from_messaging_channel', type: 'boolean' },
  { name: 'encoded_id', type: 'text' },
  { name: 'support_type', type: 'text' },
  { name: 'via__channel', type: 'text' },
  { name: 'via__source__rel', type: 'text' },
  { name: 'via__source__from__address', type: 'text' },
  { name: 'via__source__from__name', type: 'text' },
  { name: 'via__source__to__address', type: 'text' },
  { name: 'via__source__to__name', type: 'text' },
  { name: 'satisfaction_rating__id', type: 'int64' },
  { name: 'satisfaction_rating__score', type: 'text' },
  { name: 'satisfaction_rating__comment', type: 'text' },
  { name: 'satisfaction_rating__reason', type: 'text' },
  { name: 'satisfaction_rating__reason_id', type: 'int64' },
];

/**
 * Metadata columns added to every row:
 * - `_extracted_at`: when this run fetched the row (UTC), for dedupe and audit;
 * - `_rejects`: JSON object of values that did not fit their column, kept raw (`{"custom_fields__5": "abc"}`),
 *   keyed by column name. The column is null then, except for a list that held null elements: the column
 *   keeps the other elements (a typed list cannot hold a null) and `_rejects` the raw list. A system
 *   field's value found in `custom_fields` (Zendesk does not send one there) is kept here too;
 * - `_extra` (Parquet only): JSON object of every key the schema does not know yet, so nothing is dropped.
 */
export const METADATA_COLUMNS: readonly Column[] = [
  { name: '_extracted_at', type: 'timestamp' },
  { name: '_rejects', type: 'json' },
];

export const EXTRA_COLUMN: Column = { name: '_extra', type: 'json' };

export const TICKET_COLUMN_TYPES: ReadonlyMap<string, ColumnType> = new Map(TICKET_COLUMNS.map((c) => [c.name, c.type]));

/** Keys of the ticket object that are never copied to rows. */
export const DROPPED_KEYS: ReadonlySet<string> = new Set(['fields']); // the duplicate of custom_fields
