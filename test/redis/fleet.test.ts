/**
 * The fleet on a real Redis with real worker processes (issue 14): jobs per account, stream and window
 * on BullMQ; a worker killed with kill -9 loses nothing; enqueuing twice adds nothing; a permanent
 * failure (401) fails once and is not retried while a passing one backs off; SIGTERM puts jobs back;
 * no secret ever reaches Redis. Every wait is on a real condition (queue counts, table commits).
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fleetStatus } from '../../src/fleet/queue.js';
import type { MockZendesk } from '../../src/mock/server.js';
import { deltaVersions, lakeVersions, runCli, spawnCli, startMock, tempDir } from '../helpers.js';
import { redisUrl } from '../support/services.js';
import { redisForFile } from './connection.js';
import { waitFor as waitUntil } from '../support/wait-for.js';
import { checkExactlyOnce, readLog } from '../support/lake-oracle.js';

const waitFor = (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> => waitUntil(what, cond, timeoutMs, 50);

const redis = redisForFile();

const BASE_ENV = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };

/** A queue of its own for each test, removed when it finishes. */
function testQueue(): { name: string; queue: Queue } {
  const name = `zde-test-${randomUUID().slice(0, 8)}`;
  const connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection });
  onTestFinished(async () => {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await connection.quit().catch(() => undefined);
  });
  return { name, queue };
}

/** [first, last + 1) of the stand-in's generated_timestamps: the whole account. */
function span(mock: MockZendesk): { startTime: number; endTime: number } {
  const times = mock.history.map((t) => t.generated_timestamp);
  return { startTime: Math.min(...times), endTime: Math.max(...times) + 1 };
}

function account(name: string, mock: MockZendesk, windows: number, envPrefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, baseUrl: mock.url, out: name, windows, ...span(mock), env: { ZENDESK_EMAIL: `${envPrefix}_EMAIL`, ZENDESK_API_TOKEN: `${envPrefix}_TOKEN` }, ...extra };
}

async function writeFleet(dir: string, fleet: unknown): Promise<string> {
  const file = join(dir, 'fleet.json');
  await writeFile(file, JSON.stringify(fleet, null, 2));
  return file;
}

async function enqueue(file: string, queue: string, extra: string[] = []): Promise<{ added: string[]; existing: string[] }> {
  const run = await runCli(['fleet', 'enqueue', '--config', file, '--redis', redisUrl(), '--queue', queue, '--json', '--quiet', ...extra], BASE_ENV);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { added: string[]; existing: string[] };
}

function worker(queue: string, env: NodeJS.ProcessEnv, extra: string[] = []): ReturnType<typeof spawnCli> {
  return spawnCli(['worker', '--redis', redisUrl(), '--queue', queue, '--lock-seconds', '2', ...extra], { ...BASE_ENV, ...env });
}

async function expectTableExact(mock: MockZendesk, out: string): Promise<void> {
  const expected = mock.expectedTickets();
  const got = await lakeVersions(out, 'parquet');
  expect(checkExactlyOnce(got, expected)).toEqual({ missing: [], duplicates: [], unknown: [] });
  expect((await readLog(out)).rows).toBe(expected.length);
  expect(new Set(await deltaVersions(out))).toEqual(new Set(got));
}

/** The runs that committed into a window of a table (from the Delta log's commitInfo). */
async function runsOfWindow(out: string, start: number): Promise<Set<string>> {
  const runs = new Set<string>();
  for (const c of (await readLog(out)).commits) {
    const z = c.zendeskEtl as { run?: string; window?: { start?: number } } | undefined;
    if (z?.window?.start === start && z.run !== undefined) runs.add(z.run);
  }
  return runs;
}

