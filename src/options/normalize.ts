import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ErrorCodes, ZendeskEtlError, invalidOption } from '../core/errors.js';
// eslint-disable-next-line no-restricted-imports -- upward: --partition-by is checked with the table's own parser, so a bad spec fails with the flag's name before any run
import { parsePartitionSpec } from '../table/partition.js';
import { formatTime, parseTime } from '../core/time.js';
import { OPTIONS, OPTION_DEFAULTS, SECRET_FLAGS, SECRET_KEYS, optionSpec, optionsFor, shownDefault, type Command, type OptionSpec, type OptionTypes, type Options, type ResolvedOptions } from './table.js';

/**
 * Options are read and checked here, once, from the table in `table.ts`: from flags (errors name
 * the flag), a config file (the key and the file), the environment (the variable) or the library
 * (the key). Each value is checked by its kind and bounds, then the rules between options.
 */

/** Where values come from: flags and the environment are in CLI units (MiB, minutes, seconds). */
export type OptionSource = { kind: 'flag' } | { kind: 'env' } | { kind: 'config'; file: string } | { kind: 'library' };

export type OptionValues = Record<string, unknown>;

/**
 * What was typed for each time option of a set of values (`2021-01-01`, not 1609459200), so that
 * errors about the rules between options echo the user's words.
 */
const TYPED = new WeakMap<OptionValues, Map<string, string>>();

function remember(values: OptionValues, key: string, raw: unknown): void {
  if (typeof raw !== 'string' && typeof raw !== 'number') return;
  let m = TYPED.get(values);
  if (!m) TYPED.set(values, (m = new Map()));
  m.set(key, String(raw));
}

/** A time option's value as the user gave it: the text typed (`2021-01-01`), not the Unix seconds it became. */
function shownTime(o: OptionValues, key: string): string {
  return TYPED.get(o)?.get(key) ?? String(o[key]);
}

