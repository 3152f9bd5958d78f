import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ErrorCodes, ZendeskEtlError, invalidOption } from '../core/errors.js';
import { checkOptions, coerceOption, readOptionObject, type OptionValues } from '../options/normalize.js';
import { OPTIONS, OPTION_DEFAULTS, SECRET_KEYS } from '../options/table.js';
import type { StreamName } from '../streams.js';
import { resolveOrigin } from '../core/url.js';

/**
 * A fleet file: the accounts to export, each with its lake, streams, windows and export options (by
 * their library names, checked through the option table), and the names of the environment variables
 * that hold its credentials. No secret is ever in it.
 *
 * ```json
 * { "defaults": { "format": "parquet", "rateLimit": 10 },
 *   "accounts": [ { "name": "acme", "subdomain": "acme", "out": "s3://lake/acme", "streams": ["tickets"],
 *     "windows": 3, "startTime": 0, "env": { "ZENDESK_EMAIL": "ACME_EMAIL", "ZENDESK_API_TOKEN": "ACME_TOKEN" } } ] }
 * ```
 */
export interface FleetAccount {
  name: string;
  /** `https://acme.zendesk.com`, or a base URL. */
  origin: string;
  /** The lake: an absolute folder (a relative one is taken from the fleet file's folder) or s3://. */
  out: string;
  streams: StreamName[];
  windows: number;
  /** Unix seconds. Default 0. */
  startTime: number;
  /** Unix seconds, exclusive. Default: when the fleet is enqueued (the last window then stays open). */
  endTime: number | undefined;
  /** ZENDESK_* variable -> the variable that holds it on the workers. Names only. */
  env: Record<string, string>;
  /** The other export options, by library name, checked. */
  options: OptionValues;
}

/** Keys of an account beside its export options. */
const ACCOUNT_KEYS = ['name', 'streams', 'windows'] as const;

/** Export options that mean nothing in a job (the worker decides them) or would put a secret in Redis. */
const NOT_PER_ACCOUNT = ['redis', 'statePath', 'config', 'quiet', 'logFormat', 'logLevel'] as const;

/** Options turned into the account's origin, lake and windows. */
const TAKEN = ['subdomain', 'baseUrl', 'out', 'startTime', 'endTime'] as const;

export const ACCOUNT_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Read and check a fleet file. Errors name the file, the account and the key. */
export function readFleetFile(file: string): FleetAccount[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the fleet file ${file} (--config) cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { option: 'config', path: file });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `the fleet file ${file} is not JSON: ${(err as Error).message}`, { option: 'config', path: file });
  }
  return parseFleet(raw, file, dirname(resolve(file)));
}

/** Check a fleet (the parsed JSON of a fleet file). `base` is where relative lake folders start. */
export function parseFleet(raw: unknown, file: string, base: string): FleetAccount[] {
  if (!isObject(raw)) throw fleetError(file, 'the fleet file must hold an object: {"accounts": [...]}', 'accounts');
  for (const key of Object.keys(raw)) {
    if ((SECRET_KEYS as readonly string[]).includes(key)) throw refusedSecret(key, file);
    if (key !== 'accounts' && key !== 'defaults') throw fleetError(file, `${key} (in ${file}) is not a key of a fleet file: it holds "accounts" and, optionally, "defaults" (export options for every account)`, key);
  }
  const accounts = raw.accounts;
  if (!Array.isArray(accounts) || accounts.length === 0) throw fleetError(file, `"accounts" (in ${file}) must be a non-empty list of accounts`, 'accounts');
  const defaults = raw.defaults === undefined ? undefined : readAccountPart(raw.defaults, `${file} "defaults"`, false);
  const seen = new Set<string>();
  return accounts.map((entry: unknown, i: number) => {
    const label = isObject(entry) && typeof entry.name === 'string' ? ` (${entry.name})` : '';
    const where = `${file} accounts[${i}]${label}`;
    const own = readAccountPart(entry, where, true);
    const account = toAccount(merge(defaults, own), where, base);
    if (seen.has(account.name)) throw invalidOption(`name (in ${where})`, 'unique within the fleet (job ids are made of it)', account.name);
    seen.add(account.name);
    return account;
  });
}

interface AccountPart {
  values: OptionValues;
  env: Record<string, string> | undefined;
  fleet: OptionValues;
}

