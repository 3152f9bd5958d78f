#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { credentialsFromEnv, Credentials } from '../auth.js';
import { ErrorCodes, ZendeskEtlError, invalidOption } from '../errors.js';
import { STREAMS, type StreamName } from '../streams.js';
import { compactTable } from '../table/compact.js';
import { vacuumTable } from '../table/vacuum.js';
import { openStorage } from '../storage/open-storage.js';
import { exportStream, replayTickets, type ExportResult, type ExportTicketsOptions, type LakeRunOptions, type ReplayTicketsOptions } from '../export.js';
import { MockZendesk, type MockZendeskOptions } from '../mock/server.js';
import { ExportStats } from '../stats.js';
import { formatTime, parseTime } from '../time.js';
import { resolveOrigin } from '../url.js';
import { Progress } from './progress.js';

/** Exit codes. */
export const EXIT = {
  OK: 0,
  /** The run failed (network, Zendesk, disk). What was committed stays; re-run to resume. */
  FAILED: 1,
  /** A bad option or missing credentials. Nothing was done. */
  USAGE: 2,
  /** 401 or 403: the credentials were refused. */
  AUTH: 4,
  /** Another run holds the table (a live lease on an overlapping window): try again later. */
  BUSY: 75,
  /** Stopped by SIGINT/SIGTERM after committing what was complete: re-run to resume. */
  INTERRUPTED: 130,
} as const;

const HELP = `zendesk-etl: stream Zendesk's Incremental Ticket Export into Parquet or NDJSON

Usage:
  zendesk-etl export <stream> [options]  export (or resume) a stream into a lake: tickets (default
                                         table), ticket_events, users (cursor: 20 req/min), organizations
  zendesk-etl replay DIR --out LAKE [--format F] [--partition-by P]
                                         rebuild a lake from a raw archive, without Zendesk
  zendesk-etl compact LAKE [--stream S] [--min-files N] [--target-mb N]
                                         merge small files left by incremental runs (atomic; Parquet needs @duckdb/node-api)
  zendesk-etl mock-server [options]      run the Zendesk stand-in on loopback
  zendesk-etl demo [--out DIR] [--tickets N]
                                         backfill the built-in stand-in into a local lake

export tickets options:
  --subdomain NAME | --base-url URL      the account (env ZENDESK_SUBDOMAIN / ZENDESK_BASE_URL)
  --format parquet|ndjson                default parquet
  --out DIR | -                          the lake folder, or - for NDJSON on stdout
  --pagination cursor|time               default cursor
  --start-time UNIX|ISO-8601             default 0 when there is no saved state (saved state wins)
  --end-time UNIX|ISO-8601               exclusive end of the window (generated_timestamp)
  --rate-limit N                         export requests per minute, default 10 (0: off, stand-ins only)
  --per-page N                           1..1000, default 1000
  --support-type-scope agent|ai_agent|all  default all
  --exclude-deleted                      leave out deleted tickets
  --include LIST                         sideloads, e.g. users,groups
  --exclude-system-updates               drop versions whose updated_at is before the window start (counted)
  --partition-by FIELD:day|month|year    Hive folders, e.g. updated_at:month
  --gzip                                 gzip NDJSON files
  --max-rows-per-file N                  default 100000
  --max-file-mb N                        default 256 (files rotate at whichever comes first)
  --row-group-size N                     Parquet rows per row group, default 4096 (duckdb engine: 100000)
  --compression snappy|gzip|none         Parquet codec, default snappy
  --custom-field-names id|title          column names for custom fields, default id
  --parser scan|stream-json              default scan
  --parquet-engine parquetjs|duckdb      default parquetjs; duckdb needs npm install @duckdb/node-api
  --retries N                            retries of one page before giving up, default 8 (429s do not count)
  --max-retry-minutes N                  the longest time spent retrying one page, default 15
  --idle-timeout SECONDS                 the longest silence while a page streams, default 60
  --state FILE                           default <out>/_state/tickets.json
  --raw DIR                              also keep each page's raw bytes, gzipped (a bronze layer)
  --quiet                                no progress

Credentials come from the environment only: ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL with
ZENDESK_API_TOKEN (or ZENDESK_PASSWORD); each also as a file with the _FILE suffix.

Exit codes: 0 complete, 1 failed (re-run to resume), 2 bad usage, 4 credentials refused,
130 interrupted after committing (re-run to resume).
`;

type Out = NodeJS.WritableStream;

function int(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw invalidOption(`--${name}`, `a whole number from ${min} to ${max}`, value);
  return n;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw invalidOption(`--${name}`, allowed.map((a) => `"${a}"`).join(' or '), value);
  return value as T;
}

