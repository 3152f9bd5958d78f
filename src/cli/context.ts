import { credentialsFromEnv, type Credentials } from '../auth.js';
import { isZendeskEtlError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { envOptions, helpFor, mergeOptions, parseFlags, readConfigFile, unsetEnvMapping, type OptionValues } from '../options/normalize.js';
import { OPTION_DEFAULTS, type Command, type Options } from '../options/table.js';

/** What a command runs with: its streams, environment, and the signal of SIGINT/SIGTERM. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM. */
  signal?: AbortSignal | undefined;
  /** Which signal aborted it (SIGTERM exits 143, SIGINT 130). */
  interruptedBy?: (() => NodeJS.Signals | undefined) | undefined;
}

/** Exit codes, for schedulers to act on. */
export const EXIT = {
  OK: 0,
  /** The run failed, and a retry may succeed (network, Zendesk, a full disk). What was committed stays. */
  FAILED: 1,
  /** Bad usage or settings. Nothing was done. */
  USAGE: 2,
  /** The credentials were refused (401, or 403: not allowed to export). */
  AUTH: 4,
  /** Another run holds the table (a live lease on an overlapping window): try again later. */
  BUSY: 75,
  /** Stopped by SIGINT after committing what was complete: re-run to resume. */
  INTERRUPTED: 130,
  /** Stopped by SIGTERM after committing what was complete. */
  TERMINATED: 143,
} as const;

export interface CommandContext {
  io: CliIo;
  options: Options;
  positionals: string[];
  log: Logger;
  quiet: boolean;
  /** The environment, with the variables a config file's `env` names in place of the ZENDESK_ ones. */
  env: NodeJS.ProcessEnv;
  /** Where log lines go (a live progress line may take it over). */
  setWriter(write: (line: string) => void): void;
  /** The Zendesk credentials from `env`; when missing, the error names a config's `env` entry that left them unset. */
  credentials(): Credentials;
}

/** A logger for a command line that could not be read: as asked for, if that much was said. */
export function fallbackLogger(argv: readonly string[], io: CliIo): Logger {
  const i = argv.findIndex((a) => a === '--log-format' || a.startsWith('--log-format='));
  const format = i < 0 ? 'text' : argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1];
  return createLogger({ format: format === 'json' ? 'json' : 'text', write: (line) => io.stderr.write(`${line}\n`) });
}

/**
 * Read a command's options: flags, then a config file under them, then the environment under both;
 * `--help` prints the command's help (exit 0). Returns the context, or an exit code.
 */
export function prepare(command: Command, args: string[], io: CliIo, help: { name: string; usage: string; about: string }): CommandContext | number {
  const { usage, about } = help;
  const flags = parseFlags(command, args, help.name);
  if (flags.help) {
    io.stdout.write(helpFor(command, usage, about));
    return EXIT.OK;
  }
  const file = typeof flags.values.config === 'string' && command !== 'fleet' ? readConfigFile(command, flags.values.config) : undefined;
  const fromEnv = envOptions(command, io.env);
  // The account is named once: a flag or the config naming it wins over both variables.
  const named = (v: OptionValues | undefined): boolean => v !== undefined && (v.subdomain !== undefined || v.baseUrl !== undefined);
  if (named(flags.values) || named(file?.values)) {
    delete fromEnv.subdomain;
    delete fromEnv.baseUrl;
  } else if (fromEnv.subdomain !== undefined) delete fromEnv.baseUrl;
  const options = mergeOptions(command, [
    { values: fromEnv, source: { kind: 'env' } },
    ...(file ? [{ values: file.values, source: { kind: 'config' as const, file: String(flags.values.config) } }] : []),
    { values: flags.values, source: { kind: 'flag' } },
  ]);
  const env: NodeJS.ProcessEnv = { ...io.env };
  const unset: [string, string][] = [];
  for (const [target, name] of Object.entries(file?.env ?? {})) {
    delete env[target];
    if (io.env[name] !== undefined && io.env[name] !== '') env[target] = io.env[name];
    else unset.push([target, name]);
  }
  const quiet = options.quiet === true;
  let write = (line: string): void => {
    io.stderr.write(`${line}\n`);
  };
  const log = createLogger({ format: options.logFormat === 'json' ? 'json' : 'text', level: quiet ? 'error' : (options.logLevel ?? OPTION_DEFAULTS.logLevel), write: (line) => write(line) });
  return {
    io,
    options,
    positionals: flags.positionals,
    log,
    quiet,
    env,
    setWriter(w) {
      write = w;
    },
    credentials() {
      try {
        return credentialsFromEnv(env);
      } catch (err) {
        if (unset.length > 0 && isZendeskEtlError(err) && err.option === 'credentials') throw unsetEnvMapping(String(flags.values.config), unset);
        throw err;
      }
    },
  };
}
