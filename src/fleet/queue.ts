import { Queue, type Job, type RedisOptions as QueueRedisOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { invalidOption } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { readFleetFile, type FleetAccount } from './fleet-file.js';
import { planJobs, type FleetJobData, type PlannedJob } from './plan.js';
import { connectRedis } from '../redis/redis-client.js';
import { redisError, redisTarget, type RedisTarget } from '../redis/redis-url.js';
import { OPTION_DEFAULTS } from '../options/table.js';

/** The queue of a fleet's jobs, unless `--queue` names another. */
export const DEFAULT_QUEUE = OPTION_DEFAULTS.queue;
/** The BullMQ job name of an export. */
export const JOB_NAME = 'export';
export const DEFAULT_ATTEMPTS = 8;
export const DEFAULT_BACKOFF_SECONDS = 60;
/** Completed jobs are kept this long, so enqueuing the same fleet again meanwhile adds nothing. */
export const KEEP_COMPLETED_SECONDS = 7 * 24 * 3600;

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,100}$/;

export function queueName(name: string | undefined): string {
  const q = name ?? DEFAULT_QUEUE;
  if (!QUEUE_NAME.test(q)) throw invalidOption('queue', '1 to 100 letters, digits, - or _ (BullMQ keys cannot hold ":")', q);
  return q;
}

/** What a BullMQ worker connects with: it makes its own connections, which wait out Redis restarts. */
export function workerConnection(target: RedisTarget): QueueRedisOptions {
  const o = target.options;
  return { host: o.host, port: o.port, db: o.db, username: o.username, password: o.password, ...(o.tls ? { tls: o.tls } : {}), maxRetriesPerRequest: null };
}

/** A queue on its own connection, closed together. */
export async function openQueue(target: RedisTarget, name: string, doing: string): Promise<{ queue: Queue<FleetJobData>; client: Redis; close(): Promise<void> }> {
  const client = await connectRedis(target, doing);
  const queue = new Queue<FleetJobData>(name, { connection: client });
  queue.on('error', () => undefined);
  return {
    queue,
    client,
    async close() {
      await queue.close().catch(() => undefined);
      await client.quit().catch(() => client.disconnect());
    },
  };
}

export interface EnqueueFleetOptions {
  /** Redis URL. */
  redis: string;
  /** A fleet file's path, or its accounts already read (`readFleetFile`). */
  fleet: string | readonly FleetAccount[];
  /** Default 'zendesk-etl'. */
  queue?: string | undefined;
  /** Runs of a job before it fails for good. Default 8. Bad settings and refused credentials fail at once. */
  attempts?: number | undefined;
  /** First wait before a failed job runs again, seconds; doubles each time. Default 60. */
  backoffSeconds?: number | undefined;
  /** A label in every job id, to enqueue the same fleet again as new jobs. */
  run?: string | undefined;
  /** Unix seconds: where the windows of accounts without `endTime` end. Default: the clock. */
  now?: number | undefined;
  log?: Logger | undefined;
}

export interface EnqueueResult {
  queue: string;
  /** Every job of the fleet, in order. */
  jobs: PlannedJob[];
  /** Ids added now. */
  added: string[];
  /** Ids that were in the queue already (in any state): not added again. */
  existing: string[];
}

/**
 * Turn a fleet into jobs on a BullMQ queue: one per account, stream and window. Ids are deterministic,
 * so enqueuing the same fleet twice adds nothing. Jobs carry names of environment variables, never a
 * secret.
 */
