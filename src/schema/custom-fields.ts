import pRetry from 'p-retry';
import { ZendeskEtlError } from '../errors.js';
import { getJson, type ZendeskHttp } from '../source/http-client.js';
import type { Column, ColumnType } from './ticket-schema.js';

/** A custom ticket field, from `GET /api/v2/ticket_fields`. */
export interface CustomField {
  id: number;
  type: string;
  title: string;
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

/**
 * The custom fields of an account and the column each one becomes: `custom_fields__<id>` (default), or
 * `custom_fields__<title slug>` with `naming: 'title'` (the id is appended when two titles collide).
 */
export class FieldCatalog {
  readonly naming: CustomFieldNaming;
  #fields = new Map<number, CustomField>();
  #names = new Map<number, string>();
  #version = 0;

  constructor(fields: readonly CustomField[] = [], naming: CustomFieldNaming = 'id') {
    this.naming = naming;
    this.#set(fields);
  }

  /** Fetch `GET /api/v2/ticket_fields` (all pages). It is not under the export rate limit. */
  static async fetch(http: ZendeskHttp, naming: CustomFieldNaming = 'id'): Promise<FieldCatalog> {
    const catalog = new FieldCatalog([], naming);
    await catalog.refresh(http);
    return catalog;
  }

  /** Bumped whenever the set of fields changes (a sink then widens its schema). */
  get version(): number {
    return this.#version;
  }

  get fields(): readonly CustomField[] {
    return [...this.#fields.values()];
  }

  async refresh(http: ZendeskHttp): Promise<void> {
    const all: CustomField[] = [];
    let next: string | null = '/api/v2/ticket_fields.json?per_page=100';
    for (let guard = 0; next !== null && guard < 1000; guard++) {
      const path = next;
      // Not under the export rate limit, but as exposed to proxies and resets: retried like a page.
      const body = (await pRetry(() => getJson(http, path), {
        retries: 5,
        minTimeout: 500,
        factor: 2,
        shouldRetry: ({ error }) => error instanceof ZendeskEtlError && error.retriable,
      })) as { ticket_fields?: unknown; next_page?: unknown };
      if (!Array.isArray(body.ticket_fields)) throw new ZendeskEtlError('ZDE_MALFORMED_PAGE', 'GET /api/v2/ticket_fields did not return a ticket_fields array');
      for (const f of body.ticket_fields as Record<string, unknown>[]) {
        if (typeof f.id === 'number') all.push({ id: f.id, type: String(f.type ?? ''), title: String(f.title ?? f.raw_title ?? f.id) });
      }
      next = typeof body.next_page === 'string' && body.next_page !== '' ? new URL(body.next_page).pathname + new URL(body.next_page).search : null;
    }
    this.#set(all);
  }

  #set(fields: readonly CustomField[]): void {
    let changed = false;
    for (const f of fields) {
      const old = this.#fields.get(f.id);
      if (!old || old.type !== f.type) {
        this.#fields.set(f.id, f);
        changed = true;
      }
    }
    if (!changed) return;
    this.#version++;
    const taken = new Map<string, number>();
    for (const f of [...this.#fields.values()].sort((a, b) => a.id - b.id)) {
      let name = this.naming === 'title' ? `custom_fields__${slug(f.title)}` : `custom_fields__${f.id}`;
      if (taken.has(name) && taken.get(name) !== f.id) name = `${name}_${f.id}`;
      // Keep a name once given, so a column never changes name within a run.
      name = this.#names.get(f.id) ?? name;
      taken.set(name, f.id);
      this.#names.set(f.id, name);
    }
  }

  has(id: number): boolean {
    return this.#fields.has(id);
  }

  /** The column name for a field id (known or not). */
  columnName(id: number): string {
    return this.#names.get(id) ?? `custom_fields__${id}`;
  }

  /** The column type for a field id; JSON text when the field is unknown. */
  columnType(id: number): ColumnType {
    return columnTypeForFieldType(this.#fields.get(id)?.type);
  }

  /** One column per known custom field, ordered by id. */
  columns(): Column[] {
    return [...this.#fields.values()].sort((a, b) => a.id - b.id).map((f) => ({ name: this.columnName(f.id), type: columnTypeForFieldType(f.type) }));
  }
}
