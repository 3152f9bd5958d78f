import { missingOption } from '../../options/normalize.js';
import { invalidOption } from '../../core/errors.js';
import { enqueueFleet, fleetStatus, type FleetStatus, type JobReport } from '../../fleet/queue.js';
import { runWorker } from '../../fleet/worker.js';
import { formatTime } from '../../core/time.js';
import { EXIT, prepare, type CliIo, type CommandContext } from '../context.js';

/** The Redis URL, from --redis or ZENDESK_ETL_REDIS_URL (a password in --redis is refused with the other flags). */
function redisOf(ctx: CommandContext, usage: string): string {
  const url = ctx.options.redis;
  if (typeof url !== 'string') throw missingOption('--redis', `the Redis URL (redis://HOST:PORT), or ZENDESK_ETL_REDIS_URL in the environment (${usage})`);
  return url;
}

const FLEET_USAGE = 'zendesk-etl fleet enqueue --config FLEET.json --redis URL | zendesk-etl fleet status --redis URL [--json]';

/** `zendesk-etl fleet enqueue|status`: a fleet's jobs on Redis (BullMQ). */
export async function fleetCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('fleet', args, io, {
    name: 'zendesk-etl fleet',
    usage: FLEET_USAGE,
    about:
      'enqueue: turn a fleet file (--config: accounts, each with its lake, streams, windows, export options by library\n' +
      'name, and "env" naming the variables that hold its credentials) into jobs on a BullMQ queue, one per account,\n' +
      'stream and window. Job ids are deterministic: enqueuing the same fleet twice adds nothing.\n' +
      'status: the counts of jobs (waiting, active, delayed, completed, failed) and the failures with their codes.',
  });
  if (typeof ctx === 'number') return ctx;
  const action = ctx.positionals.shift();
  if (action === undefined) throw missingOption('ACTION', `"enqueue" or "status" (${FLEET_USAGE})`);
  if (action !== 'enqueue' && action !== 'status') throw invalidOption('ACTION', `"enqueue" or "status" (${FLEET_USAGE})`, action);
  if (ctx.positionals.length > 0) throw invalidOption('arguments', `none after fleet ${action}`, ctx.positionals.join(' '));
  const redis = redisOf(ctx, FLEET_USAGE);
  const o = ctx.options;
  if (action === 'enqueue') {
    if (o.config === undefined) throw missingOption('--config', 'the fleet file (zendesk-etl fleet enqueue --config FLEET.json)');
    const r = await enqueueFleet({ redis, fleet: o.config, queue: o.queue, attempts: o.attempts, backoffSeconds: o.backoffSeconds, run: o.run, log: ctx.log });
    if (o.json) io.stdout.write(`${JSON.stringify({ queue: r.queue, added: r.added, existing: r.existing }, null, 2)}\n`);
    ctx.log.info(`enqueued ${r.added.length} jobs on queue ${r.queue}${r.existing.length > 0 ? `; ${r.existing.length} were there already and were not added again` : ''}`, ctx.options.logFormat === 'json' ? { queue: r.queue, added: r.added.length, existing: r.existing.length } : undefined);
    return EXIT.OK;
  }
  const s = await fleetStatus({ redis, queue: o.queue });
  io.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : statusText(s));
  return EXIT.OK;
}

function statusText(s: FleetStatus): string {
  const c = s.counts;
  const lines = [`queue ${s.queue}: waiting ${c.waiting}, active ${c.active}, delayed ${c.delayed}, completed ${c.completed}, failed ${c.failed}`];
  const show = (title: string, jobs: readonly JobReport[]): void => {
    if (jobs.length === 0) return;
    lines.push(title);
    for (const j of jobs) {
      const window = j.window ? ` [${formatTime(j.window.start)}, ${j.window.end === undefined ? 'open' : formatTime(j.window.end)})` : '';
      lines.push(`  ${j.id}  ${j.code}  after ${j.attempts} attempt${j.attempts === 1 ? '' : 's'}${j.at ? ` at ${j.at}` : ''}`);
      lines.push(`    ${j.account ?? '?'} ${j.stream ?? '?'}${window}: ${j.reason.slice(j.code.length + 2) || j.reason}`);
    }
  };
  show('failed for good:', s.failed);
  show('failed, to run again after a backoff:', s.retrying);
  return `${lines.join('\n')}\n`;
}

/** `zendesk-etl worker`: run fleet jobs, on any number of machines. */
export async function workerCommand(args: string[], io: CliIo): Promise<number> {
  const usage = 'zendesk-etl worker --redis URL [--concurrency N] [--queue NAME] [--exit-when-drained]';
  const ctx = prepare('worker', args, io, {
    name: 'zendesk-etl worker',
    usage,
    about:
      'Run the jobs of a fleet (zendesk-etl fleet enqueue) from Redis, on any number of machines. Each job exports one\n' +
      'window of one account\'s stream into its table; the account\'s rate limit is shared through the same Redis.\n' +
      'A job whose worker is killed runs again on another worker and resumes from its table\'s log. Bad settings and\n' +
      'refused credentials fail a job at once; other failures are retried with backoff. SIGTERM: running jobs finish\n' +
      'their page, commit and go back to the queue; then the worker exits 143. Credentials come from the variables\n' +
      'each account\'s "env" names, or ZENDESK_OAUTH_TOKEN / ZENDESK_EMAIL with ZENDESK_API_TOKEN.',
  });
  if (typeof ctx === 'number') return ctx;
  if (ctx.positionals.length > 0) throw invalidOption('arguments', 'none (zendesk-etl worker --redis URL)', ctx.positionals.join(' '));
  const redis = redisOf(ctx, usage);
  const o = ctx.options;
  const s = await runWorker({ redis, queue: o.queue, concurrency: o.concurrency, lockSeconds: o.lockSeconds, exitWhenDrained: o.exitWhenDrained, signal: io.signal, env: ctx.env, log: ctx.log });
  const fields = { completed: s.completed, failed: s.failed, retrying: s.retrying, requeued: s.requeued, wall_ms: s.wallMs, cpu_ms: s.cpuMs, peak_rss_mb: s.peakRssMb };
  ctx.log.info(`worker stopped: ${s.completed} jobs done, ${s.failed} failed for good, ${s.retrying} to run again, ${s.requeued} put back in the queue`, fields);
  if (s.interrupted) return io.interruptedBy?.() === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED;
  return EXIT.OK;
}
