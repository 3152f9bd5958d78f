import { ErrorCodes, ZendeskEtlError, invalidOption } from '../core/errors.js';
import type { CustomFieldNaming } from '../schema/custom-fields.js';
import { parsePartitionSpec } from './partition.js';
import { settingKey, type Snapshot } from './delta-log.js';

/**
 * What a table pins in its log's `metaData.configuration`, on its first commit: a run that asks for
 * other settings is refused (exit 2) and changes nothing; a run that leaves one out takes the table's.
 * Pure.
 *
 * The layout (format, compression of NDJSON, partitioning, custom field names) decides how files
 * are read. The filters decide which versions of the stream a range of the table holds: a window
 * exported without AI-agent or deleted tickets, and an open-ended run with them after it, would
 * leave the first window short for good. So a table holds one filter set, as it holds one layout.
 */
export interface TableSettings {
  format: 'parquet' | 'ndjson';
  /** NDJSON files gzipped. */
  gzip: boolean;
  /** `updated_at:month` and the like; undefined: no partitions. */
  partitionBy: string | undefined;
  customFieldNames: CustomFieldNaming;
  /** Which tickets Zendesk sends (`support_type_scope`). */
  supportTypeScope: 'agent' | 'ai_agent' | 'all';
  /** Deleted tickets left out (`exclude_deleted`). */
  excludeDeleted: boolean;
  /** Versions whose updated_at is before the window start left out (`--exclude-system-updates`). */
  excludeSystemUpdates: boolean;
}

export const DEFAULT_TABLE_SETTINGS: Readonly<TableSettings> = {
  format: 'parquet',
  gzip: false,
  partitionBy: undefined,
  customFieldNames: 'id',
  supportTypeScope: 'all',
  excludeDeleted: false,
  excludeSystemUpdates: false,
};

export const SETTING_NAMES: readonly (keyof TableSettings)[] = ['format', 'gzip', 'partitionBy', 'customFieldNames', 'supportTypeScope', 'excludeDeleted', 'excludeSystemUpdates'];

/** The options of the CLI that set each setting, for messages. */
const FLAG: Record<keyof TableSettings, string> = {
  format: '--format',
  gzip: '--gzip',
  partitionBy: '--partition-by',
  customFieldNames: '--custom-field-names',
  supportTypeScope: '--support-type-scope',
  excludeDeleted: '--exclude-deleted',
  excludeSystemUpdates: '--exclude-system-updates',
};

function text(name: keyof TableSettings, s: TableSettings): string {
  const v = s[name];
  return v === undefined ? '' : String(v);
}

/** The `metaData.configuration` a new table pins (plus the stream it holds, when it holds one). */
export function settingsConfiguration(s: TableSettings, stream: string | undefined): Record<string, string> {
  const configuration: Record<string, string> = {};
  for (const k of SETTING_NAMES) configuration[settingKey(k)] = text(k, s);
  if (stream) configuration[settingKey('stream')] = stream;
  return configuration;
}

/** The settings a table's log pins. A table made before filters were pinned holds the defaults. */
export function pinnedSettings(configuration: Readonly<Record<string, string>>): TableSettings {
  const get = (k: keyof TableSettings): string | undefined => configuration[settingKey(k)];
  const scope = get('supportTypeScope');
  return {
    format: get('format') === 'ndjson' ? 'ndjson' : 'parquet',
    gzip: get('gzip') === 'true',
    partitionBy: get('partitionBy') || undefined,
    customFieldNames: get('customFieldNames') === 'title' ? 'title' : 'id',
    supportTypeScope: scope === 'agent' || scope === 'ai_agent' ? scope : 'all',
    excludeDeleted: get('excludeDeleted') === 'true',
    excludeSystemUpdates: get('excludeSystemUpdates') === 'true',
  };
}

function checkAsked(asked: Partial<TableSettings>): void {
  if (asked.format !== undefined && asked.format !== 'parquet' && asked.format !== 'ndjson') throw invalidOption('format', '"parquet" or "ndjson"', asked.format);
  if (asked.customFieldNames !== undefined && asked.customFieldNames !== 'id' && asked.customFieldNames !== 'title') throw invalidOption('customFieldNames', '"id" or "title"', asked.customFieldNames);
  const scope = asked.supportTypeScope;
  if (scope !== undefined && scope !== 'agent' && scope !== 'ai_agent' && scope !== 'all') throw invalidOption('supportTypeScope', '"agent", "ai_agent" or "all"', scope);
  if (asked.partitionBy !== undefined) parsePartitionSpec(asked.partitionBy);
}

/**
 * The settings a run gets: the table's pinned ones (or, for a new table, what it asks for over the
 * defaults). A different one asked for is refused with ZDE_TABLE_SETTINGS.
 */
export function resolveSettings(where: string, s: Pick<Snapshot, 'metaData'>, asked: Partial<TableSettings>): TableSettings {
  checkAsked(asked);
  const meta = s.metaData;
  if (!meta) {
    const fresh: TableSettings = { ...DEFAULT_TABLE_SETTINGS };
    for (const k of SETTING_NAMES) if (asked[k] !== undefined) (fresh as unknown as Record<string, unknown>)[k] = asked[k];
    if (fresh.gzip && fresh.format === 'parquet') throw invalidOption('gzip', 'used with NDJSON only (Parquet is compressed by compression)', true);
    return fresh;
  }
  const pinned = pinnedSettings(meta.configuration);
  if (asked.gzip === true && pinned.format === 'parquet') throw invalidOption('gzip', `used with NDJSON only: ${where} is a Parquet table (compressed by compression)`, true);
  for (const k of SETTING_NAMES) {
    const given = asked[k];
    if (given === undefined || given === pinned[k]) continue;
    const filter = k === 'supportTypeScope' || k === 'excludeDeleted' || k === 'excludeSystemUpdates';
    throw new ZendeskEtlError(
      ErrorCodes.TABLE_SETTINGS,
      `${where} was created with ${k} ${JSON.stringify(pinned[k] ?? 'none')}, and this run asks for ${JSON.stringify(given ?? 'none')}; ${filter ? 'a table holds one filter set, or a range exported with one filter would lack what another lets in' : 'a table keeps one layout'}. Leave ${FLAG[k]} out to use the table's, or write into another folder. Nothing was changed`,
      { option: k, value: given, path: where },
    );
  }
  return pinned;
}

/** The first setting two pinned configurations disagree on, if any (a winner's metaData may widen the schema only). */
export function settingThatDiffers(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): keyof TableSettings | undefined {
  const pa = pinnedSettings(a);
  const pb = pinnedSettings(b);
  return SETTING_NAMES.find((k) => pa[k] !== pb[k]);
}