const EXPORT_OPTIONS = {
  subdomain: { type: 'string' },
  'base-url': { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  pagination: { type: 'string' },
  'start-time': { type: 'string' },
  'end-time': { type: 'string' },
  'rate-limit': { type: 'string' },
  'per-page': { type: 'string' },
  'support-type-scope': { type: 'string' },
  'exclude-deleted': { type: 'boolean' },
  include: { type: 'string' },
  'exclude-system-updates': { type: 'boolean' },
  'partition-by': { type: 'string' },
  gzip: { type: 'boolean' },
  'max-rows-per-file': { type: 'string' },
  'max-file-mb': { type: 'string' },
  'row-group-size': { type: 'string' },
  compression: { type: 'string' },
  'custom-field-names': { type: 'string' },
  parser: { type: 'string' },
  'parquet-engine': { type: 'string' },
  retries: { type: 'string' },
  'max-retry-minutes': { type: 'string' },
  'idle-timeout': { type: 'string' },
  state: { type: 'string' },
  raw: { type: 'string' },
  quiet: { type: 'boolean' },
  // Never accepted: credentials on the command line end up in shell history and `ps`.
  token: { type: 'string' },
  'api-token': { type: 'string' },
  password: { type: 'string' },
  'oauth-token': { type: 'string' },
} as const;

export interface CliIo {
  stdout: Out;
  stderr: Out;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM. */
  signal?: AbortSignal;
}

type OptionsConfig = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

function parse<T extends OptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `${(err as Error).message}. See zendesk-etl --help`, { option: 'argv' });
  }
}

export async function exportCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, EXPORT_OPTIONS);
  const stream = positionals[0];
  if (stream === undefined || !(stream in STREAMS)) throw invalidOption('stream', `one of ${Object.keys(STREAMS).join(', ')} (zendesk-etl export tickets ...)`, stream ?? null);
  for (const secret of ['token', 'api-token', 'password', 'oauth-token'] as const) {
    if (values[secret] !== undefined) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `--${secret} is refused: credentials are never taken from the command line (they leak into shell history and ps). Set ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL with ZENDESK_API_TOKEN, in the environment`, { option: `--${secret}` });
    }
  }
  const origin = resolveOrigin({
    subdomain: values.subdomain ?? (values['base-url'] === undefined ? io.env.ZENDESK_SUBDOMAIN || undefined : undefined),
    baseUrl: values['base-url'] ?? (values.subdomain === undefined && !io.env.ZENDESK_SUBDOMAIN ? io.env.ZENDESK_BASE_URL || undefined : undefined),
  });
  if (values.out === undefined) throw invalidOption('--out', 'a folder for the lake, or - for NDJSON on stdout', null);
  // Left out, a table keeps the format it was created with (parquet for a new one).
  const format = oneOf('format', values.format, ['parquet', 'ndjson'] as const) ?? (values.out === '-' ? 'ndjson' : undefined);
  const credentials: Credentials = credentialsFromEnv(io.env);
  const opts: ExportTicketsOptions = {
    origin,
    credentials,
    format,
    out: values.out,
    statePath: values.state,
    pagination: oneOf('pagination', values.pagination, ['cursor', 'time'] as const),
    startTime: values['start-time'] === undefined ? undefined : parseTime(values['start-time'], '--start-time'),
    endTime: values['end-time'] === undefined ? undefined : parseTime(values['end-time'], '--end-time'),
    rateLimit: int('rate-limit', values['rate-limit'], 0, 100_000),
    perPage: int('per-page', values['per-page'], 1, 1000),
    supportTypeScope: oneOf('support-type-scope', values['support-type-scope'], ['agent', 'ai_agent', 'all'] as const),
    excludeDeleted: values['exclude-deleted'] ?? false,
    include: values.include?.split(',').map((s) => s.trim()).filter(Boolean),
    excludeSystemUpdates: values['exclude-system-updates'] ?? false,
    partitionBy: values['partition-by'],
    gzip: values.gzip,
    maxRowsPerFile: int('max-rows-per-file', values['max-rows-per-file'], 1),
    maxBytesPerFile: values['max-file-mb'] === undefined ? undefined : int('max-file-mb', values['max-file-mb'], 1, 1_000_000)! * 1024 * 1024,
    rowGroupSize: int('row-group-size', values['row-group-size'], 100, 10_000_000),
    compression: oneOf('compression', values.compression, ['snappy', 'gzip', 'none'] as const),
    customFieldNames: oneOf('custom-field-names', values['custom-field-names'], ['id', 'title'] as const),
    parser: oneOf('parser', values.parser, ['scan', 'stream-json'] as const),
    raw: values.raw,
    retries: int('retries', values.retries, 0, 1000),
    maxRetryTimeMs: values['max-retry-minutes'] === undefined ? undefined : int('max-retry-minutes', values['max-retry-minutes'], 1, 10_000)! * 60_000,
    timeouts: values['idle-timeout'] === undefined ? undefined : { bodyIdle: int('idle-timeout', values['idle-timeout'], 1, 3600)! * 1000 },
    parquetEngine: oneOf('parquet-engine', values['parquet-engine'], ['parquetjs', 'duckdb'] as const),
    signal: io.signal,
    stdout: io.stdout,
  };
  if (opts.startTime !== undefined && opts.endTime !== undefined && opts.endTime <= opts.startTime) {
    throw invalidOption('--end-time', `later than --start-time (${formatTime(opts.startTime)})`, values['end-time']);
  }
  if (io.env.ZENDESK_ETL_CRASH_AT) {
    // Test hook: die at a named step of the commit protocol, as a kill -9 would.
    const at = io.env.ZENDESK_ETL_CRASH_AT;
    let n = Number(io.env.ZENDESK_ETL_CRASH_AFTER ?? '0');
    opts.onCommitStep = (step) => {
      if (step === at && n-- <= 0) process.kill(process.pid, 'SIGKILL');
    };
  }
  return runReported(opts, io, values.quiet ?? false, values.out, (o) => exportStream(stream as StreamName, o));
}

