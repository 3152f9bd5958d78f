/**
 * Logs on stderr: a level, a message and fields. Text for people (`message (k=v, ...)`), or one JSON
 * object a line for machines (`{"level":"info","time":"...","msg":"...",...}`). The library logs
 * retries, 429 waits and commits at `info` through a `Logger` it is given; by default it is silent.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFields = Record<string, unknown>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };

export interface LoggerOptions {
  format?: 'text' | 'json';
  level?: LogLevel;
  /** Where lines go. */
  write: (line: string) => void;
}

function text(v: unknown): string {
  if (typeof v === 'string') return /[\s,=()]/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'bigint') return v.toString();
  return JSON.stringify(v) ?? String(v);
}

export function createLogger(opts: LoggerOptions): Logger {
  const max = RANK[opts.level ?? 'info'];
  const json = opts.format === 'json';
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] > max) return;
    if (json) {
      opts.write(JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
      return;
    }
    const extra = fields && Object.keys(fields).length > 0 ? ` (${Object.entries(fields).map(([k, v]) => `${k}=${text(v)}`).join(', ')})` : '';
    opts.write(`${level === 'error' ? 'error: ' : level === 'warn' ? 'warning: ' : ''}${msg}${extra}`);
  };
  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
  };
}
