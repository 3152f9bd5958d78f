/**
 * Accounts per machine with the fleet: N stand-in accounts, each held to its own limit (10 requests per
 * window, time-scaled), one job each, run by the workers of one "machine" (two worker processes, one per
 * core) on a real Redis. Reported per N: the workers' CPU time and peak RSS per account, and whether every
 * account kept its pace (requests as fast as its limit allows) or fell behind because the CPU could not
 * keep up. CPU time is the robust figure on a shared machine; wall-time pace is what it predicts.
 *
 *   npx tsc -p tsconfig.build.json
 *   npx tsx benchmarks/fleet.bench.ts [--accounts 1,2,4,8,12,16] [--scale 4] [--pages 5] [--format parquet]
 *
 * --scale k runs Zendesk's minute in 60/k seconds: each account then asks for k times the CPU of a real
 * one, so the N at which the machine stops keeping up at scale k is about N x k accounts in real time.
 * Redis: ZENDESK_ETL_REDIS_URL, or the test Redis (scripts/services/redis.sh), started and stopped here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { enqueueFleet } from '../src/fleet/queue.js';
import { MockZendesk } from '../src/mock/server.js';
import { sharedMinTime } from '../src/source/limiter.js';
import { startService } from '../test/support/service-lifecycle.js';
import { redisUrl } from '../test/support/services.js';
import { arg } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
/** Zendesk's limit for the incremental exports: 10 requests a minute. */
const PER_WINDOW = 10;
const PER_PAGE = 1000;

// ------------------------------------------------------------------ the stand-ins' process