/** Run an export or a replay with progress, a summary, and the exit code the contract gives. */
async function runReported<O extends LakeRunOptions>(opts: O, io: CliIo, quiet: boolean, out: string, run: (o: O) => Promise<ExportResult>): Promise<number> {
  const stats = new ExportStats();
  opts.stats = stats;
  let progress: Progress | undefined;
  const log = (msg: string): void => {
    if (progress) progress.log(msg);
    else io.stderr.write(`${msg}\n`);
  };
  let shown = 0;
  opts.onReject = ({ id, rejects }) => {
    if (shown++ < 5) log(`bad value in record ${String(id)}: ${String(rejects)} (kept raw in _rejects; the run goes on)${shown === 5 ? '; further ones are counted in the summary' : ''}`);
  };
  opts.onStart = ({ resumed, position, where, notes, ranges }) => {
    const at = position.reached.at;
    const from = position.mode === 'cursor' && position.cursor ? `the saved cursor (generated_timestamp ${formatTime(at)})` : `generated_timestamp ${at} (${formatTime(at)})`;
    if (ranges.length === 0) log(`${where ?? 'the output'} already holds all of this window: nothing to export`);
    else log(resumed ? `resuming from ${from}, as the table ${where} records` : `starting a new export from ${from}${where ? ` into ${where}` : ''}`);
    for (const n of notes) log(`note: ${n}`);
    if (!quiet) progress = new Progress(stats, io.stderr, { startWatermark: resumed ? at : -1 });
  };
  try {
    const result = await run(opts);
    progress?.stop();
    progress = undefined;
    for (const n of stats.notes) log(`note: ${n}`);
    log(`summary: ${JSON.stringify(stats.summary())}`);
    if (io.signal?.aborted) {
      log('interrupted: everything complete was committed; run the same command to resume');
      return EXIT.INTERRUPTED;
    }
    if (!result.complete) {
      log('the export did not reach the end of the stream');
      return EXIT.FAILED;
    }
    if (out !== '-') log(`done: this run committed ${result.committed.rows.toLocaleString('en-US')} rows in ${result.committed.files} files (${result.committed.commits} commits) to ${result.where}`);
    return EXIT.OK;
  } finally {
    progress?.stop();
  }
}

const REPLAY_OPTIONS = {
  out: { type: 'string' },
  format: { type: 'string' },
  'partition-by': { type: 'string' },
  'max-rows-per-file': { type: 'string' },
  'parquet-engine': { type: 'string' },
  gzip: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

async function replayCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, REPLAY_OPTIONS);
  const rawDir = positionals[0];
  if (rawDir === undefined) throw invalidOption('DIR', 'the raw archive folder (zendesk-etl replay DIR --out LAKE)', null);
  if (values.out === undefined) throw invalidOption('--out', 'a folder for the lake', null);
  const opts: ReplayTicketsOptions = {
    rawDir,
    out: values.out,
    format: oneOf('format', values.format, ['parquet', 'ndjson'] as const) ?? 'parquet',
    partitionBy: values['partition-by'],
    maxRowsPerFile: int('max-rows-per-file', values['max-rows-per-file'], 1),
    gzip: values.gzip ?? false,
    parquetEngine: oneOf('parquet-engine', values['parquet-engine'], ['parquetjs', 'duckdb'] as const),
    signal: io.signal,
    stdout: io.stdout,
  };
  return runReported(opts, io, values.quiet ?? false, values.out, replayTickets);
}

