import { credentialsFromEnv, type Credentials } from '../auth.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { exportStream, type ExportResult, type ExportTicketsOptions } from '../export.js';
import type { Logger } from '../core/log.js';
import { STREAM_NAMES } from '../options/table.js';
import { ExportStats } from '../core/stats.js';
import type { StreamName } from '../streams.js';
import { resolveOrigin } from '../core/url.js';
import type { FleetJobData } from './plan.js';

/** A job's data as it came out of Redis, checked: a job written by something else fails for good. */
export function readJobData(raw: unknown, id: string): FleetJobData {
  const bad = (what: string): ZendeskEtlError => new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `job ${id} is not a fleet export job: ${what} (enqueue jobs with zendesk-etl fleet enqueue)`, { option: 'job' });
  if (raw === null || typeof raw !== 'object') throw bad('its data is not an object');
  const d = raw as Partial<FleetJobData>;
  if (d.v !== 1) throw bad(`its version is ${JSON.stringify(d.v)}, not 1`);
  if (typeof d.account !== 'string') throw bad('it names no account');
  if (typeof d.stream !== 'string' || !(STREAM_NAMES as readonly string[]).includes(d.stream)) throw bad(`its stream is ${JSON.stringify(d.stream)}`);
  if (typeof d.origin !== 'string') throw bad('it names no origin');
  resolveOrigin({ baseUrl: d.origin }, { subdomain: 'origin', baseUrl: `origin (job ${id})` });
  if (typeof d.out !== 'string' || d.out === '' || d.out === '-') throw bad('it names no lake');
  const w = d.window;
  if (!w || !Number.isInteger(w.start) || (w.end !== undefined && !Number.isInteger(w.end))) throw bad('its window is not [start, end) in Unix seconds');
  if (!d.part || !Number.isInteger(d.part.index) || !Number.isInteger(d.part.of)) throw bad('it says not which window of how many it is');
  if (!d.env || typeof d.env !== 'object' || Object.values(d.env).some((v) => typeof v !== 'string')) throw bad('its env is not a map of variable names');
  if (!d.options || typeof d.options !== 'object') throw bad('its options are not an object');
  return d as FleetJobData;
}

/**
 * The account's credentials on this worker: from the variables the fleet file's `env` names (and only
 * those, so one account's job never picks up another's), or the worker's own ZENDESK_* variables
 * when it names none.
 */
export function credentialsFor(data: FleetJobData, env: NodeJS.ProcessEnv): Credentials {
  const names = Object.entries(data.env);
  if (names.length === 0) return credentialsFromEnv(env);
  const mapped: NodeJS.ProcessEnv = {};
  const unset: string[] = [];
  for (const [target, name] of names) {
    const v = env[name];
    if (v === undefined || v === '') unset.push(`${name} (for ${target})`);
    else mapped[target] = v;
  }
  try {
    return credentialsFromEnv(mapped);
  } catch (err) {
    if (err instanceof ZendeskEtlError && err.code === ErrorCodes.INVALID_OPTION && unset.length > 0) {
      throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `account ${data.account}: no credentials on this worker: ${unset.join(', ')} ${unset.length === 1 ? 'is' : 'are'} not set (the fleet file's "env" names them; set them in every worker's environment)`, { option: 'env' }, { cause: err });
    }
    throw err;
  }
}

export interface RunJobContext {
  /** The worker's Redis: the account's rate limit is shared through it. */
  redis: string;
  env: NodeJS.ProcessEnv;
  /** Stop after the page in progress and commit (the job then goes back to the queue). */
  signal: AbortSignal;
  log: Logger;
  stats?: ExportStats | undefined;
}

/** Export one job's window into its table. A re-run exports only what the table lacks. */
export async function runFleetJob(data: FleetJobData, ctx: RunJobContext): Promise<ExportResult> {
  const opts: ExportTicketsOptions = {
    ...(data.options as Partial<ExportTicketsOptions>),
    out: data.out,
    origin: data.origin,
    credentials: credentialsFor(data, ctx.env),
    startTime: data.window.start,
    endTime: data.window.end,
    redis: ctx.redis,
    signal: ctx.signal,
    log: ctx.log,
    stats: ctx.stats ?? new ExportStats(),
  };
  return exportStream(data.stream as StreamName, opts);
}

export interface Failure {
  /** Not worth retrying: bad settings, refused credentials. */
  permanent: boolean;
  code: string;
  /** `CODE: message`: the code comes first, so `fleet status` can show it. */
  message: string;
}

/**
 * Permanent: what the CLI exits 2 or 4 for (bad settings, refused credentials); a retry cannot help.
 * Anything else may pass (network, Zendesk, a busy table, a full disk): retried with backoff.
 */
export function classifyFailure(err: unknown): Failure {
  if (err instanceof ZendeskEtlError) {
    const permanent = err.kind === 'config' || err.code === ErrorCodes.UNAUTHORIZED || err.code === ErrorCodes.FORBIDDEN;
    return { permanent, code: err.code, message: `${err.code}: ${err.message}` };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { permanent: false, code: 'unexpected', message: `unexpected: ${message}` };
}