/** A required option or argument that was not given, named, with what it takes. */
export function missingOption(name: string, expected: string): ZendeskEtlError {
  return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${name} is missing: ${expected}`, { option: name });
}

function nameIn(spec: OptionSpec, source: OptionSource): string {
  switch (source.kind) {
    case 'flag':
      return `--${spec.flag ?? spec.key}`;
    case 'env':
      return spec.env ?? spec.key;
    case 'config':
      return `${spec.key} (in ${source.file})`;
    case 'library':
      return spec.key;
  }
}

/** The name an option has for a reader of errors from this source. */
export function optionName(key: string, source: OptionSource): string {
  const spec = OPTIONS.find((o) => o.key === key);
  return spec ? nameIn(spec, source) : key;
}

/** Check one value against its option, and turn CLI units into the library's. */
export function coerceOption(spec: OptionSpec, raw: unknown, source: OptionSource): unknown {
  const name = nameIn(spec, source);
  const text = typeof raw === 'string';
  const cli = source.kind === 'flag' || source.kind === 'env';
  switch (spec.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw.trim() === '') throw invalidOption(name, 'a non-empty text', raw);
      if (spec.key === 'partitionBy') parsePartitionSpec(raw, name);
      return raw;
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (text && /^(true|1|yes)$/i.test(raw)) return true;
      if (text && /^(false|0|no)$/i.test(raw)) return false;
      throw invalidOption(name, 'true or false', raw);
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : text && raw.trim() !== '' ? Number(raw.trim()) : Number.NaN;
      const whole = spec.kind === 'int';
      // Bounds are in the library's unit; a flag's value is in the flag's (the library's / scale).
      const unit = cli ? (spec.scale ?? 1) : 1;
      const min = spec.min === undefined ? Number.MIN_SAFE_INTEGER : Math.ceil(spec.min / unit);
      const max = spec.max === undefined ? Number.MAX_SAFE_INTEGER : Math.floor(spec.max / unit);
      const shape = text && (whole ? /^-?\d+$/ : /^-?\d+(\.\d+)?$/).test(raw.trim());
      if (!Number.isFinite(n) || (whole && !Number.isInteger(n)) || (text && !shape) || n < min || n > max) {
        throw invalidOption(name, `${whole ? 'a whole number' : 'a number'} from ${min} to ${max}`, raw);
      }
      return cli && spec.scale ? n * spec.scale : n;
    }
    case 'enum':
      if (typeof raw !== 'string' || !spec.values!.includes(raw)) throw invalidOption(name, spec.values!.map((v) => `"${v}"`).join(' or '), raw);
      return raw;
    case 'list': {
      const items = Array.isArray(raw) ? raw : text ? raw.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
      if (!items || items.length === 0) throw invalidOption(name, `a list of ${spec.values!.join(', ')}`, raw);
      for (const item of items) {
        if (typeof item !== 'string' || !spec.values!.includes(item)) throw invalidOption(name, `a list of ${spec.values!.join(', ')}`, item);
      }
      return [...new Set(items as string[])];
    }
    case 'time':
      if (typeof raw !== 'string' && typeof raw !== 'number') throw invalidOption(name, 'Unix seconds or an ISO-8601 time', raw);
      return parseTime(raw, name);
  }
}

/** A nested value by dotted key (`timeouts.bodyIdle`). */
function getPath(o: OptionValues, key: string): unknown {
  let v: unknown = o;
  for (const part of key.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as OptionValues)[part];
  }
  return v;
}

function setPath(o: OptionValues, key: string, value: unknown): void {
  const parts = key.split('.');
  let at = o;
  for (const part of parts.slice(0, -1)) at = (at[part] ??= {}) as OptionValues;
  at[parts.at(-1)!] = value;
}

/** The rules between options, checked once all are known. */
function crossCheck(command: Command, o: OptionValues, source: OptionSource): void {
  const n = (key: string): string => optionName(key, source);
  if (command === 'export') {
    const start = (o.startTime as number | undefined) ?? 0;
    if (o.endTime !== undefined && (o.endTime as number) <= start) {
      const from = o.startTime === undefined ? `the default ${n('startTime')} (0, ${formatTime(0)})` : `${n('startTime')} (${shownTime(o, 'startTime')})`;
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${n('endTime')} must be later than ${from}, got ${shownTime(o, 'endTime')}`, { option: n('endTime'), value: TYPED.get(o)?.get('endTime') ?? o.endTime });
    }
    if (o.subdomain !== undefined && o.baseUrl !== undefined) throw invalidOption(n('subdomain'), `given alone: ${n('subdomain')} and ${n('baseUrl')} both name the account`, o.subdomain);
    if (o.statePath !== undefined && o.out !== '-') throw invalidOption(n('statePath'), `used only with ${n('out')} - (a lake's log is its state)`, o.statePath);
  }
  if (command === 'export' || command === 'replay') {
    const ndjson = o.format === 'ndjson' || o.out === '-';
    if (o.out === '-' && o.format === 'parquet') throw invalidOption(n('format'), `"ndjson" when ${n('out')} is - (stdout)`, o.format);
    if (o.out === '-' && command === 'replay') throw invalidOption(n('out'), 'a lake (replay writes a table)', o.out);
    if (o.gzip === true && o.format === 'parquet') throw invalidOption(n('gzip'), `used with NDJSON only (Parquet is compressed by ${n('compression')})`, true);
    if (o.compression !== undefined && ndjson) throw invalidOption(n('compression'), `used with Parquet only (NDJSON is gzipped with ${n('gzip')})`, o.compression);
    if (o.parquetEngine !== undefined && ndjson) throw invalidOption(n('parquetEngine'), 'used with Parquet only', o.parquetEngine);
    if (o.rowGroupSize !== undefined && ndjson) throw invalidOption(n('rowGroupSize'), 'used with Parquet only', o.rowGroupSize);
  }
  if (o.stream !== undefined && o.table !== undefined) throw invalidOption(n('table'), `given alone: ${n('stream')} and ${n('table')} both name the table`, o.table);
}

/**
 * Check options given to the library (names are keys). Only what is set is checked; returns the
 * same object. Library entry points call this, so a bad value never goes further.
 */
export function checkOptions<T extends object>(command: Command, opts: T): T {
  const o = opts as OptionValues;
  for (const spec of optionsFor(command)) {
    const v = getPath(o, spec.key);
    if (v !== undefined) coerceOption(spec, v, { kind: 'library' });
  }
  crossCheck(command, o, { kind: 'library' });
  return opts;
}

export interface ParsedCommandLine {
  values: OptionValues;
  positionals: string[];
  help: boolean;
}

