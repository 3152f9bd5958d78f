#!/usr/bin/env node
import { ErrorCodes, ZendeskEtlError, invalidOption } from '../core/errors.js';
import { VERSION } from '../version.js';
import { optionName } from '../options/normalize.js';
import { EXIT, fallbackLogger, type CliIo } from './context.js';

export { EXIT, type CliIo } from './context.js';

const HELP = `zendesk-etl ${VERSION}: stream Zendesk's incremental exports into lake tables (Parquet or NDJSON,
with a Delta Lake log), exactly once.

Usage:
  zendesk-etl export <stream> --out LAKE   export a stream into its table: tickets, ticket_events, users, organizations
  zendesk-etl replay DIR --out LAKE        rebuild a table from a raw archive (export --raw DIR), without Zendesk
  zendesk-etl check                        test the connection, the credentials and the role
  zendesk-etl state show|reset LAKE        what a table's log has committed; or start it over (--yes)
  zendesk-etl compact LAKE                 merge small files (one commit each)
  zendesk-etl vacuum LAKE                  delete files the table no longer holds, past the retention
  zendesk-etl fleet enqueue --config F     turn a fleet file into jobs on Redis (BullMQ): one per account, stream, window
  zendesk-etl fleet status                 the fleet's job counts, and its failures with their codes
  zendesk-etl worker                       run fleet jobs, on any number of machines (--redis URL)
  zendesk-etl mock-server                  run the Zendesk stand-in on loopback
  zendesk-etl demo                         backfill the built-in stand-in into ./lake (npm start)

LAKE is a folder or s3://BUCKET/PREFIX. Every command takes --help, --quiet, --log-format text|json,
--log-level error|warn|info|debug and --config FILE (options by library name; flags win).

Credentials come from the environment only: ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL with
ZENDESK_API_TOKEN (or ZENDESK_PASSWORD); each also as a file with the _FILE suffix.

Exit codes: 0 done; 1 failed, a retry may succeed (what was committed stays); 2 bad usage or
settings; 4 credentials refused; 75 the table is busy with another run; 130/143 interrupted by
SIGINT/SIGTERM after committing what was complete.
`;

type CommandRun = (args: string[], io: CliIo) => Promise<number>;

/** Each command's module is loaded only when it runs (`--version` and `--help` load none). */
const COMMANDS: Record<string, () => Promise<CommandRun>> = {
  export: async () => (await import('./commands/export.js')).exportCommand,
  replay: async () => (await import('./commands/export.js')).replayCommand,
  check: async () => (await import('./commands/check.js')).checkCommand,
  state: async () => (await import('./commands/maintenance.js')).stateCommand,
  compact: async () => (await import('./commands/maintenance.js')).compactCommand,
  vacuum: async () => (await import('./commands/maintenance.js')).vacuumCommand,
  fleet: async () => (await import('./commands/fleet.js')).fleetCommand,
  worker: async () => (await import('./commands/fleet.js')).workerCommand,
  'mock-server': async () => (await import('./commands/stand-in.js')).mockCommand,
  demo: async () => (await import('./commands/stand-in.js')).demoCommand,
};

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.stdout.write(HELP);
        return EXIT.USAGE;
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(HELP);
        return EXIT.OK;
      case '--version':
      case '-v':
        io.stdout.write(`${VERSION}\n`);
        return EXIT.OK;
    }
    const load = COMMANDS[command];
    if (!load) throw invalidOption('command', Object.keys(COMMANDS).map((c) => `"${c}"`).join(', '), command);
    return await (await load())(rest, io);
  } catch (err) {
    return reportError(err, argv, io);
  }
}

/** An option error from the library names the option's key; on the command line, name its flag. */
function asFlagError(err: ZendeskEtlError): ZendeskEtlError {
  const key = err.option;
  if (err.code !== ErrorCodes.INVALID_OPTION || key === undefined || key.startsWith('-')) return err;
  const flag = optionName(key, { kind: 'flag' });
  if (flag === key || !err.message.startsWith(`${key} `)) return err;
  return new ZendeskEtlError(err.code, `${flag}${err.message.slice(key.length)}`, { option: flag, value: err.value }, { cause: err.cause });
}

/** Say what went wrong (one line of text, or one JSON object) and pick the exit code. */
export function reportError(err: unknown, argv: readonly string[], io: CliIo): number {
  const log = fallbackLogger(argv, io);
  if (err instanceof ZendeskEtlError) {
    if (err.code === ErrorCodes.OUTPUT_CLOSED) return EXIT.OK;
    const e = asFlagError(err);
    const ctx = e.toJSON();
    delete ctx.message;
    delete ctx.name;
    log.error(`${e.code}: ${e.message}`, ctx);
    if (e.kind === 'config') return EXIT.USAGE;
    if (e.code === ErrorCodes.UNAUTHORIZED || e.code === ErrorCodes.FORBIDDEN) return EXIT.AUTH;
    if (e.code === ErrorCodes.LEASE_HELD) return EXIT.BUSY;
    if (e.code === ErrorCodes.RETRIES_EXHAUSTED || e.code === ErrorCodes.SINK_WRITE || e.code === ErrorCodes.COMMIT_CONFLICT) log.info('what was committed is kept: run the same command again to resume');
    return EXIT.FAILED;
  }
  log.error(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT.FAILED;
}

// Run when executed as the bin (not when imported by tests).
const isMain = process.argv[1] !== undefined && /(?:^|[/\\])(main\.[jt]s|zendesk-etl)$/.test(process.argv[1]);
if (isMain) {
  // The AWS SDK (loaded for s3:// lakes only) warns on every run under Node 20, which this package supports.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const controller = new AbortController();
  let by: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals): void => {
    if (by === undefined) {
      by = name;
      process.stderr.write(`\n${name}: stopping cleanly (an export first commits the page in progress); press again to abort\n`);
      controller.abort();
    } else {
      process.stderr.write(`\n${name} again: aborting; uncommitted work is discarded on the next start\n`);
      process.exit(name === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A reader that goes away (`| head`) is the reader's choice: the NDJSON sink stops there quietly,
  // and nothing else written to stdout may crash the process.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  let settled = false;
  // Node exits with 0 when nothing is left to wait on, even with the command unfinished: that would be
  // a silent success for a run that did nothing. It is a bug in this program, and is said as one.
  process.once('exit', (code) => {
    if (settled || code !== 0) return;
    process.stderr.write('internal error: the process ran out of work before the command finished (nothing was committed by the step in progress)\n');
    process.exitCode = EXIT.FAILED;
  });
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal, interruptedBy: () => by }).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err: unknown) => {
      settled = true;
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = EXIT.FAILED;
    },
  );
}