/** Everything in Redis, as text: every key and every value. */
async function redisDump(): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis().scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      parts.push(key);
      const type = await redis().type(key);
      if (type === 'string') parts.push((await redis().get(key)) ?? '');
      else if (type === 'hash') parts.push(JSON.stringify(await redis().hgetall(key)));
      else if (type === 'list') parts.push(...(await redis().lrange(key, 0, -1)));
      else if (type === 'set') parts.push(...(await redis().smembers(key)));
      else if (type === 'zset') parts.push(...(await redis().zrange(key, 0, -1)));
      else if (type === 'stream') parts.push(JSON.stringify(await redis().xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

describe('the fleet: jobs on BullMQ, run by workers', () => {
  it('a worker killed with kill -9 mid-way loses nothing: another worker finishes, every table exact', async () => {
    const alpha = await startMock({ tickets: 2000 });
    const beta = await startMock({ tickets: 2000, seed: 7 });
    const dir = await tempDir();
    const { name: q, queue } = testQueue();
    const file = await writeFleet(dir, {
      defaults: { perPage: 100, maxRowsPerFile: 100, rateLimit: 300 },
      accounts: [account('alpha', alpha, 2, 'ALPHA'), account('beta', beta, 2, 'BETA')],
    });
    const env = { ALPHA_EMAIL: alpha.credentials.email, ALPHA_TOKEN: alpha.credentials.apiToken, BETA_EMAIL: beta.credentials.email, BETA_TOKEN: beta.credentials.apiToken };
    expect((await enqueue(file, q)).added).toHaveLength(4);

    const a = worker(q, env, ['--concurrency', '4']);
    // Worker A holds every job and each window has committed part of itself.
    const windowsWithCommits = async (): Promise<number> => {
      let n = 0;
      for (const name of ['alpha', 'beta']) {
        const starts = new Set((await readLog(join(dir, name))).commits.map((c) => (c.zendeskEtl as { window?: { start?: number } } | undefined)?.window?.start));
        n += starts.size;
      }
      return n;
    };
    await waitFor('worker A to commit into every window', async () => (await windowsWithCommits()) >= 4);
    const activeAtKill = (await queue.getActive()).map((j) => j.id!);
    a.child.kill('SIGKILL');
    const killed = await a.done;
    expect(killed.signal).toBe('SIGKILL');
    expect(activeAtKill.length).toBeGreaterThan(0);
    expect(await queue.getCompletedCount()).toBeLessThan(4);

    const b = worker(q, env, ['--concurrency', '4', '--exit-when-drained']);
    const done = await b.done;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/stopped renewing its lock/);
    expect(await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed')).toEqual({ completed: 4, failed: 0, waiting: 0, active: 0, delayed: 0 });

    // The killed jobs went back to the queue (stalled) and resumed from their tables: at least one
    // window holds commits of both workers' runs, and every table holds each version once.
    let resumed = 0;
    for (const id of activeAtKill) {
      const job = await queue.getJob(id);
      expect(job?.stalledCounter ?? 0).toBeGreaterThanOrEqual(1);
      const data = job!.data as { account: string; window: { start: number } };
      if ((await runsOfWindow(join(dir, data.account), data.window.start)).size >= 2) resumed++;
    }
    expect(resumed).toBeGreaterThan(0);
    await expectTableExact(alpha, join(dir, 'alpha'));
    await expectTableExact(beta, join(dir, 'beta'));
  });

  it('enqueuing the same fleet twice adds nothing; ids are deterministic and hold no ":"; --run makes new jobs', async () => {
    const dir = await tempDir();
    const { name: q, queue } = testQueue();
    const file = await writeFleet(dir, {
      defaults: { format: 'parquet', rateLimit: 10 },
      accounts: [
        { name: 'acme', subdomain: 'acme', out: 's3://lake/acme', streams: ['tickets', 'users'], windows: 3, startTime: '2024-01-01', env: { ZENDESK_EMAIL: 'ACME_EMAIL', ZENDESK_API_TOKEN: 'ACME_TOKEN' } },
        { name: 'globex', baseUrl: 'https://support.globex.example', out: 'lake/globex', windows: 2, startTime: 1_700_000_000, endTime: 1_710_000_000, env: { ZENDESK_OAUTH_TOKEN: 'GLOBEX_OAUTH' } },
      ],
    });
    const first = await enqueue(file, q);
    expect(first.added).toHaveLength(2 * 3 + 2);
    expect(first.existing).toEqual([]);
    for (const id of first.added) expect(id).not.toContain(':');
    expect(first.added).toContain('acme.users.1704067200-now.3of3');
    expect(first.added).toContain('globex.tickets.1700000000-1710000000.1of2');

    const second = await enqueue(file, q);
    expect(second.added).toEqual([]);
    expect(second.existing).toEqual(first.added);
    expect(await queue.getJobCountByTypes('waiting')).toBe(8);

    // The jobs carry the lake made absolute (workers run elsewhere) and names of variables only.
    const job = await queue.getJob('globex.tickets.1700000000-1710000000.2of2');
    expect(job?.data).toMatchObject({ origin: 'https://support.globex.example', out: join(dir, 'lake/globex'), window: { start: 1_705_000_000, end: 1_710_000_000 }, env: { ZENDESK_OAUTH_TOKEN: 'GLOBEX_OAUTH' }, options: { format: 'parquet', rateLimit: 10 } });
    const open = await queue.getJob('acme.tickets.1704067200-now.3of3');
    expect((open?.data as { window: { end?: number } }).window.end).toBeUndefined();

    const third = await enqueue(file, q, ['--run', '2026-11-29']);
    expect(third.added).toHaveLength(8);
    expect(third.added[0]).toMatch(/^2026-11-29\.acme\.tickets\./);
    expect(await queue.getJobCountByTypes('waiting')).toBe(16);
  });

  it('a 401 fails its job once, not retried; a failure that may pass backs off and succeeds; status shows codes; no secret reaches Redis', async () => {
    const secrets = { good: 'tok_GOOD_9f8e7d6cSECRET', bad: 'tok_BAD_wrong0123SECRET', flaky: 'tok_FLAKY_5b4a3210SECRET' };
    const good = await startMock({ tickets: 300, credentials: { apiToken: secrets.good } });
    const bad = await startMock({ tickets: 300, credentials: { apiToken: 'tok_the_right_one_SECRET' } });
    const flaky = await startMock({ tickets: 300, credentials: { apiToken: secrets.flaky } });
    const dir = await tempDir();
    const { name: q, queue } = testQueue();
    const file = await writeFleet(dir, {
      defaults: { perPage: 100, rateLimit: 6000 },
      accounts: [account('good', good, 1, 'GOOD'), account('bad', bad, 1, 'BAD'), account('flaky', flaky, 1, 'FLAKY', { retries: 0 })],
    });
    await enqueue(file, q, ['--attempts', '4', '--backoff', '2']);
    // The first export request of "flaky" fails with a 503, and with no page retries its job fails once.
    flaky.injectFaults('status-503');
    const env = {
      GOOD_EMAIL: good.credentials.email, GOOD_TOKEN: secrets.good,
      BAD_EMAIL: bad.credentials.email, BAD_TOKEN: secrets.bad,
      FLAKY_EMAIL: flaky.credentials.email, FLAKY_TOKEN: secrets.flaky,
    };
    const w = worker(q, env, ['--concurrency', '3', '--exit-when-drained']);
    // While flaky backs off, status lists it among the jobs to run again, with its code.
    await waitFor('the flaky job to back off', async () => (await fleetStatus({ redis: redisUrl(), queue: q })).retrying.length === 1, 60_000);
    const backingOff = await fleetStatus({ redis: redisUrl(), queue: q });
    expect(backingOff.retrying[0]).toMatchObject({ account: 'flaky', code: 'ZDE_RETRIES_EXHAUSTED', attempts: 1 });
    const done = await w.done;
    expect(done.code, done.stderr).toBe(0);

    const status = await runCli(['fleet', 'status', '--redis', redisUrl(), '--queue', q, '--json'], BASE_ENV);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout) as Awaited<ReturnType<typeof fleetStatus>>;
    expect(s.counts).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 2, failed: 1 });
    expect(s.failed).toHaveLength(1);
    expect(s.failed[0]).toMatchObject({ account: 'bad', stream: 'tickets', code: 'ZDE_UNAUTHORIZED', attempts: 1 });
    // Not retried: the stand-in saw one refused request, and the job one attempt of four.
    expect(bad.requests.filter((r) => r.status === 401)).toHaveLength(1);
    expect((await queue.getJob(s.failed[0]!.id))?.attemptsMade).toBe(1);
    // Retried after its backoff, and done: its 503 once, then the whole table.
    expect(flaky.requests.filter((r) => r.status === 503)).toHaveLength(1);
    await expectTableExact(flaky, join(dir, 'flaky'));
    await expectTableExact(good, join(dir, 'good'));

    const text = await runCli(['fleet', 'status', '--redis', redisUrl(), '--queue', q], BASE_ENV);
    expect(text.stdout).toMatch(/waiting 0, active 0, delayed 0, completed 2, failed 1/);
    expect(text.stdout).toMatch(/bad\.tickets\.\S+ {2}ZDE_UNAUTHORIZED {2}after 1 attempt/);

    // No secret in Redis (job data, results, failures, limiter and pause keys), nor in the worker's logs.
    const forms = Object.values(secrets).flatMap((t) => [t, ...[good, bad, flaky].map((m) => Buffer.from(`${m.credentials.email}/token:${t}`).toString('base64'))]);
    const everything = `${await redisDump()}\n${done.stderr}\n${done.stdout}`;
    expect(everything).toContain('GOOD_TOKEN'); // the names are there, so the dump did read the jobs
    for (const secret of forms) expect(everything).not.toContain(secret);
  });

  it('SIGTERM: a worker commits, puts its job back as it was (no attempt used) and exits 143; the next worker resumes it', async () => {
    const mock = await startMock({ tickets: 2000 });
    const dir = await tempDir();
    const { name: q, queue } = testQueue();
    const file = await writeFleet(dir, { accounts: [account('solo', mock, 1, 'SOLO', { perPage: 100, maxRowsPerFile: 100, rateLimit: 300 })] });
    const [id] = (await enqueue(file, q, ['--attempts', '2'])).added;
    const env = { SOLO_EMAIL: mock.credentials.email, SOLO_TOKEN: mock.credentials.apiToken };
    const a = worker(q, env);
    await waitFor('two commits', async () => (await readLog(join(dir, 'solo'))).versions >= 2);
    a.child.kill('SIGTERM');
    const stopped = await a.done;
    expect(stopped.code, stopped.stderr).toBe(143);
    const job = await queue.getJob(id!);
    expect(await job?.getState()).toBe('waiting');
    expect(job?.attemptsMade).toBe(0);
    expect(job?.failedReason ?? '').toBe('');

    const b = await worker(q, env, ['--exit-when-drained']).done;
    expect(b.code, b.stderr).toBe(0);
    expect(await queue.getJobState(id!)).toBe('completed');
    expect((await runsOfWindow(join(dir, 'solo'), span(mock).startTime)).size).toBe(2);
    await expectTableExact(mock, join(dir, 'solo'));
  });
});

