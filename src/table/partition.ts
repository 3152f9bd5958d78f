import { invalidOption } from '../core/errors.js';
import type { RowValue } from '../flatten/flatten.js';
import { TICKET_COLUMN_TYPES } from '../schema/ticket-schema.js';

export type Granularity = 'day' | 'month' | 'year';

/** `--partition-by updated_at:month` -> Hive folders `updated_at_month=2024-05/`. */
export interface PartitionSpec {
  field: string;
  granularity: Granularity;
}

/** Rows whose partition field is null land here (Hive's convention). */
export const DEFAULT_PARTITION = '__HIVE_DEFAULT_PARTITION__';

export function parsePartitionSpec(text: string, option = 'partitionBy'): PartitionSpec {
  const m = /^([a-z_][a-z0-9_]*):(day|month|year)$/.exec(text);
  if (!m) throw invalidOption(option, 'FIELD:day|month|year, such as updated_at:month', text);
  const field = m[1]!;
  if (TICKET_COLUMN_TYPES.get(field) !== 'timestamp' && field !== '_extracted_at') {
    throw invalidOption(option, `a timestamp field (created_at, updated_at, due_at, _extracted_at), not ${field}`, text);
  }
  return { field, granularity: m[2] as Granularity };
}

/** The partition column a spec makes (`updated_at_month`): a string column, in the path only. */
export function partitionColumn(spec: PartitionSpec): string {
  return `${spec.field}_${spec.granularity}`;
}

/**
 * A row's partition value (`2024-05`), or null when its field is empty. Values come from a parsed
 * timestamp, so they are digits and dashes only: a partition path cannot leave the output folder,
 * whatever the ticket holds.
 */
export function partitionValue(spec: PartitionSpec, row: Record<string, RowValue>): string | null {
  const v = row[spec.field];
  if (typeof v !== 'string') return null;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) return null;
  const iso = new Date(ms).toISOString();
  return spec.granularity === 'year' ? iso.slice(0, 4) : spec.granularity === 'month' ? iso.slice(0, 7) : iso.slice(0, 10);
}

/** The Hive folder of a partition value (`updated_at_month=2024-05`). */
export function partitionFolder(spec: PartitionSpec, value: string | null): string {
  return `${partitionColumn(spec)}=${value ?? DEFAULT_PARTITION}`;
}

/** The partition folder for a row. */
export function partitionPath(spec: PartitionSpec, row: Record<string, RowValue>): string {
  return partitionFolder(spec, partitionValue(spec, row));
}