function readAccountPart(raw: unknown, where: string, account: boolean): AccountPart {
  if (!isObject(raw)) throw fleetError(where, `${where} must be an object of options by their library names`, 'accounts');
  for (const key of Object.keys(raw)) {
    if ((NOT_PER_ACCOUNT as readonly string[]).includes(key)) {
      throw invalidOption(`${key} (in ${where})`, `left out: ${key === 'redis' ? 'the workers are given the Redis URL (--redis), so no Redis password enters the fleet or its jobs' : 'it is a setting of the command that runs the jobs, not of an account'}`, key === 'redis' ? '(a Redis URL)' : raw[key]);
    }
    const spec = OPTIONS.find((s) => s.key === key);
    if (spec && !spec.commands.includes('export') && !(ACCOUNT_KEYS as readonly string[]).includes(key)) {
      throw invalidOption(`${key} (in ${where})`, 'an export option or one of name, streams, windows, env: it is an option of another command', raw[key]);
    }
    if (!account && key === 'name') throw invalidOption(`name (in ${where})`, 'given per account, not in "defaults"', raw[key]);
  }
  checkEnvNames(raw.env, where);
  // Secrets are refused here, and every export option is checked by the one option table.
  const read = readOptionObject('export', raw, where, ACCOUNT_KEYS);
  const fleet: OptionValues = {};
  for (const key of ACCOUNT_KEYS) {
    const v = raw[key];
    if (v === undefined) continue;
    const spec = OPTIONS.find((s) => s.key === key)!;
    fleet[key] = coerceOption(spec, v, { kind: 'config', file: where });
  }
  return { values: read.values, env: raw.env === undefined ? undefined : read.env, fleet };
}

/**
 * The variables `env` names go into Redis with each job, so they must look like names: capitals, digits
 * and _ (ACME_TOKEN). A token pasted there by mistake (mixed case, or with other characters) is refused,
 * and never shown.
 */
function checkEnvNames(env: unknown, where: string): void {
  if (!isObject(env)) return; // readOptionObject says what an env must be
  for (const [target, name] of Object.entries(env)) {
    if (typeof name !== 'string' || !/^[A-Z_][A-Z0-9_]{0,127}$/.test(name)) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `env.${target} (in ${where}) must be the name of an environment variable in capitals, digits and _, such as ACME_TOKEN; what was given is not shown, in case it is a secret (credentials stay in the workers' environment)`, { option: `env.${target}`, path: where });
    }
  }
}

function merge(defaults: AccountPart | undefined, own: AccountPart): AccountPart {
  if (!defaults) return own;
  const values: OptionValues = { ...defaults.values, ...own.values };
  if (isObject(defaults.values.timeouts) || isObject(own.values.timeouts)) {
    values.timeouts = { ...(isObject(defaults.values.timeouts) ? defaults.values.timeouts : {}), ...(isObject(own.values.timeouts) ? own.values.timeouts : {}) };
  }
  // An account that names its own credentials takes none of the defaults' (never a mix of two accounts').
  return { values, env: own.env ?? defaults.env, fleet: { ...defaults.fleet, ...own.fleet } };
}

function toAccount(part: AccountPart, where: string, base: string): FleetAccount {
  const { values, fleet } = part;
  const name = fleet.name;
  if (typeof name !== 'string') throw invalidOption(`name (in ${where})`, 'the account\'s name, such as "acme" (it is part of every job id)', null);
  if (!ACCOUNT_NAME.test(name)) throw invalidOption(`name (in ${where})`, '1 to 64 letters, digits, - or _ (it is part of job ids, which cannot hold ":")', name);
  try {
    checkOptions('export', values);
  } catch (err) {
    if (err instanceof ZendeskEtlError) throw new ZendeskEtlError(err.code, `${err.message} (in ${where})`, { option: err.option, value: err.value, path: where });
    throw err;
  }
  const origin = resolveOrigin({ subdomain: str(values.subdomain), baseUrl: str(values.baseUrl) }, { subdomain: `subdomain (in ${where})`, baseUrl: `baseUrl (in ${where})` });
  const out = lakeOf(values.out, where, base);
  const startTime = typeof values.startTime === 'number' ? values.startTime : 0;
  const endTime = typeof values.endTime === 'number' ? values.endTime : undefined;
  const options: OptionValues = { ...values };
  for (const key of TAKEN) delete options[key];
  return {
    name,
    origin,
    out,
    streams: (fleet.streams as StreamName[] | undefined) ?? [...OPTION_DEFAULTS.streams],
    windows: (fleet.windows as number | undefined) ?? OPTION_DEFAULTS.windows,
    startTime,
    endTime,
    env: part.env ?? {},
    options,
  };
}

function lakeOf(out: unknown, where: string, base: string): string {
  if (typeof out !== 'string') throw invalidOption(`out (in ${where})`, 'the account\'s lake: a folder or s3://BUCKET/PREFIX', out ?? null);
  if (out === '-') throw invalidOption(`out (in ${where})`, 'a lake (a folder or s3://BUCKET/PREFIX): a job has no stdout to write to', out);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(out)?.[1];
  if (scheme !== undefined) {
    if (scheme.toLowerCase() !== 's3') throw invalidOption(`out (in ${where})`, 'a folder or s3://BUCKET/PREFIX', out);
    return out;
  }
  // Workers run elsewhere, in other folders: a relative lake is the fleet file's, made absolute here.
  return isAbsolute(out) ? out : resolve(base, out);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fleetError(file: string, message: string, option: string): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, message, { option, path: file });
}

function refusedSecret(key: string, file: string): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${key} (in ${file}) is refused: credentials never go in a fleet file or in Redis; keep them in the workers' environment and name the variables in each account's "env", e.g. {"env": {"ZENDESK_API_TOKEN": "ACME_TOKEN"}}`, { option: key, path: file });
}

