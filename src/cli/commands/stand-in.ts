import { MockZendesk, type MockZendeskOptions } from '../../mock/server.js';
import { EXIT, prepare, type CliIo } from '../context.js';
import { exportCommand } from './export.js';
import { OPTION_DEFAULTS } from '../../options/table.js';

/** `zendesk-etl mock-server`: the Zendesk stand-in on loopback, for offline pipeline tests. */
export async function mockCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('mock-server', args, io, {
    name: 'zendesk-etl mock-server',
    usage: 'zendesk-etl mock-server [--port N] [--tickets N] [--rate-limit N] [--fault-rate 0..1]',
    about: 'Run the Zendesk stand-in on 127.0.0.1: the incremental exports with their traps (boundary duplicates,\nclumps, 429s, faults), for your own offline tests. It runs until SIGINT or SIGTERM.',
  });
  if (typeof ctx === 'number') return ctx;
  const o = ctx.options;
  const mockOpts: MockZendeskOptions = {
    tickets: o.tickets ?? 10_000,
    seed: o.seed,
    rateLimit: o.rateLimit,
    hugeEvery: o.hugeEvery,
    hugeDescriptionBytes: o.hugeBytes,
    cacheRendered: o.cache === true,
    gzip: o.identity !== true,
    faultRate: o.faultRate,
  };
  const mock = new MockZendesk(mockOpts);
  const url = await mock.start(o.port ?? OPTION_DEFAULTS.port);
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

/** `npm start`: a backfill of the built-in stand-in into a local lake, with progress. */
export async function demoCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('demo', args, io, {
    name: 'zendesk-etl demo',
    usage: 'zendesk-etl demo [--out DIR] [--tickets N] [--format parquet|ndjson]',
    about: 'Start the built-in Zendesk stand-in and backfill it into a local lake, with progress (what npm start runs).',
  });
  if (typeof ctx === 'number') return ctx;
  const tickets = ctx.options.tickets ?? 50_000;
  const out = ctx.options.out ?? 'lake';
  const format = ctx.options.format ?? 'parquet';
  // An account whose 30 days of history end at the start of this hour (more than a minute ago, as
  // Zendesk's floor on start_time wants): an open-ended export runs toward now, so the bar and the
  // ETA measure real progress. Within the hour, the same data comes back.
  const endEpoch = Math.floor(Date.now() / 3_600_000) * 3600 - 120;
  const mock = new MockZendesk({ tickets, endEpoch, spacing: (30 * 86_400) / Math.max(1, tickets), lateFieldAfterRequests: Math.floor(tickets / 2000) });
  const url = await mock.start();
  ctx.log.info(`demo: a Zendesk stand-in with ${tickets.toLocaleString('en-US')} tickets is at ${url}`);
  try {
    const env: NodeJS.ProcessEnv = { ...io.env, ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
    delete env.ZENDESK_OAUTH_TOKEN;
    delete env.ZENDESK_SUBDOMAIN;
    delete env.ZENDESK_BASE_URL;
    const shared = ['--log-format', String(ctx.options.logFormat ?? OPTION_DEFAULTS.logFormat), ...(ctx.quiet ? ['--quiet'] : [])];
    const code = await exportCommand(['tickets', '--base-url', url, '--rate-limit', '0', '--format', format, '--out', out, '--partition-by', 'updated_at:year', ...shared], { ...io, env });
    if (code === EXIT.OK) {
      const glob = format === 'parquet' ? `${out}/tickets/**/part-*.parquet` : `${out}/tickets/**/*.ndjson`;
      const reader = format === 'parquet' ? `read_parquet('${glob}', hive_partitioning=true, union_by_name=true)` : `read_json_auto('${glob}')`;
      ctx.log.info(`the table is in ${out}/tickets, with its Delta log in ${out}/tickets/_delta_log. Read it with DuckDB:`);
      io.stdout.write(`duckdb -c "SELECT status, count(*) FROM ${reader} GROUP BY ALL ORDER BY 2 DESC"\n`);
    }
    return code;
  } finally {
    await mock.close();
  }
}
