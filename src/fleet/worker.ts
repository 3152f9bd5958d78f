import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { invalidOption } from '../core/errors.js';
import { silentLogger, type LogFields, type Logger } from '../core/log.js';
import { ExportStats } from '../core/stats.js';
import { formatTime } from '../core/time.js';
import { classifyFailure, readJobData, runFleetJob } from './job.js';
import type { FleetJobData } from './plan.js';
import { openQueue, queueName, workerConnection } from './queue.js';
import { redisTarget } from '../redis/redis-url.js';
import { OPTION_DEFAULTS } from '../options/table.js';

/** A job whose worker stops renewing its lock this long goes back to the queue. */
export const DEFAULT_LOCK_SECONDS = 30;
/**
 * A job that stalls this often fails for good. Each stall is a worker that died holding it (kill -9,
 * an OOM kill): the job resumes from its table, so a few are harmless, but a job that takes down every
 * worker that runs it must stop doing so.
 */
export const MAX_STALLS = 5;
/** How often a worker with `exitWhenDrained` looks whether the queue is done. */
const DRAIN_POLL_MS = 1_000;

export interface RunWorkerOptions {
  /** Redis URL: the queue, and the shared rate limit of every account. */
  redis: string;
  /** Default 'zendesk-etl'. */
  queue?: string | undefined;
  /** Jobs run at once. Default 1. */
  concurrency?: number | undefined;
  /** Default 30: a killed worker's job runs again elsewhere within about twice this. */
  lockSeconds?: number | undefined;
  /** Return once no job is waiting, delayed or active. Default: run until `signal`. */
  exitWhenDrained?: boolean | undefined;
  /** Stop: running jobs finish their page, commit and go back to the queue as they were; then return. */
  signal?: AbortSignal | undefined;
  /** Where the accounts' credentials are looked up. Default process.env. */
  env?: NodeJS.ProcessEnv | undefined;
  log?: Logger | undefined;
}

/** What a job returns (kept with the completed job). */
export interface JobSummary {
  rows: number;
  files: number;
  commits: number;
  version: number;
  tickets: number;
  requests: number;
}

export interface WorkerSummary {
  completed: number;
  /** Jobs that failed for good while this worker ran them. */
  failed: number;
  /** Failures that will be retried after a backoff. */
  retrying: number;
  /** Jobs put back in the queue when the worker was stopped. */
  requeued: number;
  interrupted: boolean;
  wallMs: number;
  cpuMs: number;
  peakRssMb: number;
}

/**
 * Run fleet jobs until stopped (or until the queue is drained). Any number of workers, on any number
 * of machines, may run the same queue: a job whose worker dies goes back to the queue once its lock
 * expires, and resumes from its table's log. Bad settings and refused credentials fail a job at once;
 * other failures are retried with exponential backoff.
 */