/** Parse a subcommand's flags (from the table), refusing unknown ones and credentials. */
export function parseFlags(command: Command, args: string[], usage: string): ParsedCommandLine {
  const specs = optionsFor(command).filter((s) => s.flag !== undefined);
  const config: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const s of specs) config[s.flag!] = { type: s.kind === 'boolean' ? 'boolean' : 'string' };
  for (const f of SECRET_FLAGS) config[f] ??= { type: 'string' };
  // A value that begins with '-' (`--start-time -5`) is the flag's value, not another flag: give it
  // to the flag with '=' so the parser does not take it for an unknown option.
  const takesValue = new Set(specs.filter((s) => s.kind !== 'boolean').map((s) => `--${s.flag!}`));
  const argv: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (takesValue.has(a) && next !== undefined && /^-[\d.]/.test(next)) {
      argv.push(`${a}=${next}`);
      i++;
    } else argv.push(a);
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    const m = /'(--?[\w-]+)'/.exec((err as Error).message);
    const what = m ? `unknown option ${m[1]} for ${usage}` : (err as Error).message;
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${what}; see ${usage} --help`, { option: m?.[1] ?? 'argv' });
  }
  for (const secret of SECRET_FLAGS) {
    if (parsed.values[secret] !== undefined && !specs.some((s) => s.flag === secret)) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `--${secret} is refused: credentials are never taken from the command line (they leak into shell history and ps). Set ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL with ZENDESK_API_TOKEN, in the environment (or a _FILE variable)`, { option: `--${secret}` });
    }
  }
  // A URL on the command line shows in ps and shell history: one with a password in it is refused,
  // and the value is not repeated.
  for (const s of specs) {
    const v = parsed.values[s.flag!];
    if (typeof v === 'string' && URL.canParse(v) && new URL(v).password !== '') {
      const env = s.env ? `set ${s.env} in the environment instead` : 'give the password through the environment instead';
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `--${s.flag} with a password in its URL is refused: it would show in ps and shell history; ${env}`, { option: `--${s.flag}` });
    }
  }
  const values: OptionValues = {};
  for (const s of specs) {
    const v = parsed.values[s.flag!];
    if (v === undefined) continue;
    setPath(values, s.key, coerceOption(s, v, { kind: 'flag' }));
    if (s.kind === 'time') remember(values, s.key, v);
  }
  return { values, positionals: parsed.positionals, help: parsed.values.help === true };
}

/** What a config file may say beyond options: which environment variables hold the credentials. */
export interface ConfigFile {
  values: OptionValues;
  /** `{ "ZENDESK_API_TOKEN": "ACME_TOKEN" }`: read ACME_TOKEN where ZENDESK_API_TOKEN is meant. */
  env: Record<string, string>;
}

const CREDENTIAL_VARIABLES = /^ZENDESK_(EMAIL|API_TOKEN|PASSWORD|OAUTH_TOKEN)(_FILE)?$/;

function flatten(o: OptionValues, prefix = '', out: OptionValues = {}): OptionValues {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && OPTIONS.some((s) => s.key.startsWith(`${key}.`))) flatten(v as OptionValues, key, out);
    else out[key] = v;
  }
  return out;
}

/** Options from an object by library names (a config file, a fleet entry), checked for `command`. */
export function readOptionObject(command: Command, raw: unknown, file: string, ignore: readonly string[] = []): ConfigFile {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${file} must hold a JSON object of options by their library names`, { option: 'config', path: file });
  const source: OptionSource = { kind: 'config', file };
  const values: OptionValues = {};
  let env: Record<string, string> = {};
  for (const [key, v] of Object.entries(flatten(raw as OptionValues))) {
    if ((SECRET_KEYS as readonly string[]).includes(key)) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${key} (in ${file}) is refused: credentials never go in files; keep them in the environment, and name the variables in "env", e.g. {"env": {"ZENDESK_API_TOKEN": "ACME_TOKEN"}}`, { option: key, path: file });
    }
    if (key === 'env') {
      env = readEnvMap(v, file);
      continue;
    }
    if (ignore.includes(key)) continue;
    const spec = OPTIONS.find((s) => s.key === key);
    if (!spec) throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${key} (in ${file}) is not an option; options go by their library names, such as rateLimit or partitionBy`, { option: key, path: file });
    if (!spec.commands.includes(command)) continue; // an option of another command, in a shared file
    setPath(values, key, coerceOption(spec, v, source));
    if (spec.kind === 'time') remember(values, key, v);
  }
  return { values, env };
}

function readEnvMap(v: unknown, file: string): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidOption(`env (in ${file})`, 'an object naming environment variables, such as {"ZENDESK_API_TOKEN": "ACME_TOKEN"}', v);
  const out: Record<string, string> = {};
  for (const [k, name] of Object.entries(v as Record<string, unknown>)) {
    if (!CREDENTIAL_VARIABLES.test(k)) throw invalidOption(`env (in ${file})`, 'keys among ZENDESK_EMAIL, ZENDESK_API_TOKEN, ZENDESK_PASSWORD, ZENDESK_OAUTH_TOKEN (or their _FILE forms)', k);
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw invalidOption(`env.${k} (in ${file})`, 'the name of an environment variable', name);
    out[k] = name;
  }
  return out;
}

/**
 * Credentials that could not be found, when a config file's `env` names variables that are not set:
 * say which mapping left them out, rather than which ZENDESK_ variable is missing.
 */
