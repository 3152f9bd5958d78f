/**
 * Every option of the CLI and the library, in one table: its library name (also its key in a
 * `--config` file), its flag, its type and bounds, its default and its help. The CLI's parser, each
 * subcommand's `--help`, config files and the library's checks are all made from it.
 */

export type Command = 'export' | 'replay' | 'compact' | 'vacuum' | 'check' | 'state' | 'mock-server' | 'demo' | 'fleet' | 'worker';

export type OptionKind =
  /** Free text (validated by `check` where given). */
  | 'string'
  | 'boolean'
  /** A whole number in [min, max]. */
  | 'int'
  /** A number in [min, max]. */
  | 'number'
  /** One of `values`. */
  | 'enum'
  /** Comma-separated values, each one of `values`. */
  | 'list'
  /** Unix seconds or ISO-8601. */
  | 'time';

export type OptionDefault = string | number | boolean | readonly string[];

export interface OptionSpec {
  /** The library's name for it (`rateLimit`; `timeouts.bodyIdle` for a nested one). */
  key: string;
  /** The flag, without dashes (`rate-limit`); undefined for library and config only. */
  flag?: string;
  kind: OptionKind;
  values?: readonly string[];
  /** Bounds, in the library's unit (a flag's are these divided by `scale`). */
  min?: number;
  max?: number;
  /** The flag's unit times this is the library's (MB to bytes, minutes to ms). */
  scale?: number;
  /** What the flag takes, in help (`N`, `DIR`). */
  arg?: string;
  help: string;
  /** The default, in the library's unit: the one place it is written (`resolveOptions` fills it in). */
  default?: OptionDefault;
  /** The default as help shows it, when it is not one value (it depends on another option). */
  defaultHelp?: string;
  commands: readonly Command[];
  /** An environment variable read when neither a flag nor the config gives it. */
  env?: string;
}

export const STREAM_NAMES = ['tickets', 'ticket_events', 'users', 'organizations'] as const;

/** Sideloads Zendesk's incremental exports accept (`include=`). */
export const SIDELOADS = ['users', 'groups', 'organizations', 'brands', 'metric_sets', 'metric_events', 'ticket_forms', 'dates', 'slas', 'comment_events', 'comment_count'] as const;

const LAKE: readonly Command[] = ['export', 'replay'];
const MAINTAIN: readonly Command[] = ['compact', 'vacuum', 'state'];

/** Rows per Parquet row group, by engine (parquetjs-lite holds a row group in memory as JS objects). */
export const ROW_GROUP_ROWS = { wasm: 100_000, duckdb: 100_000, parquetjs: 4096 } as const;

const MiB = 1024 * 1024;