if (arg('role') === 'stand-ins') {
  const n = Number(arg('accounts'));
  const windowMs = Number(arg('window-ms'));
  const tickets = Number(arg('tickets'));
  // Rendered once and kept, and sent without gzip: the stand-ins share the machine with the workers and
  // should cost it little. (Zendesk gzips; gunzip of a 4.6 MB page adds a few ms of CPU per page.)
  const mocks = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const m = new MockZendesk({ tickets, seed: 100 + i, rateLimit: PER_WINDOW, rateWindowMs: windowMs, cacheRendered: true, gzip: false });
    await m.start();
    return m;
  }));
  process.stdout.write(`${JSON.stringify({ urls: mocks.map((m) => m.url), email: mocks[0]!.credentials.email, token: mocks[0]!.credentials.apiToken, from: Math.min(...mocks[0]!.history.map((t) => t.generated_timestamp)) })}\n`);
  // "report" on stdin: every account's export requests (time, status); then exit.
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() !== 'report') continue;
    const requests = mocks.map((m) => m.requests.filter((r) => r.path.startsWith('/api/v2/incremental/')).map((r) => [r.at, r.status]));
    const cpu = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ requests, cpuMs: Math.round((cpu.user + cpu.system) / 1000) })}\n`);
    break;
  }
  await Promise.all(mocks.map((m) => m.close()));
  process.exit(0);
}

// ------------------------------------------------------------------ the benchmark

interface WorkerFigures {
  cpuMs: number;
  peakRssMb: number;
  completed: number;
  failed: number;
}

interface Row {
  accounts: number;
  wallS: number;
  cpuMsPerAccount: number;
  cpuMsPerPage: number;
  rssMbPerAccount: number;
  workersPeakRssMb: number;
  slotMs: number;
  /** Per account: its slot / its mean interval between requests (1 = at its limit). */
  paceWorst: number;
  paceMean: number;
  too429: number;
  failed: number;
  /** CPU of the workers and the stand-ins over wall x cores: well under 1 while accounts fall behind means other work held the cores. */
  cpuShare: number;
}

const list = (arg('accounts') ?? '1,2,4,8,12,16').split(',').map(Number);
const scale = Number(arg('scale') ?? '4');
const pages = Number(arg('pages') ?? '5');
const format = arg('format') ?? 'parquet';
const windowMs = 60_000 / scale;
const rate = PER_WINDOW * scale; // requests per minute, as the limit of each account
const slotMs = sharedMinTime(rate);
const tickets = pages * PER_PAGE;

/** The lines a child prints, one at a time. */
function lineReader(child: ChildProcess): () => Promise<string> {
  const it = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return async () => {
    const next = await it.next();
    if (next.done) throw new Error('the stand-ins exited');
    return next.value;
  };
}

function runWorker(redis: string, queue: string, concurrency: number): Promise<WorkerFigures> {
  const child = spawn(process.execPath, [CLI, 'worker', '--redis', redis, '--queue', queue, '--concurrency', String(concurrency), '--exit-when-drained', '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let figures: WorkerFigures | undefined;
  let tail = '';
  createInterface({ input: child.stderr! }).on('line', (line) => {
    tail = `${tail}\n${line}`.slice(-4000);
    if (!line.includes('"worker stopped')) return;
    const j = JSON.parse(line) as { cpu_ms: number; peak_rss_mb: number; completed: number; failed: number };
    figures = { cpuMs: j.cpu_ms, peakRssMb: j.peak_rss_mb, completed: j.completed, failed: j.failed };
  });
  return new Promise((resolve, reject) => {
    child.on('close', (code) => (code === 0 && figures ? resolve(figures) : reject(new Error(`a worker exited ${code}:${tail}`))));
  });
}

async function runOnce(redis: string, n: number, idle = false): Promise<{ row: Row | undefined; workers: WorkerFigures[] }> {
  const queue = `zde-bench-${randomUUID().slice(0, 8)}`;
  const dir = await mkdtemp(join(tmpdir(), 'zde-fleet-bench-'));
  const standIns = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--role', 'stand-ins', '--accounts', String(Math.max(n, 1)), '--window-ms', String(windowMs), '--tickets', String(tickets)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const nextLine = lineReader(standIns);
  const conn = new Redis(redis, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection: conn });
  try {
    const info = JSON.parse(await nextLine()) as { urls: string[]; email: string; token: string; from: number };
    if (!idle) {
      const accounts = info.urls.slice(0, n).map((url, i) => ({
        name: `acct${i}`, baseUrl: url, out: join(dir, `acct${i}`), format, perPage: PER_PAGE, rateLimit: rate, startTime: info.from,
        env: { ZENDESK_EMAIL: 'BENCH_EMAIL', ZENDESK_API_TOKEN: 'BENCH_TOKEN' },
      }));
      const file = join(dir, 'fleet.json');
      await writeFile(file, JSON.stringify({ accounts }));
      await enqueueFleet({ redis, fleet: file, queue });
    }
    process.env.BENCH_EMAIL = info.email;
    process.env.BENCH_TOKEN = info.token;
    const t0 = performance.now();
    // One machine of two cores: two worker processes, room for every account at once.
    const per = Math.max(1, Math.ceil(n / 2));
    const workers = await Promise.all([runWorker(redis, queue, per), runWorker(redis, queue, per)]);
    const wallS = (performance.now() - t0) / 1000;
    standIns.stdin!.write('report\n');
    const { requests: report, cpuMs: standInCpu } = JSON.parse(await nextLine()) as { requests: [number, number][][]; cpuMs: number };
    if (idle) return { row: undefined, workers };
    const paces = report.slice(0, n).map((reqs) => {
      const at = reqs.map((r) => r[0]).sort((a, b) => a - b);
      return at.length < 2 ? 1 : slotMs / ((at.at(-1)! - at[0]!) / (at.length - 1));
    });
    const cpu = workers.reduce((s, w) => s + w.cpuMs, 0);
    const rss = workers.reduce((s, w) => s + w.peakRssMb, 0);
    return {
      workers,
      row: {
        accounts: n,
        wallS,
        cpuMsPerAccount: cpu / n,
        cpuMsPerPage: cpu / (n * pages),
        rssMbPerAccount: 0, // filled in against the idle workers
        workersPeakRssMb: rss,
        slotMs,
        paceWorst: Math.min(...paces),
        paceMean: paces.reduce((s, p) => s + p, 0) / paces.length,
        too429: report.slice(0, n).flat().filter((r) => r[1] === 429).length,
        failed: workers.reduce((s, w) => s + w.failed, 0),
        cpuShare: (cpu + standInCpu) / (wallS * 1000 * cpus().length),
      },
    };
  } finally {
    standIns.kill('SIGTERM');
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
    await conn.quit();
    await rm(dir, { recursive: true, force: true });
  }
}

let stopRedis: (() => Promise<void>) | undefined;
const redis = process.env.ZENDESK_ETL_REDIS_URL ?? redisUrl();
if (!process.env.ZENDESK_ETL_REDIS_URL) stopRedis = await startService('redis');
try {
  process.stderr.write(`fleet benchmark: scale ${scale} (a minute in ${windowMs / 1000} s), ${PER_WINDOW} requests per window per account (slot ${slotMs} ms), ${pages} pages of ${PER_PAGE} tickets per account, ${format}; ${cpus().length} cores\n`);
  const idle = await runOnce(redis, 1, true);
  const idleRss = idle.workers.reduce((s, w) => s + w.peakRssMb, 0);
  const idleCpu = idle.workers.reduce((s, w) => s + w.cpuMs, 0);
  process.stderr.write(`idle workers (start, connect, drain, exit): ${idleCpu} ms CPU, ${idleRss} MB peak RSS for two\n`);
  const rows: Row[] = [];
  for (const n of list) {
    const { row } = await runOnce(redis, n);
    row!.rssMbPerAccount = (row!.workersPeakRssMb - idleRss) / n;
    rows.push(row!);
    const r = row!;
    process.stderr.write(`  N=${String(n).padStart(2)}: wall ${r.wallS.toFixed(1)} s, CPU ${Math.round(r.cpuMsPerAccount)} ms/account (${Math.round(r.cpuMsPerPage)} ms/page), +${r.rssMbPerAccount.toFixed(0)} MB RSS/account, pace worst ${r.paceWorst.toFixed(2)} mean ${r.paceMean.toFixed(2)}, 429s ${r.too429}, failed ${r.failed}, our CPU share ${(r.cpuShare * 100).toFixed(0)}%\n`);
    process.stdout.write(`RESULT ${JSON.stringify({ scenario: 'fleet', scale, pages, format, idleCpuMs: idleCpu, idleRssMb: idleRss, ...r })}\n`);
  }
  // An account keeps up when its requests come at least 0.9 x as fast as its limit allows. The machine
  // stops keeping up at the smallest N from which every larger N tried fell behind (one noisy run in
  // the middle, on a shared machine, does not decide it).
  const kept = rows.filter((r) => r.paceWorst >= 0.9);
  const stopAt = rows.findIndex((_, i) => rows.slice(i).every((r) => r.paceWorst < 0.9));
  const behind = stopAt >= 0 ? rows[stopAt] : undefined;
  // Net CPU of a page (idle cost of the two workers taken out), at the largest N that kept its pace.
  const best = kept.at(-1) ?? rows[0]!;
  const netPerPage = (best.cpuMsPerAccount * best.accounts - idleCpu) / (best.accounts * pages);
  const cores = 2;
  const realPerAccountPerMinute = netPerPage * PER_WINDOW; // a real account: 10 pages a minute
  const predicted = (cores * 60_000) / realPerAccountPerMinute;
  process.stdout.write(
    `\n| accounts | wall s | CPU ms/account | CPU ms/page | RSS MB/account | pace worst | pace mean | 429s | our CPU share |\n|---|---|---|---|---|---|---|---|---|\n` +
      rows.map((r) => `| ${r.accounts} | ${r.wallS.toFixed(1)} | ${Math.round(r.cpuMsPerAccount)} | ${Math.round(r.cpuMsPerPage)} | ${r.rssMbPerAccount.toFixed(0)} | ${r.paceWorst.toFixed(2)} | ${r.paceMean.toFixed(2)} | ${r.too429} | ${(r.cpuShare * 100).toFixed(0)}% |`).join('\n') +
      `\n\nAt scale ${scale}: kept pace at N = ${kept.map((r) => r.accounts).join(', ') || 'none'}; ${behind ? `the machine stops keeping up at N = ${behind.accounts}` : `it never stopped keeping up (largest N ${rows.at(-1)!.accounts})`}; in real time that is about ${behind ? behind.accounts * scale : `more than ${rows.at(-1)!.accounts * scale}`} accounts.\n` +
      `Net CPU per page of ${PER_PAGE} tickets: ${netPerPage.toFixed(0)} ms; a real account (10 pages a minute) needs ${(realPerAccountPerMinute / 600).toFixed(1)}% of a core, so ${cores} cores hold about ${Math.floor(predicted)} accounts at 100% CPU (${Math.floor(predicted * 0.7)} at 70%).\n`,
  );
} finally {
  await stopRedis?.();
}
