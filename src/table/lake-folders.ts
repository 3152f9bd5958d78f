import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { openStorage, type StorageOptions } from '../storage/open-storage.js';
import type { Storage } from '../storage/storage.js';
import { LOG_DIR } from './delta-log.js';

/**
 * Where a lake and its tables are, found by looking, before anything opens a table: a lake is a
 * folder (or prefix) whose tables are folders holding a `_delta_log/`. Reads only: it never creates
 * a folder, a lease or a log, so a command pointed at the wrong place changes nothing.
 */

/** A lake that was found: its storage and its tables, by folder name. */
export interface FoundLake {
  storage: Storage;
  tables: string[];
  /** Folders of the lake that hold files but no log yet (a first run that never committed). */
  unlogged: string[];
  /** When the location given was one table's folder: that table (the lake is its parent). */
  named?: string | undefined;
  /** What to tell the user about how the location was read (a table's folder taken for its lake). */
  note?: string | undefined;
}

/** Whether `prefix` holds a table log: a commit, or a checkpoint pointer. */
export async function hasTableLog(storage: Storage, prefix: string): Promise<boolean> {
  for await (const o of storage.list(`${prefix}${LOG_DIR}/`)) {
    const name = o.key.slice(o.key.lastIndexOf('/') + 1);
    if (/^\d{20}\.(json|checkpoint\.parquet)$/.test(name) || name === '_last_checkpoint') return true;
  }
  return false;
}

/** The folders directly below `prefix`, through the storage's own listing when it has one. */
async function foldersOf(storage: Storage, prefix: string): Promise<string[] | undefined> {
  if (storage.folders) return storage.folders(prefix);
  const names = new Set<string>();
  for await (const o of storage.list(prefix)) {
    const rest = o.key.slice(prefix.length);
    if (rest.includes('/')) names.add(rest.slice(0, rest.indexOf('/')));
  }
  return [...names].sort();
}

/** The tables of a lake: its folders with a log; and those with files but no log yet. */
export async function listTables(storage: Storage): Promise<{ tables: string[]; unlogged: string[] } | undefined> {
  const folders = await foldersOf(storage, '');
  if (folders === undefined) return undefined;
  const tables: string[] = [];
  const unlogged: string[] = [];
  for (const f of folders) {
    if (f.startsWith('_') || f.startsWith('.')) continue; // _staging/, _zde/ and the like are no tables
    if (await hasTableLog(storage, `${f}/`)) tables.push(f);
    else if (await holdsData(storage, f)) unlogged.push(f);
  }
  return { tables, unlogged };
}

/** Files below a folder other than the exporter's own bookkeeping (`_zde/`: leases). */
async function holdsData(storage: Storage, folder: string): Promise<boolean> {
  for await (const o of storage.list(`${folder}/`)) if (!o.key.slice(folder.length + 1).startsWith('_zde/')) return true;
  return false;
}

/** The parent location of a folder or `s3://BUCKET/PREFIX`, and the last name in it; undefined at a root. */
function parentOf(url: string): { parent: string; name: string } | undefined {
  const trimmed = url.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  if (cut < 0) return undefined;
  const parent = trimmed.slice(0, cut);
  if (/^s3:\/?$/i.test(parent) || /^s3:\/\/[^/]*$/i.test(trimmed)) return undefined; // a bucket's root has no parent here
  return { parent: parent === '' ? '/' : parent, name: trimmed.slice(cut + 1) };
}

export function noLake(location: string, why: string): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `no lake at ${location}: ${why}`, { option: 'LAKE', value: location, path: location });
}

/**
 * Find the lake at `location` without changing anything. A table's folder (`lake/tickets`) is taken
 * for its lake, and said so. Throws a usage error (exit 2) when there is no lake there.
 */
export async function findLake(location: string, opts: StorageOptions = {}): Promise<FoundLake> {
  const storage = await openStorage(location, { option: 'LAKE', ...opts });
  if (await hasTableLog(storage, '')) {
    const up = parentOf(storage.url);
    if (up !== undefined) {
      const lake = await openStorage(up.parent, { option: 'LAKE', ...opts });
      const inLake = await listTables(lake);
      if (inLake !== undefined) {
        return { storage: lake, ...inLake, named: up.name, note: `${storage.url} is the table ${up.name}; using its lake ${lake.url}` };
      }
    }
  }
  const found = await listTables(storage);
  if (found === undefined) throw noLake(storage.url, 'nothing is there (the folder does not exist, or no object has this prefix)');
  if (found.tables.length > 0 || found.unlogged.length > 0) return { storage, ...found };
  throw noLake(storage.url, 'it holds no table (a table is a folder with a _delta_log/ in it, which export writes)');
}

/** `name`, if the lake holds it; else a usage error that says which tables it holds. */
export function pickTable(lake: FoundLake, name: string, opts: { allowUnlogged?: boolean } = {}): string {
  if (lake.tables.includes(name)) return name;
  if (opts.allowUnlogged === true && lake.unlogged.includes(name)) return name;
  throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the lake ${lake.storage.url} holds no table ${name}; ${describeTables(lake)}`, { option: 'table', value: name, path: lake.storage.url });
}

/** "it holds the tables a, b" (and the folders that have files but no log yet). */
export function describeTables(lake: FoundLake): string {
  const parts = [lake.tables.length === 0 ? 'it holds no table with a log' : `it holds the table${lake.tables.length === 1 ? '' : 's'} ${lake.tables.join(', ')}`];
  if (lake.unlogged.length > 0) parts.push(`and ${lake.unlogged.join(', ')} with files but no log yet`);
  return parts.join(' ');
}