const TABLE = [
  // The account.
  { key: 'subdomain', flag: 'subdomain', kind: 'string', arg: 'NAME', help: 'the account: NAME.zendesk.com', env: 'ZENDESK_SUBDOMAIN', commands: ['export', 'check'] },
  { key: 'baseUrl', flag: 'base-url', kind: 'string', arg: 'URL', help: 'the account by URL (proxies, stand-ins); HTTPS only, except on loopback', env: 'ZENDESK_BASE_URL', commands: ['export', 'check'] },
  // Where rows go.
  { key: 'out', flag: 'out', kind: 'string', arg: 'DIR|s3://B/P|-', help: 'the lake: a folder, s3://BUCKET/PREFIX, or - for NDJSON on stdout', commands: ['export', 'replay', 'demo'] },
  { key: 'format', flag: 'format', kind: 'enum', values: ['parquet', 'ndjson'], help: 'file format; a table keeps the one it was created with', defaultHelp: 'parquet (ndjson with --out -)', commands: ['export', 'replay', 'demo'] },
  { key: 'partitionBy', flag: 'partition-by', kind: 'string', arg: 'FIELD:day|month|year', help: 'Hive partitions by a timestamp field, e.g. updated_at:month; pinned by the table', commands: LAKE },
  { key: 'gzip', flag: 'gzip', kind: 'boolean', help: 'gzip NDJSON files; pinned by the table', commands: LAKE },
  { key: 'customFieldNames', flag: 'custom-field-names', kind: 'enum', values: ['id', 'title'], help: 'custom field columns: custom_fields__<id> or custom_fields__<title slug>; pinned by the table', default: 'id', commands: LAKE },
  { key: 'maxRowsPerFile', flag: 'max-rows-per-file', kind: 'int', min: 1, max: 100_000_000, arg: 'N', help: 'start a new file after N rows', default: 100_000, commands: LAKE },
  { key: 'maxBytesPerFile', flag: 'max-file-mb', kind: 'int', min: 1024, max: 1_000_000 * 1024 * 1024, scale: 1024 * 1024, arg: 'N', help: 'start a new file after N MiB', default: 256 * 1024 * 1024, commands: LAKE },
  { key: 'rowGroupSize', flag: 'row-group-size', kind: 'int', min: 100, max: 10_000_000, arg: 'N', help: 'Parquet rows per row group (row groups are also bounded at 16 MiB)', defaultHelp: `${ROW_GROUP_ROWS.wasm} (parquetjs engine: ${ROW_GROUP_ROWS.parquetjs})`, commands: LAKE },
  { key: 'compression', flag: 'compression', kind: 'enum', values: ['snappy', 'gzip', 'none'], help: 'Parquet codec', default: 'snappy', commands: LAKE },
  { key: 'parquetEngine', flag: 'parquet-engine', kind: 'enum', values: ['wasm', 'parquetjs', 'duckdb'], help: 'Parquet writer: wasm (arrow-rs in WebAssembly, on a second thread), parquetjs (pure JS, slow) or duckdb (needs npm install @duckdb/node-api)', default: 'wasm', commands: LAKE },
  { key: 'parser', flag: 'parser', kind: 'enum', values: ['scan', 'stream-json'], help: 'page parser', default: 'scan', commands: LAKE },
  { key: 'commitIntervalMs', flag: 'commit-interval', kind: 'int', min: 1, max: 86_400_000, scale: 1000, arg: 'SECONDS', help: 'commit at least this often', default: 300 * 1000, commands: LAKE },
  { key: 's3ForcePathStyle', flag: 's3-force-path-style', kind: 'boolean', help: 'address S3 buckets by path (always on for IP and localhost endpoints)', commands: [...LAKE, 'compact', 'vacuum', 'state'] },
  { key: 'statePath', flag: 'state', kind: 'string', arg: 'FILE', help: 'with --out -: where to keep the position, to resume (a lake needs none: its log is its state)', commands: ['export'] },
  // What to export.
  { key: 'pagination', flag: 'pagination', kind: 'enum', values: ['cursor', 'time'], help: 'cursor (Zendesk\'s advice) or time (start_time)', defaultHelp: 'cursor', commands: ['export'] },
  { key: 'startTime', flag: 'start-time', kind: 'time', arg: 'UNIX|ISO-8601', help: 'where the window starts (a date alone is midnight UTC)', default: 0, commands: ['export'] },
  { key: 'endTime', flag: 'end-time', kind: 'time', arg: 'UNIX|ISO-8601', help: 'where the window ends, exclusive; the bar and ETA measure toward it', commands: ['export'] },
  { key: 'rateLimit', flag: 'rate-limit', kind: 'number', min: 0, max: 100_000, arg: 'N', help: 'requests per minute; 0 turns the limiter off (stand-ins only)', defaultHelp: '10 (users, cursor: 20)', commands: ['export', 'mock-server'] },
  { key: 'perPage', flag: 'per-page', kind: 'int', min: 1, max: 1000, arg: 'N', help: 'records per page; smaller if Zendesk times out', default: 1000, commands: ['export'] },
  { key: 'supportTypeScope', flag: 'support-type-scope', kind: 'enum', values: ['agent', 'ai_agent', 'all'], help: 'which tickets (Zendesk\'s default, agent, leaves AI-agent tickets out)', default: 'all', commands: ['export'] },
  { key: 'excludeDeleted', flag: 'exclude-deleted', kind: 'boolean', help: 'leave out deleted tickets', commands: ['export'] },
  { key: 'include', flag: 'include', kind: 'list', values: SIDELOADS, arg: 'LIST', help: 'sideloads into tables of their own, e.g. users,groups', commands: ['export'] },
  { key: 'excludeSystemUpdates', flag: 'exclude-system-updates', kind: 'boolean', help: 'drop versions whose updated_at is before the window start (counted)', commands: ['export'] },
  { key: 'raw', flag: 'raw', kind: 'string', arg: 'DIR', help: 'also keep each page\'s raw bytes, gzipped (for replay)', commands: ['export'] },
  // Retries and timeouts.
  { key: 'retries', flag: 'retries', kind: 'int', min: 0, max: 1000, arg: 'N', help: 'retries of one page (429s do not count)', default: 8, commands: ['export'] },
  { key: 'maxRetryTimeMs', flag: 'max-retry-minutes', kind: 'int', min: 1, max: 10_000 * 60_000, scale: 60_000, arg: 'N', help: 'the longest time spent retrying one page', default: 15 * 60_000, commands: ['export'] },
  { key: 'minRetryDelayMs', kind: 'int', min: 0, max: 3_600_000, help: 'first backoff delay, ms', default: 1000, commands: ['export'] },
  { key: 'maxRetryDelayMs', kind: 'int', min: 0, max: 3_600_000, help: 'longest backoff delay, ms', default: 60_000, commands: ['export'] },
  { key: 'timeouts.bodyIdle', flag: 'idle-timeout', kind: 'int', min: 1, max: 3_600_000, scale: 1000, arg: 'SECONDS', help: 'the longest silence while a page streams', default: 60 * 1000, commands: ['export'] },
  { key: 'timeouts.headers', kind: 'int', min: 1, max: 3_600_000, help: 'waiting for response headers, ms', default: 120_000, commands: ['export'] },
  { key: 'timeouts.connect', kind: 'int', min: 1, max: 600_000, help: 'connecting, ms', default: 10_000, commands: ['export'] },
  // Fleet: a shared rate limit, and jobs on Redis (BullMQ).
  { key: 'redis', flag: 'redis', kind: 'string', arg: 'URL', help: 'share the rate limit of each account across processes through Redis (redis://HOST:PORT); for fleet and worker, also the job queue', env: 'ZENDESK_ETL_REDIS_URL', commands: ['export', 'fleet', 'worker'] },
  { key: 'queue', flag: 'queue', kind: 'string', arg: 'NAME', help: 'the BullMQ queue of the fleet\'s jobs', default: 'zendesk-etl', env: 'ZENDESK_ETL_QUEUE', commands: ['fleet', 'worker'] },
  { key: 'attempts', flag: 'attempts', kind: 'int', min: 1, max: 1000, arg: 'N', help: 'fleet enqueue: runs of a job before it fails for good (bad settings and refused credentials fail at once)', default: 8, commands: ['fleet'] },
  { key: 'backoffSeconds', flag: 'backoff', kind: 'int', min: 1, max: 86_400, arg: 'SECONDS', help: 'fleet enqueue: first wait before a failed job runs again; doubles each time', default: 60, commands: ['fleet'] },
  { key: 'run', flag: 'run', kind: 'string', arg: 'LABEL', help: 'fleet enqueue: a label in every job id (e.g. a date), to enqueue the same fleet again as new jobs', commands: ['fleet'] },
  { key: 'concurrency', flag: 'concurrency', kind: 'int', min: 1, max: 1000, arg: 'N', help: 'jobs run at once by this worker', default: 1, commands: ['worker'] },
  { key: 'lockSeconds', flag: 'lock-seconds', kind: 'int', min: 1, max: 3600, arg: 'SECONDS', help: 'a job whose worker stops renewing its lock this long (killed, frozen) goes back to the queue and resumes elsewhere', default: 30, commands: ['worker'] },
  { key: 'exitWhenDrained', flag: 'exit-when-drained', kind: 'boolean', help: 'exit once no job is waiting, delayed or active (batch runs); default: run until SIGTERM', commands: ['worker'] },
  // Keys of an account in a fleet file (beside its export options).
  { key: 'name', kind: 'string', help: 'fleet file: the account\'s name in job ids (letters, digits, - and _)', commands: ['fleet'] },
  { key: 'streams', kind: 'list', values: STREAM_NAMES, help: 'fleet file: the streams to export', default: ['tickets'], commands: ['fleet'] },
  { key: 'windows', kind: 'int', min: 1, max: 10_000, help: 'fleet file: split [startTime, endTime or now) into N windows, one job each', default: 1, commands: ['fleet'] },
  // Maintenance.
  { key: 'stream', flag: 'stream', kind: 'enum', values: STREAM_NAMES, help: 'the stream whose table to work on', default: 'tickets', commands: MAINTAIN },
  { key: 'table', flag: 'table', kind: 'string', arg: 'NAME', help: 'a table by its folder (tickets__users for a sideload table)', commands: MAINTAIN },
  { key: 'minFiles', flag: 'min-files', kind: 'int', min: 2, max: 1_000_000, arg: 'N', help: 'compact a partition once it holds N files', default: 8, commands: ['compact'] },
  { key: 'targetBytes', flag: 'target-mb', kind: 'int', min: 1, max: 1_000_000 * 1024 * 1024, scale: 1024 * 1024, arg: 'N', help: 'merge files up to N MiB together', default: 256 * 1024 * 1024, commands: ['compact'] },
  { key: 'retentionHours', flag: 'retention-hours', kind: 'number', min: 0, max: 100_000, arg: 'N', help: 'keep files no longer in the table this long', default: 168, commands: ['vacuum'] },
  { key: 'dryRun', flag: 'dry-run', kind: 'boolean', help: 'list what would be deleted, delete nothing', commands: ['vacuum'] },
  { key: 'yes', flag: 'yes', kind: 'boolean', help: 'state reset: really reset (files leave the table; the reset is recorded in its log)', commands: ['state'] },
  { key: 'json', flag: 'json', kind: 'boolean', help: 'print JSON', commands: ['state', 'check', 'fleet'] },
  // The stand-in.
  { key: 'port', flag: 'port', kind: 'int', min: 0, max: 65535, arg: 'N', help: 'port on 127.0.0.1 (0: any free one)', default: 0, commands: ['mock-server'] },
  { key: 'tickets', flag: 'tickets', kind: 'int', min: 0, max: 100_000_000, arg: 'N', help: 'tickets in the account', defaultHelp: '10000 (demo: 50000)', commands: ['mock-server', 'demo'] },
  { key: 'faultRate', flag: 'fault-rate', kind: 'number', min: 0, max: 1, arg: '0..1', help: 'share of export requests that fail in random ways', default: 0, commands: ['mock-server'] },
  { key: 'hugeEvery', flag: 'huge-every', kind: 'int', min: 0, max: 100_000_000, arg: 'N', help: 'one ticket in N has a huge description', commands: ['mock-server'] },
  { key: 'hugeBytes', flag: 'huge-bytes', kind: 'int', min: 0, max: 1_000_000_000, arg: 'N', help: 'size of a huge description', commands: ['mock-server'] },
  { key: 'seed', flag: 'seed', kind: 'int', min: 0, max: 2 ** 31, arg: 'N', help: 'seed of the generated account', commands: ['mock-server'] },
  { key: 'cache', flag: 'cache', kind: 'boolean', help: 'keep rendered tickets (benchmarks)', commands: ['mock-server'] },
  { key: 'identity', flag: 'identity', kind: 'boolean', help: 'never gzip responses', commands: ['mock-server'] },
  // Every command.
  { key: 'quiet', flag: 'quiet', kind: 'boolean', help: 'errors only: no progress, no notes', commands: ['export', 'replay', 'compact', 'vacuum', 'check', 'state', 'mock-server', 'demo', 'fleet', 'worker'] },
  { key: 'logFormat', flag: 'log-format', kind: 'enum', values: ['text', 'json'], help: 'stderr as text, or one JSON object a line', default: 'text', commands: ['export', 'replay', 'compact', 'vacuum', 'check', 'state', 'mock-server', 'demo', 'fleet', 'worker'] },
  { key: 'logLevel', flag: 'log-level', kind: 'enum', values: ['error', 'warn', 'info', 'debug'], help: 'the least important lines shown', default: 'info', commands: ['export', 'replay', 'compact', 'vacuum', 'check', 'state', 'mock-server', 'demo', 'fleet', 'worker'] },
  // Settings of the environment only (no flag, no config key): for tests, benchmarks and slow storage.
  { key: 's3PartSizeBytes', kind: 'int', min: 5 * MiB, max: 5 * 1024 * MiB, scale: MiB, help: 'S3 multipart part size, MiB', default: 8 * MiB, env: 'ZENDESK_ETL_S3_PART_MB', commands: [] },
  { key: 's3QueueSize', kind: 'int', min: 1, max: 64, help: 'S3 parts uploaded at once per file', default: 2, env: 'ZENDESK_ETL_S3_QUEUE', commands: [] },
  { key: 'leaseTtlMs', kind: 'int', min: 1000, help: 'a table lease\'s time to live, ms', default: 120_000, env: 'ZENDESK_ETL_LEASE_TTL_MS', commands: [] },
  { key: 'config', flag: 'config', kind: 'string', arg: 'FILE', help: 'options in a JSON file, by library name (flags win); fleet: the fleet file', commands: ['export', 'replay', 'compact', 'vacuum', 'check', 'state', 'demo', 'fleet', 'worker'] },
] as const satisfies readonly OptionSpec[];