export async function runWorker(o: RunWorkerOptions): Promise<WorkerSummary> {
  const log = o.log ?? silentLogger;
  const name = queueName(o.queue);
  const target = redisTarget(o.redis);
  const concurrency = o.concurrency ?? OPTION_DEFAULTS.concurrency;
  const lockMs = (o.lockSeconds ?? DEFAULT_LOCK_SECONDS) * 1000;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw invalidOption('concurrency', 'a whole number from 1', concurrency);
  if (!Number.isFinite(lockMs) || lockMs < 1000) throw invalidOption('lockSeconds', 'at least 1', o.lockSeconds);
  const env = o.env ?? process.env;
  // Fails within seconds, with a coded error, when Redis is not there; also watches the counts.
  const watch = await openQueue(target, name, 'to run fleet jobs');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const summary: WorkerSummary = { completed: 0, failed: 0, retrying: 0, requeued: 0, interrupted: false, wallMs: 0, cpuMs: 0, peakRssMb: 0 };
  const running = new Map<string, AbortController>();
  let stopping = false;

  const requeue = async (job: Job<FleetJobData, JobSummary>, token: string | undefined, jl: Logger): Promise<never> => {
    await job.moveToWait(token);
    summary.requeued++;
    jl.info('job stopped after committing its last page: back in the queue, to resume from its table');
    throw new WaitingError();
  };

  const process_ = async (job: Job<FleetJobData, JobSummary>, token: string | undefined): Promise<JobSummary> => {
    const id = job.id ?? '?';
    let data: FleetJobData;
    try {
      data = readJobData(job.data, id);
    } catch (err) {
      const f = classifyFailure(err);
      summary.failed++;
      log.error('job failed for good: its data is not a fleet job', { job: id, code: f.code, error: f.message });
      throw new UnrecoverableError(f.message);
    }
    const ctl = new AbortController();
    if (stopping) ctl.abort();
    running.set(id, ctl);
    const jl = withFields(log, { job: id });
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const started = performance.now();
    jl.info('job started', { account: data.account, stream: data.stream, window: describeWindow(data.window), attempt, of: attempts, ...(job.stalledCounter > 0 ? { stalls: job.stalledCounter } : {}) });
    try {
      const stats = new ExportStats();
      const result = await runFleetJob(data, { redis: o.redis, env, signal: ctl.signal, log: jl, stats });
      if (ctl.signal.aborted) return await requeue(job, token, jl);
      if (!result.complete) throw new Error('the export stopped before the end of its window');
      summary.completed++;
      const done: JobSummary = { rows: result.committed.rows, files: result.committed.files, commits: result.committed.commits, version: result.committed.version, tickets: stats.tickets, requests: stats.requests };
      jl.info('job done', { ...done, seconds: Math.round((performance.now() - started) / 100) / 10 });
      return done;
    } catch (err) {
      if (err instanceof WaitingError) throw err;
      // Stopped while it ran: whatever was committed stays; the job resumes elsewhere from there.
      if (ctl.signal.aborted) return await requeue(job, token, jl);
      const f = classifyFailure(err);
      const last = f.permanent || attempt >= attempts;
      if (last) summary.failed++;
      else summary.retrying++;
      jl.error(f.permanent ? 'job failed for good (bad settings or refused credentials: not retried)' : last ? 'job failed for good: no attempts left' : 'job failed: it runs again after a backoff, resuming from its table', { code: f.code, error: f.message, attempt, of: attempts });
      throw f.permanent ? new UnrecoverableError(f.message) : new Error(f.message);
    } finally {
      running.delete(id);
    }
  };

  const worker = new Worker<FleetJobData, JobSummary>(name, process_, {
    connection: workerConnection(target),
    concurrency,
    autorun: false,
    // A live worker renews its locks every lockMs / 2; a dead one's jobs are found within lockMs after
    // its lock ran out, and go back to the queue (up to MAX_STALLS times).
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: MAX_STALLS,
  });
  worker.on('error', (err: Error) => log.warn('the job queue reported an error', { queue: name, error: err.message }));
  worker.on('stalled', (jobId: string) => log.warn('a job\'s worker stopped renewing its lock (killed?): the job goes back to the queue and resumes from its table', { job: jobId }));

  let closing: Promise<void> | undefined;
  const stop = (): Promise<void> => (closing ??= worker.close());
  const onAbort = (): void => {
    summary.interrupted = true;
    stopping = true;
    for (const ctl of running.values()) ctl.abort();
    log.info('stopping: running jobs finish their page, commit, and go back to the queue', { running: running.size });
    void stop();
  };
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (o.exitWhenDrained) {
    timer = setInterval(() => {
      if (running.size > 0 || closing) return;
      watch.queue
        .getJobCounts('waiting', 'prioritized', 'waiting-children', 'active', 'delayed')
        .then((c) => {
          if (running.size === 0 && !closing && Object.values(c).every((n) => n === 0)) {
            log.info('no job is waiting, delayed or active: the worker exits', { queue: name });
            void stop();
          }
        })
        .catch((err: unknown) => log.warn('could not read the queue\'s counts', { error: String(err) }));
    }, DRAIN_POLL_MS);
  }
  log.info('worker started', { queue: name, redis: target.shown, concurrency, lock_seconds: lockMs / 1000 });
  try {
    await worker.run();
    await stop();
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener('abort', onAbort);
    await stop().catch(() => undefined);
    await watch.close();
  }
  const cpu = process.cpuUsage(cpu0);
  summary.wallMs = Math.round(performance.now() - t0);
  summary.cpuMs = Math.round((cpu.user + cpu.system) / 1000);
  summary.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  return summary;
}

function describeWindow(w: { start: number; end?: number }): string {
  return `[${formatTime(w.start)}, ${w.end === undefined ? 'open' : formatTime(w.end)})`;
}

/** A logger that adds `fields` to every line. */
function withFields(log: Logger, fields: LogFields): Logger {
  return {
    error: (m, f) => log.error(m, { ...fields, ...f }),
    warn: (m, f) => log.warn(m, { ...fields, ...f }),
    info: (m, f) => log.info(m, { ...fields, ...f }),
    debug: (m, f) => log.debug(m, { ...fields, ...f }),
  };
}
