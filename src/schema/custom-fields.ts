import pRetry from 'p-retry';
import { ZendeskEtlError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
// eslint-disable-next-line no-restricted-imports -- upward: the field catalog is fetched with the exporter's HTTP client (its fetch belongs in source/)
import { getJson, type ZendeskHttp } from '../source/http-client.js';
import type { Column, ColumnType } from './ticket-schema.js';

/**
 * A ticket field, from `GET /api/v2/ticket_fields`. That endpoint lists the system fields too (subject,
 * status, ...); the catalog recognises them (`isSystemField`) and gives them no column.
 */
export interface CustomField {
  id: number;
  type: string;
  title: string;
  /** Zendesk's `removable`: `false` marks a system field. Absent when unknown (older archives). */
  removable?: boolean;
}

/**
 * Types of the system ticket fields that `GET /api/v2/ticket_fields` lists beside the custom ones.
 * Their values live in the ticket's own top-level keys (`subject`, `status`, `type`, `priority`,
 * `group_id`, `assignee_id`, `custom_status_id`, ...), never in `custom_fields`. The list is generous on
 * purpose: no custom field can have one of these types, so an extra entry costs nothing.
 */
export const SYSTEM_FIELD_TYPES: ReadonlySet<string> = new Set([
  'subject',
  'description',
  'status',
  'custom_status',
  'tickettype',
  'type',
  'priority',
  'basic_priority',
  'group',
  'assignee',
  'requester',
  'organization',
  'brand',
  'ticket_form',
]);

/** The custom field types Zendesk documents (a field of one of these types is never a system field). */
export const CUSTOM_FIELD_TYPES: ReadonlySet<string> = new Set([
  'text',
  'textarea',
  'checkbox',
  'date',
  'integer',
  'decimal',
  'regexp',
  'partialcreditcard',
  'multiselect',
  'tagger',
  'lookup',
  'multi_lookup',
]);

/**
 * Whether a field of `GET /ticket_fields` is a system field: a system type, or `removable: false` on a
 * type that is not a custom one (a system type Zendesk adds later). A field of a custom type stays a custom
 * field even when it is not removable (Zendesk's own system-managed text fields hold real values).
 */
export function isSystemField(field: Pick<CustomField, 'type' | 'removable'>): boolean {
  return SYSTEM_FIELD_TYPES.has(field.type) || (field.removable === false && !CUSTOM_FIELD_TYPES.has(field.type));
}

/** How a Zendesk field type is stored. Unknown types are JSON text, so nothing is lost. */
export function columnTypeForFieldType(type: string | undefined): ColumnType {
  switch (type) {
    case 'checkbox':
      return 'boolean';
    case 'integer':
      return 'int64';
    case 'decimal':
      return 'double';
    case 'date':
      return 'date';
    case 'multiselect':
      return 'list<text>';
    case 'text':
    case 'textarea':
    case 'tagger':
    case 'regexp':
    case 'partialcreditcard':
      return 'text';
    default:
      return 'json';
  }
}

/** `Refund amount (€)` -> `refund_amount`. Stable: depends on the title only. */
export function slug(title: string): string {
  const s = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return s === '' ? 'field' : s;
}

export type CustomFieldNaming = 'id' | 'title';

/** What the flatten hot path needs of a field id, in one lookup (`FieldCatalog.slot`). */
export interface FieldSlot {
  /** The column name (`custom_fields__<id>` or the title slug); empty for a system field. */
  readonly name: string;
  readonly type: ColumnType;
  /** A system field (subject, status, ...): no column. */
  readonly system: boolean;
}

/** The fields of a `GET /ticket_fields` page (`ticket_fields`), as the catalog keeps them. Pure. */
export function parseTicketFields(list: readonly unknown[]): CustomField[] {
  const out: CustomField[] = [];
  for (const item of list) {
    if (item === null || typeof item !== 'object') continue;
    const f = item as Record<string, unknown>;
    if (typeof f.id !== 'number') continue;
    const field: CustomField = { id: f.id, type: String(f.type ?? ''), title: String(f.title ?? f.raw_title ?? f.id) };
    if (typeof f.removable === 'boolean') field.removable = f.removable;
    out.push(field);
  }
  return out;
}

/**
 * The custom fields of an account and the column each one becomes: `custom_fields__<id>` (default), or
 * `custom_fields__<title slug>` with `naming: 'title'` (the id is appended when two titles collide).
 *
 * Three kinds of ids:
 *  - custom fields listed by `GET /ticket_fields`: a column typed from the field type;
 *  - system fields listed there (subject, status, ...): no column; their values are the ticket's own keys;
 *  - ids tickets carry that the endpoint does not list (a deleted field): once `addDeleted` is called,
 *    a column `custom_fields__<id>` of JSON text, whatever the naming, so values of any type are kept
 *    exactly and the decision depends on the id alone (the same in every run).
 */
export class FieldCatalog {
  readonly naming: CustomFieldNaming;
  /** Custom fields, by id. */
  #fields = new Map<number, CustomField>();
  /** System fields, by id (kept so `fields` can be archived and replayed as it came). */
  #system = new Map<number, CustomField>();
  /** Ids of fields tickets carry but `GET /ticket_fields` does not list (deleted fields). */
  #deleted = new Set<number>();
  #names = new Map<number, string>();
  /** Every id the catalog knows, resolved for the hot path; rebuilt whenever the fields change. */
  #slots = new Map<number, FieldSlot>();
  /** Columns a table already has, by field id: their names and types win (see `pin`). */
  #pinned = new Map<number, Column>();
  #version = 0;

  constructor(fields: readonly CustomField[] = [], naming: CustomFieldNaming = 'id') {
    this.naming = naming;
    this.#set(fields);
  }

  /** Fetch `GET /api/v2/ticket_fields` (all pages). It is not under the export rate limit. */
  static async fetch(http: ZendeskHttp, naming: CustomFieldNaming = 'id', log?: Logger): Promise<FieldCatalog> {
    const catalog = new FieldCatalog([], naming);
    await catalog.refresh(http, log);
    return catalog;
  }

  /** Bumped whenever the set of columns changes (a sink then widens its schema). */
  get version(): number {
    return this.#version;
  }

  /** Every field `GET /ticket_fields` listed, system fields included (for the raw archive). */
  get fields(): readonly CustomField[] {
    return [...this.#fields.values(), ...this.#system.values()];
  }

  /** Fetch the fields again; each retry is logged to `log`, as page retries are. */
  async refresh(http: ZendeskHttp, log: Logger = silentLogger): Promise<void> {
    const all: CustomField[] = [];
    let next: string | null = '/api/v2/ticket_fields.json?per_page=100';
    for (let guard = 0; next !== null && guard < 1000; guard++) {
      const path = next;
      // Not under the export rate limit, but as exposed to proxies and resets: retried like a page,
      // and each retry logged like a page's, so an unreachable host is never a silent wait.
      let attempt = 0;
      const body = (await pRetry(
        () => {
          attempt++;
          return getJson(http, path);
        },
        {
          retries: 5,
          minTimeout: 500,
          factor: 2,
          shouldRetry: ({ error }) => error instanceof ZendeskEtlError && error.retriable,
          onFailedAttempt: ({ error, retriesLeft }) => {
            if (!(error instanceof ZendeskEtlError) || !error.retriable || retriesLeft === 0) return;
            log.info('retrying the ticket fields', { url: error.url ?? path, attempt, retries_left: retriesLeft, cause: error.code, status: error.status, error: error.message });
          },
        },
      )) as { ticket_fields?: unknown; next_page?: unknown };
      if (!Array.isArray(body.ticket_fields)) throw new ZendeskEtlError('ZDE_MALFORMED_PAGE', 'GET /api/v2/ticket_fields did not return a ticket_fields array');
      all.push(...parseTicketFields(body.ticket_fields));
      next = typeof body.next_page === 'string' && body.next_page !== '' ? new URL(body.next_page).pathname + new URL(body.next_page).search : null;
    }
    this.#set(all);
  }

  #set(fields: readonly CustomField[]): void {
    let changed = false;
    for (const f of fields) {
      if (isSystemField(f)) {
        // Never a column. (A field id does not change kind; if it ever did, the system side wins.)
        this.#system.set(f.id, f);
        if (this.#fields.delete(f.id)) changed = true;
        continue;
      }
      const old = this.#fields.get(f.id);
      if (!old || old.type !== f.type) {
        this.#fields.set(f.id, f);
        changed = true;
      }
    }
    if (!changed) {
      this.#resolve(); // system fields may have arrived
      return;
    }
    this.#version++;
    this.#name();
    this.#resolve();
  }

  #resolve(): void {
    const slots = new Map<number, FieldSlot>();
    for (const id of this.#system.keys()) slots.set(id, { name: '', type: 'json', system: true });
    for (const id of [...this.#fields.keys(), ...this.#deleted]) slots.set(id, { name: this.columnName(id), type: this.columnType(id), system: false });
    this.#slots = slots;
  }

  /** The column of a field id in one lookup (the flatten hot path); `undefined` for an id the catalog does not know. */
  slot(id: number): FieldSlot | undefined {
    return this.#slots.get(id);
  }

  /** Give each custom field its column name, once: a column never changes name within a run. */
  #name(): void {
    const taken = new Map<string, number>();
    for (const [id, name] of this.#names) taken.set(name, id);
    for (const [id, c] of this.#pinned) taken.set(c.name, id);
    for (const f of [...this.#fields.values()].sort((a, b) => a.id - b.id)) {
      if (this.#names.has(f.id)) continue;
      let name = this.naming === 'title' ? `custom_fields__${slug(f.title)}` : `custom_fields__${f.id}`;
      if (taken.has(name) && taken.get(name) !== f.id) name = `${name}_${f.id}`;
      taken.set(name, f.id);
      this.#names.set(f.id, name);
    }
  }

  /** Whether `id` has a column: a custom field, or a deleted one given its column by `addDeleted`. */
  has(id: number): boolean {
    return this.#fields.has(id) || this.#deleted.has(id);
  }

  /** Whether `id` is a system field (subject, status, ...): it never gets a column. */
  isSystem(id: number): boolean {
    return this.#system.has(id);
  }

  /**
   * Give a field id that tickets carry but `GET /ticket_fields` does not list (a deleted field) its
   * column: `custom_fields__<id>`, JSON text, in every naming mode, for the rest of this catalog's life
   * (a later listing of the id does not retype it: a column never changes type within a run).
   * Returns whether the columns changed (the version is bumped then). System ids are refused.
   */
  addDeleted(id: number): boolean {
    if (this.#fields.has(id) || this.#deleted.has(id) || this.#system.has(id)) return false;
    this.#deleted.add(id);
    const name = `custom_fields__${id}`;
    // A title slug could have taken the name already (a field titled "360099"): keep both apart.
    const clash = [...this.#names.values()].includes(name);
    this.#names.set(id, clash ? `${name}_deleted` : name);
    this.#version++;
    this.#resolve();
    return true;
  }

  /** The column name for a field id (known or not). */
  columnName(id: number): string {
    return this.#names.get(id) ?? `custom_fields__${id}`;
  }

  /** The column type for a field id; JSON text when the field is unknown or deleted. */
  columnType(id: number): ColumnType {
    const pinned = this.#pinned.get(id);
    if (pinned) return pinned.type;
    if (this.#deleted.has(id)) return 'json';
    return columnTypeForFieldType(this.#fields.get(id)?.type);
  }

  /**
   * Keep the columns a table already has: a field keeps its column's name (a title renamed in
   * Zendesk does not start a new column) and its type (a field whose type changed is coerced to the
   * column's, misfits kept raw in `_rejects`): a column never changes name or type.
   */
  pin(columns: readonly Column[]): void {
    let changed = false;
    for (const c of columns) {
      if (c.field === undefined || this.#pinned.get(c.field)?.name === c.name) continue;
      this.#pinned.set(c.field, c);
      this.#names.set(c.field, c.name);
      changed = true;
    }
    if (!changed) return;
    this.#version++;
    this.#name();
    this.#resolve();
  }

  /** One column per custom field (deleted ones included), ordered by id. System fields have none. */
  columns(): Column[] {
    const ids = [...new Set([...this.#fields.keys(), ...this.#deleted])].sort((a, b) => a - b);
    return ids.map((id) => ({ name: this.columnName(id), type: this.columnType(id), field: id }));
  }
}