export const OPTIONS: readonly OptionSpec[] = TABLE;

type Spec = (typeof TABLE)[number];
type ValueOf<S> = S extends { kind: 'boolean' }
  ? boolean
  : S extends { kind: 'int' | 'number' | 'time' }
    ? number
    : S extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : S extends { kind: 'list'; values: readonly (infer V)[] }
        ? readonly V[]
        : string;

/** Every option by its library name (dotted for a nested one: `timeouts.bodyIdle`), typed from the table. */
export type OptionTypes = { [S in Spec as S['key']]: ValueOf<S> };
type DefaultedKey = Extract<Spec, { default: OptionDefault }>['key'];
type Top<T> = { [K in keyof T as K extends `${string}.${string}` ? never : K]: T[K] };
type Nested<T, P extends string> = { [K in keyof T as K extends `${P}.${infer R}` ? R : never]: T[K] };

/** Options as the library and a config file take them: any may be left out. */
export type Options = Partial<Top<OptionTypes>> & { timeouts?: Partial<Nested<OptionTypes, 'timeouts'>> | undefined };

/** The defaults, typed, by library name (dotted for a nested one). */
export type OptionDefaults = { [K in DefaultedKey]: OptionTypes[K] };

/** Options after `resolveOptions`: every option with a default has its value. */
export type ResolvedOptions = Options & Top<OptionDefaults> & { timeouts: Partial<Nested<OptionTypes, 'timeouts'>> & Nested<OptionDefaults, 'timeouts'> };