const COMPACT_OPTIONS = { stream: { type: 'string' }, table: { type: 'string' }, 'min-files': { type: 'string' }, 'target-mb': { type: 'string' }, quiet: { type: 'boolean' } } as const;

/** The table a maintenance command works on: `--table NAME`, or `--stream S` (default tickets). */
function tableName(values: { stream?: string | undefined; table?: string | undefined }): string {
  if (values.table !== undefined) {
    if (!/^[a-z_]+$/.test(values.table)) throw invalidOption('--table', 'a table folder such as tickets or tickets__users', values.table);
    return values.table;
  }
  const stream = values.stream ?? 'tickets';
  if (!(stream in STREAMS)) throw invalidOption('--stream', Object.keys(STREAMS).join(', '), stream);
  return stream;
}

/** `zendesk-etl compact LAKE`: merge the small files incremental runs leave behind. */
async function compactCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, COMPACT_OPTIONS);
  const out = positionals[0];
  if (out === undefined) throw invalidOption('LAKE', 'the lake folder (zendesk-etl compact LAKE)', null);
  const result = await compactTable({
    out: await openStorage(out, { option: 'LAKE' }),
    table: tableName(values),
    minFiles: int('min-files', values['min-files'], 2),
    targetBytes: values['target-mb'] === undefined ? undefined : int('target-mb', values['target-mb'], 1)! * 1024 * 1024,
  });
  io.stderr.write(`compacted ${result.partitions} partitions: ${result.filesBefore} files -> ${result.filesAfter} (${result.rows} rows rewritten in ${result.commits} commits)\n`);
  return EXIT.OK;
}

const VACUUM_OPTIONS = { stream: { type: 'string' }, table: { type: 'string' }, 'retention-hours': { type: 'string' }, 'dry-run': { type: 'boolean' }, quiet: { type: 'boolean' } } as const;

/** `zendesk-etl vacuum LAKE`: delete files the table no longer holds, past the retention period. */
async function vacuumCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, VACUUM_OPTIONS);
  const out = positionals[0];
  if (out === undefined) throw invalidOption('LAKE', 'the lake (zendesk-etl vacuum LAKE)', null);
  const result = await vacuumTable({ out: await openStorage(out, { option: 'LAKE' }), table: tableName(values), retentionHours: int('retention-hours', values['retention-hours'], 0, 100_000), dryRun: values['dry-run'] ?? false });
  io.stderr.write(`vacuum: ${values['dry-run'] ? 'would delete' : 'deleted'} ${result.deleted.length} files (${result.bytes} bytes)${result.abortedUploads ? `, aborted ${result.abortedUploads} unfinished uploads` : ''}\n`);
  return EXIT.OK;
}

const MOCK_OPTIONS = {
  port: { type: 'string' },
  tickets: { type: 'string' },
  'rate-limit': { type: 'string' },
  'fault-rate': { type: 'string' },
  'huge-every': { type: 'string' },
  'huge-bytes': { type: 'string' },
  seed: { type: 'string' },
  cache: { type: 'boolean' },
  identity: { type: 'boolean' },
} as const;