export async function enqueueFleet(o: EnqueueFleetOptions): Promise<EnqueueResult> {
  const log = o.log ?? silentLogger;
  const name = queueName(o.queue);
  const accounts = typeof o.fleet === 'string' ? readFleetFile(o.fleet) : o.fleet;
  const jobs = planJobs(accounts, { now: o.now ?? Math.floor(Date.now() / 1000), run: o.run });
  const attempts = o.attempts ?? DEFAULT_ATTEMPTS;
  const backoff = (o.backoffSeconds ?? DEFAULT_BACKOFF_SECONDS) * 1000;
  if (!Number.isInteger(attempts) || attempts < 1) throw invalidOption('attempts', 'a whole number from 1', attempts);
  if (!Number.isFinite(backoff) || backoff <= 0) throw invalidOption('backoffSeconds', 'a number of seconds above 0', o.backoffSeconds);
  const target = redisTarget(o.redis);
  const q = await openQueue(target, name, 'to enqueue the fleet');
  const added: string[] = [];
  const existing: string[] = [];
  try {
    for (const job of jobs) {
      const state = await q.queue.getJobState(job.id);
      if (state !== 'unknown') {
        existing.push(job.id);
        log.debug('already in the queue: not added again', { job: job.id, state });
        continue;
      }
      await q.queue.add(JOB_NAME, job.data, {
        jobId: job.id,
        attempts,
        backoff: { type: 'exponential', delay: backoff },
        removeOnComplete: { age: KEEP_COMPLETED_SECONDS },
        removeOnFail: false,
      });
      added.push(job.id);
      log.debug('enqueued', { job: job.id });
    }
  } catch (err) {
    throw redisError(target, `enqueuing on queue ${name}`, err);
  } finally {
    await q.close();
  }
  return { queue: name, jobs, added, existing };
}

export interface JobCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface JobReport {
  id: string;
  account: string | undefined;
  stream: string | undefined;
  window: { start: number; end?: number } | undefined;
  /** The error's code (`ZDE_UNAUTHORIZED`, ...), `STALLED`, or `unexpected`. */
  code: string;
  reason: string;
  attempts: number;
  /** ISO time of the last failure. */
  at: string | undefined;
}

export interface FleetStatus {
  queue: string;
  counts: JobCounts;
  /** Jobs that failed for good (up to 100, newest first). */
  failed: JobReport[];
  /** Jobs waiting out a backoff after a failure that may pass (up to 100). */
  retrying: JobReport[];
}

export interface FleetStatusOptions {
  redis: string;
  queue?: string | undefined;
}

/** The counts of a fleet's jobs, and its failures with their error codes. */
export async function fleetStatus(o: FleetStatusOptions): Promise<FleetStatus> {
  const name = queueName(o.queue);
  const target = redisTarget(o.redis);
  const q = await openQueue(target, name, 'to read the fleet\'s status');
  try {
    const c = await q.queue.getJobCounts('waiting', 'prioritized', 'waiting-children', 'active', 'delayed', 'completed', 'failed');
    const n = (k: string): number => c[k] ?? 0;
    const counts: JobCounts = { waiting: n('waiting') + n('prioritized') + n('waiting-children'), active: n('active'), delayed: n('delayed'), completed: n('completed'), failed: n('failed') };
    const failed = (await q.queue.getFailed(0, 99)).map(report);
    const retrying = (await q.queue.getDelayed(0, 99)).filter((j) => (j.failedReason ?? '') !== '').map(report);
    return { queue: name, counts, failed, retrying };
  } catch (err) {
    throw redisError(target, `reading queue ${name}`, err);
  } finally {
    await q.close();
  }
}

/** The code a job failure carries: its message starts with it (see `classifyFailure`). */
export function failureCode(reason: string): string {
  const m = /^(ZDE_[A-Z_]+):/.exec(reason);
  if (m) return m[1]!;
  if (/stalled more than allowable limit/.test(reason)) return 'STALLED';
  return 'unexpected';
}

function report(job: Job<FleetJobData>): JobReport {
  const d = job.data as Partial<FleetJobData> | undefined;
  const reason = job.failedReason ?? '';
  return {
    id: job.id ?? '?',
    account: d?.account,
    stream: d?.stream,
    window: d?.window,
    code: failureCode(reason),
    reason,
    attempts: job.attemptsMade,
    at: job.finishedOn !== undefined ? new Date(job.finishedOn).toISOString() : undefined,
  };
}