export function unsetEnvMapping(file: string, unset: readonly (readonly [string, string])[]): ZendeskEtlError {
  const which = unset.map(([target, name]) => `${target} from ${name}`).join(' and ');
  return new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `no Zendesk credentials: "env" in ${file} reads ${which}, which ${unset.length === 1 ? 'is' : 'are'} not set in the environment`, { option: `env (in ${file})`, path: file });
}

/** A config file (`--config FILE`). */
export function readConfigFile(command: Command, file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `--config ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { option: '--config', path: file });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `--config ${file} is not JSON: ${(err as Error).message}`, { option: '--config', path: file });
  }
  return readOptionObject(command, raw, file);
}

/** Options a variable of the environment gives (`ZENDESK_SUBDOMAIN`, ...), when set and not empty. */
export function envOptions(command: Command, env: NodeJS.ProcessEnv): OptionValues {
  const values: OptionValues = {};
  for (const s of optionsFor(command)) {
    const v = s.env === undefined ? undefined : env[s.env];
    if (v === undefined || v === '') continue;
    setPath(values, s.key, coerceOption(s, v, { kind: 'env' }));
    if (s.kind === 'time') remember(values, s.key, v);
  }
  return values;
}

/** Layers of options, the last winning, then the rules between them (named as the winner's source). */
/** The merged values are checked against the table, so they have the table's types. */
export function mergeOptions(command: Command, layers: readonly { values: OptionValues; source: OptionSource }[]): Options {
  const out: OptionValues = {};
  let source: OptionSource = { kind: 'library' };
  for (const layer of layers) {
    for (const spec of optionsFor(command)) {
      const v = getPath(layer.values, spec.key);
      if (v === undefined) continue;
      setPath(out, spec.key, v);
      const typed = TYPED.get(layer.values)?.get(spec.key);
      if (typed !== undefined) remember(out, spec.key, typed);
      else TYPED.get(out)?.delete(spec.key);
    }
    if (layer.source.kind === 'flag') source = layer.source;
  }
  crossCheck(command, out, source);
  return out as Options;
}

/** The help of one subcommand, made from the table. */
export function helpFor(command: Command, usage: string, about: string): string {
  const lines = [`Usage: ${usage}`, '', about, '', 'Options:'];
  const specs = optionsFor(command).filter((s) => s.flag !== undefined);
  const left = specs.map((s) => `  --${s.flag}${s.kind === 'boolean' ? '' : ` ${s.arg ?? (s.kind === 'enum' ? s.values!.join('|') : 'VALUE')}`}`);
  const width = Math.min(44, Math.max(...left.map((l) => l.length)) + 2);
  specs.forEach((s, i) => {
    const shown = shownDefault(s);
    const extra = [shown !== undefined ? `default ${shown}` : '', s.env ? `env ${s.env}` : ''].filter(Boolean).join('; ');
    const text = `${s.help}${extra ? ` (${extra})` : ''}`;
    const l = left[i]!;
    lines.push(l.length < width ? `${l.padEnd(width)}${text}` : `${l}\n${' '.repeat(width)}${text}`);
  });
  lines.push('  --help'.padEnd(width) + 'this help');
  return `${lines.join('\n')}\n`;
}

/**
 * Options checked (as `checkOptions` does) and resolved, once: a copy in which every option with a
 * default in the table has its value, so no module down the line keeps a default of its own
 * (csv-parse's `normalize_options`). Library entry points take partial options and call this.
 */
export function resolveOptions(command: Command, values: object): ResolvedOptions {
  checkOptions(command, values);
  const out: OptionValues = { ...(values as OptionValues) };
  const timeouts = out.timeouts;
  out.timeouts = timeouts !== null && typeof timeouts === 'object' ? { ...(timeouts as OptionValues) } : {};
  for (const spec of OPTIONS) {
    if (spec.default === undefined || getPath(out, spec.key) !== undefined) continue;
    setPath(out, spec.key, Array.isArray(spec.default) ? [...(spec.default as readonly string[])] : spec.default);
  }
  return out as ResolvedOptions;
}

/** The default of one option, from the table. */
export function optionDefault<K extends keyof typeof OPTION_DEFAULTS>(key: K): (typeof OPTION_DEFAULTS)[K] {
  return OPTION_DEFAULTS[key];
}

/** A setting of the environment only (`ZENDESK_ETL_S3_PART_MB`), checked by its spec; undefined when unset. */
export function envSetting<K extends keyof OptionTypes>(key: K, env: NodeJS.ProcessEnv): OptionTypes[K] | undefined {
  const spec = optionSpec(key);
  const raw = spec.env === undefined ? undefined : env[spec.env];
  if (raw === undefined || raw === '') return undefined;
  return coerceOption(spec, raw, { kind: 'env' }) as OptionTypes[K];
}