async function mockCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, MOCK_OPTIONS);
  const mockOpts: MockZendeskOptions = {
    tickets: int('tickets', values.tickets, 0) ?? 10_000,
    seed: int('seed', values.seed, 0),
    rateLimit: int('rate-limit', values['rate-limit'], 1),
    hugeEvery: int('huge-every', values['huge-every'], 0),
    hugeDescriptionBytes: int('huge-bytes', values['huge-bytes'], 0),
    cacheRendered: values.cache ?? false,
    gzip: !(values.identity ?? false),
  };
  if (values['fault-rate'] !== undefined) {
    const rate = Number(values['fault-rate']);
    if (!(rate >= 0 && rate <= 1)) throw invalidOption('--fault-rate', 'a number from 0 to 1', values['fault-rate']);
    mockOpts.faultRate = rate;
  }
  const mock = new MockZendesk(mockOpts);
  const url = await mock.start(int('port', values.port, 0, 65535) ?? 0);
  io.stdout.write(
    `Zendesk stand-in listening on ${url} with ${mockOpts.tickets} tickets\n` +
      `It accepts its own test credentials (not secrets):\n` +
      `  ZENDESK_EMAIL=${mock.credentials.email} ZENDESK_API_TOKEN=${mock.credentials.apiToken} npx zendesk-etl export tickets --base-url ${url} --rate-limit 0 --out lake\n` +
      `  or ZENDESK_OAUTH_TOKEN=${mock.credentials.oauthToken}\n`,
  );
  await new Promise<void>((resolve) => {
    if (io.signal?.aborted) return resolve();
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await mock.close();
  return EXIT.OK;
}

const DEMO_OPTIONS = { out: { type: 'string' }, tickets: { type: 'string' }, format: { type: 'string' } } as const;

/** `npm start`: a backfill of the built-in stand-in into a local lake, with progress. */
async function demoCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, DEMO_OPTIONS);
  const tickets = int('tickets', values.tickets, 1) ?? 50_000;
  const out = values.out ?? 'lake';
  const format = oneOf('format', values.format, ['parquet', 'ndjson'] as const) ?? 'parquet';
  const mock = new MockZendesk({ tickets, lateFieldAfterRequests: Math.floor(tickets / 2000) });
  const url = await mock.start();
  io.stderr.write(`demo: a Zendesk stand-in with ${tickets.toLocaleString('en-US')} tickets is at ${url}\n`);
  try {
    const env: NodeJS.ProcessEnv = { ...io.env, ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
    delete env.ZENDESK_OAUTH_TOKEN;
    delete env.ZENDESK_SUBDOMAIN;
    const code = await exportCommand(['tickets', '--base-url', url, '--rate-limit', '0', '--format', format, '--out', out, '--partition-by', 'updated_at:year'], { ...io, env });
    if (code === EXIT.OK) {
      const glob = format === 'parquet' ? `${out}/tickets/**/*.parquet` : `${out}/tickets/**/*.ndjson`;
      const reader = format === 'parquet' ? `read_parquet('${glob}', hive_partitioning=true, union_by_name=true)` : `read_json_auto('${glob}')`;
      io.stderr.write(`\nThe table is in ${out}/tickets, with its Delta log in ${out}/tickets/_delta_log. Read it with DuckDB:\n`);
      io.stdout.write(`duckdb -c "SELECT status, count(*) FROM ${reader} GROUP BY ALL ORDER BY 2 DESC"\n`);
    }
    return code;
  } finally {
    await mock.close();
  }
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'export':
        return await exportCommand(rest, io);
      case 'mock-server':
        return await mockCommand(rest, io);
      case 'replay':
        return await replayCommand(rest, io);
      case 'compact':
        return await compactCommand(rest, io);
      case 'vacuum':
        return await vacuumCommand(rest, io);
      case 'demo':
        return await demoCommand(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(HELP);
        return command === undefined ? EXIT.USAGE : EXIT.OK;
      case '--version':
        io.stdout.write('0.1.0\n');
        return EXIT.OK;
      default:
        throw invalidOption('command', '"export", "replay", "compact", "mock-server" or "demo"', command);
    }
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof ZendeskEtlError) {
    io.stderr.write(`\nerror ${err.code}: ${err.message}\n`);
    const ctx = err.toJSON();
    delete ctx.message;
    delete ctx.name;
    io.stderr.write(`context: ${JSON.stringify(ctx)}\n`);
    if (err.kind === 'config') return EXIT.USAGE;
    if (err.code === ErrorCodes.LEASE_HELD) return EXIT.BUSY;
    if (err.code === ErrorCodes.UNAUTHORIZED || err.code === ErrorCodes.FORBIDDEN) return EXIT.AUTH;
    if (err.code === ErrorCodes.RETRIES_EXHAUSTED || err.code === ErrorCodes.SINK_WRITE || err.code === ErrorCodes.COMMIT_CONFLICT) io.stderr.write('what was committed is kept: run the same command again to resume\n');
    return EXIT.FAILED;
  }
  io.stderr.write(`\nunexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.FAILED;
}

// Run when executed as the bin (not when imported by tests).
const isMain = process.argv[1] !== undefined && /(?:^|[/\\])(main\.[jt]s|zendesk-etl)$/.test(process.argv[1]);
if (isMain) {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\n${name}: finishing the page in progress and committing; press again to abort\n`);
      controller.abort();
    } else {
      process.stderr.write(`\n${name} again: aborting; uncommitted work is discarded on the next start\n`);
      process.exit(EXIT.INTERRUPTED);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = EXIT.FAILED;
    },
  );
}