export const OPTION_DEFAULTS: OptionDefaults = Object.fromEntries(OPTIONS.flatMap((o) => (o.default === undefined ? [] : [[o.key, o.default]]))) as OptionDefaults;

/** The one spec of an option, by its library name. */
export function optionSpec(key: keyof OptionTypes): OptionSpec {
  return OPTIONS.find((o) => o.key === key)!;
}

/** A default as help shows it: in the flag's unit (MiB, minutes, seconds). */
export function shownDefault(spec: OptionSpec): string | undefined {
  if (spec.defaultHelp !== undefined) return spec.defaultHelp;
  const d = spec.default;
  if (d === undefined) return undefined;
  if (typeof d === 'number') return String(spec.flag !== undefined && spec.scale ? d / spec.scale : d);
  return Array.isArray(d) ? d.join(',') : String(d);
}

/** Flags that are never accepted: credentials on a command line end up in shell history and `ps`. */
export const SECRET_FLAGS = ['token', 'api-token', 'password', 'oauth-token', 'email'] as const;

/** Keys a config file may not hold, for the same reason (name environment variables in `env` instead). */
export const SECRET_KEYS = ['token', 'apiToken', 'password', 'oauthToken', 'accessToken', 'credentials'] as const;

export function optionsFor(command: Command): OptionSpec[] {
  return OPTIONS.filter((o) => o.commands.includes(command));
}