describe('fleet files and commands: checked before anything is queued', () => {
  const good = { name: 'acme', subdomain: 'acme', out: 'lake', env: { ZENDESK_OAUTH_TOKEN: 'ACME_OAUTH' } };
  const cases: [string, unknown, RegExp][] = [
    ['a token in an account', { accounts: [{ ...good, apiToken: 'tok_LEAKED_0123456789' }] }, /apiToken \(in .*accounts\[0\] \(acme\)\) is refused: credentials never go in files/],
    ['a token pasted as a variable name', { accounts: [{ ...good, env: { ZENDESK_API_TOKEN: 'tok_LEAKED_0123456789' } }] }, /env\.ZENDESK_API_TOKEN \(in .*\) must be the name of an environment variable.*not shown/],
    ['a token at the top', { token: 'tok_LEAKED_0123456789', accounts: [good] }, /token \(in .*\) is refused/],
    ['a Redis URL in an account', { accounts: [{ ...good, redis: 'redis://:tok_LEAKED_0123456789@h' }] }, /redis \(in .*\) must be left out: the workers are given the Redis URL/],
    ['an unknown option', { accounts: [{ ...good, ratelimit: 10 }] }, /ratelimit \(in .*accounts\[0\] \(acme\)\) is not an option/],
    ['a bad export option', { accounts: [{ ...good, rateLimit: -1 }] }, /rateLimit \(in .*accounts\[0\] \(acme\)\) must be a number from 0 to 100000, got -1/],
    ['an option of another command', { accounts: [{ ...good, concurrency: 2 }] }, /concurrency \(in .*\) must be an export option/],
    ['both subdomain and baseUrl', { accounts: [{ ...good, baseUrl: 'https://acme.zendesk.com' }] }, /subdomain .*both name the account/],
    ['stdout as the lake', { accounts: [{ ...good, out: '-' }] }, /out \(in .*\) must be a lake/],
    ['more windows than seconds', { accounts: [{ ...good, startTime: 100, endTime: 102, windows: 3 }] }, /windows \(account acme\) must be at most the number of seconds/],
    ['two accounts of one name', { accounts: [good, good] }, /name \(in .*accounts\[1\] \(acme\)\) must be unique/],
    ['no name', { accounts: [{ subdomain: 'acme', out: 'lake' }] }, /name \(in .*accounts\[0\]\) must be the account's name/],
    ['a name with ":"', { accounts: [{ ...good, name: 'ac:me' }] }, /name \(in .*\) must be 1 to 64 letters, digits, - or _/],
    ['no accounts', { accounts: [] }, /"accounts" \(in .*\) must be a non-empty list/],
  ];
  for (const [what, fleet, message] of cases) {
    it(`refuses ${what} (exit 2), without showing a secret`, async () => {
      const dir = await tempDir();
      const file = await writeFleet(dir, fleet);
      // A Redis that is not there: the fleet is refused before any connection.
      const run = await runCli(['fleet', 'enqueue', '--config', file, '--redis', 'redis://127.0.0.1:1'], BASE_ENV);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toContain('tok_LEAKED');
    });
  }

  it('needs --redis (or ZENDESK_ETL_REDIS_URL), refuses a password on the command line, and exits 1 quickly when Redis is not there', async () => {
    const dir = await tempDir();
    const file = await writeFleet(dir, { accounts: [good] });
    const none = await runCli(['fleet', 'enqueue', '--config', file], BASE_ENV);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--redis is missing: the Redis URL \(redis:\/\/HOST:PORT\), or ZENDESK_ETL_REDIS_URL in the environment/);
    const password = await runCli(['worker', '--redis', 'redis://:hunter2secret@127.0.0.1:1'], BASE_ENV);
    expect(password.code).toBe(2);
    expect(password.stderr).toMatch(/--redis with a password in its URL is refused/);
    expect(password.stderr).not.toContain('hunter2secret');
    const t0 = Date.now();
    const down = await runCli(['fleet', 'status'], { ...BASE_ENV, ZENDESK_ETL_REDIS_URL: 'redis://:hunter2secret@127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/ZDE_NETWORK: Redis at redis:\/\/127\.0\.0\.1:1 .* failed while connecting/);
    expect(down.stderr).not.toContain('hunter2secret');
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('fleet and worker take --help (exit 0) and the shared flags', async () => {
    for (const command of ['fleet', 'worker']) {
      const run = await runCli([command, '--help'], BASE_ENV);
      expect(run.code, run.stderr).toBe(0);
      for (const flag of ['--redis', '--queue', '--quiet', '--log-format', '--log-level', '--config']) expect(run.stdout).toContain(flag);
    }
    expect((await runCli(['worker', '--help'], BASE_ENV)).stdout).toContain('--concurrency');
    expect((await runCli(['export', '--help'], BASE_ENV)).stdout).toContain('--redis');
    const { name: q } = testQueue();
    const json = await runCli(['fleet', 'status', '--redis', redisUrl(), '--queue', q, '--log-format', 'json', '--log-level', 'warn', '--json'], BASE_ENV);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ queue: q, counts: { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 }, failed: [], retrying: [] });
    expect(json.stderr).toBe('');
  });
});
