/**
 * A plain export before and after the table log, side by side in one run: one stand-in process
 * (`mock-server --tickets N --cache --identity`), each build exporting every ticket into a fresh folder,
 * to Parquet (the default engine) and to NDJSON, alternating before/after, `--runs` rounds.
 * Each export runs under GNU time (`/usr/bin/time -f '%e %U %S %M'`): wall, user and system CPU of
 * the child, and its peak RSS. Every output is read back by DuckDB (each version once).
 *
 *   npx tsx benchmarks/compare/throughput.ts --before /tmp/zde-before/dist/src/cli/main.js \
 *     [--after dist/src/cli/main.js] [--tickets 50000] [--runs 3] [--json throughput.json]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { clisOf, flag, type VersionName } from './args.js';

type Format = 'parquet' | 'ndjson';

interface Config {
  clis: Record<VersionName, string>;
  tickets: number;
  runs: number;
  json: string | undefined;
}

function parseArgs(argv: readonly string[]): Config {
  return { clis: clisOf(argv), tickets: Number(flag(argv, '--tickets') ?? 50_000), runs: Number(flag(argv, '--runs') ?? 3), json: flag(argv, '--json') };
}

interface StandIn {
  url: string;
  env: NodeJS.ProcessEnv;
  pid: number;
  stop: () => Promise<void>;
}

/** The stand-in as a process of its own, from the current build's CLI. */
async function startStandIn(cli: string, tickets: number): Promise<StandIn> {
  const child = spawn(process.execPath, [cli, 'mock-server', '--tickets', String(tickets), '--cache', '--identity', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.setEncoding('utf8');
  const banner = await new Promise<string>((res, rej) => {
    child.stdout.on('data', (d: string) => {
      text += d;
      if (/ZENDESK_API_TOKEN=\S+/.test(text)) res(text);
    });
    child.on('exit', (code) => rej(new Error(`the stand-in exited with ${code}: ${text}`)));
  });
  const url = /listening on (\S+)/.exec(banner)?.[1];
  const email = /ZENDESK_EMAIL=(\S+)/.exec(banner)?.[1];
  const token = /ZENDESK_API_TOKEN=(\S+)/.exec(banner)?.[1];
  if (!url || !email || !token) throw new Error(`cannot read the stand-in's banner: ${banner}`);
  const closed = new Promise<void>((res) => child.on('close', () => res()));
  return {
    url,
    pid: child.pid!,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ZENDESK_EMAIL: email, ZENDESK_API_TOKEN: token },
    stop: async () => {
      child.kill('SIGTERM');
      await closed;
    },
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

interface Measured {
  round: number;
  version: VersionName;
  format: Format;
  exit: number;
  wallS: number;
  userS: number;
  sysS: number;
  cpuS: number;
  peakRssMb: number;
  ticketsPerS: number;
  standInCpuS: number;
  rows: number;
  distinct: number;
  bytes: number;
}

const duckConnection = DuckDBInstance.create(':memory:').then((db) => db.connect());

async function readBack(out: string, format: Format): Promise<{ rows: number; distinct: number; bytes: number }> {
  const c = await duckConnection;
  const src = format === 'parquet' ? `read_parquet('${out}/tickets/**/part-*.parquet', union_by_name=true)` : `read_json('${out}/tickets/**/*.ndjson', format='newline_delimited', union_by_name=true, maximum_object_size=134217728, sample_size=-1)`;
  const rows = (await c.runAndReadAll(`SELECT count(*)::BIGINT AS n, count(DISTINCT (id::BIGINT, generated_timestamp::BIGINT))::BIGINT AS d FROM ${src}`)).getRowObjectsJson()[0]!;
  const ext = format === 'parquet' ? 'parquet' : 'ndjson';
  const size = (await c.runAndReadAll(`SELECT coalesce(sum(size), 0)::BIGINT AS b FROM read_blob('${out}/tickets/**/*.${ext}')`)).getRowObjectsJson()[0]!;
  return { rows: Number(rows.n), distinct: Number(rows.d), bytes: Number(size.b) };
}

async function exportOnce(cfg: Config, standIn: StandIn, version: VersionName, format: Format, round: number): Promise<Measured> {
  const out = await mkdtemp(join(tmpdir(), `zde-tp-${version}-${format}-`));
  const timeFile = join(out, '..', `${out.split('/').pop()!}.time`);
  const args = ['-f', '%e %U %S %M', '-o', timeFile, process.execPath, cfg.clis[version], 'export', 'tickets', '--base-url', standIn.url, '--rate-limit', '0', '--out', out, '--format', format, '--quiet'];
  const cpu0 = cpuSeconds(standIn.pid);
  const exit = await new Promise<number>((res) => {
    const child = spawn('/usr/bin/time', args, { env: standIn.env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('close', (code) => res(code ?? -1));
  });
  const standInCpuS = cpuSeconds(standIn.pid) - cpu0;
  const [wall, user, sys, rssKb] = (await readFile(timeFile, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number, number];
  const back = await readBack(out, format);
  await rm(out, { recursive: true, force: true });
  await rm(timeFile, { force: true });
  return { round, version, format, exit, wallS: wall, userS: user, sysS: sys, cpuS: user + sys, peakRssMb: rssKb / 1024, ticketsPerS: cfg.tickets / wall, standInCpuS, ...back };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
  const standIn = await startStandIn(cfg.clis.after, cfg.tickets);
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').trim();
  const results: Measured[] = [];
  try {
    // Warm-up (not counted): fills the stand-in's cache of rendered tickets and the OS's file cache.
    for (const v of ['before', 'after'] as const) process.stdout.write(`warm-up ${v}: ${JSON.stringify(await exportOnce(cfg, standIn, v, 'parquet', 0))}\n`);
    for (let round = 1; round <= cfg.runs; round++) {
      for (const format of ['parquet', 'ndjson'] as const) {
        for (const version of ['before', 'after'] as const) {
          const m = await exportOnce(cfg, standIn, version, format, round);
          results.push(m);
          process.stdout.write(`${JSON.stringify(m)}\n`);
        }
      }
    }
  } finally {
    await standIn.stop();
  }
  const loadAfter = readFileSync('/proc/loadavg', 'utf8').trim();

  const f = (x: number, d = 1): string => x.toFixed(d);
  const runRows = results.map((m) => [m.round, m.format, m.version, m.exit, f(m.wallS, 2), f(m.ticketsPerS, 0), f(m.userS, 2), f(m.sysS, 2), f(m.cpuS, 2), f(m.peakRssMb, 0), f(m.standInCpuS, 2), `${m.rows}/${m.distinct}`, f(m.bytes / 1024 / 1024, 1)]);
  const summaryRows: (string | number)[][] = [];
  for (const format of ['parquet', 'ndjson'] as const) {
    const stats: Record<VersionName, { wall: number[]; cpu: number[]; rss: number[] }> = { before: { wall: [], cpu: [], rss: [] }, after: { wall: [], cpu: [], rss: [] } };
    for (const m of results.filter((r) => r.format === format)) {
      stats[m.version].wall.push(m.wallS);
      stats[m.version].cpu.push(m.cpuS);
      stats[m.version].rss.push(m.peakRssMb);
    }
    for (const v of ['before', 'after'] as const) {
      const s = stats[v];
      summaryRows.push([format, v, f(Math.min(...s.wall), 2), f(median(s.wall), 2), f(cfg.tickets / Math.min(...s.wall), 0), f(cfg.tickets / median(s.wall), 0), f(Math.min(...s.cpu), 2), f(median(s.cpu), 2), f(cfg.tickets / Math.min(...s.cpu), 0), f(median(s.rss), 0), f(Math.max(...s.rss), 0)]);
    }
    const b = stats.before;
    const a = stats.after;
    summaryRows.push([format, 'after / before', f(Math.min(...a.wall) / Math.min(...b.wall), 3), f(median(a.wall) / median(b.wall), 3), '', '', f(Math.min(...a.cpu) / Math.min(...b.cpu), 3), f(median(a.cpu) / median(b.cpu), 3), '', f(median(a.rss) / median(b.rss), 3), '']);
  }
  const text =
    `${cfg.tickets.toLocaleString('en-US')} tickets, ${cfg.runs} rounds; load average before: ${loadBefore}; after: ${loadAfter}\n\n` +
    `${table(['format', 'version', 'wall best s', 'wall median s', 'tickets/s (best wall)', 'tickets/s (median wall)', 'CPU best s', 'CPU median s', 'tickets per CPU-s (best)', 'peak RSS median MiB', 'peak RSS max MiB'], summaryRows)}\n\n` +
    `Every run, in the order they ran (CPU = user + sys of the export process; rows = rows/distinct versions DuckDB read back; MiB = data files):\n\n` +
    `${table(['round', 'format', 'version', 'exit', 'wall s', 'tickets/s', 'user s', 'sys s', 'CPU s', 'peak RSS MiB', 'stand-in CPU s', 'rows', 'MiB'], runRows)}`;
  process.stdout.write(`\n${text}\n`);
  if (cfg.json) await writeFile(cfg.json, JSON.stringify({ loadBefore, loadAfter, results }, null, 2));
}

await main();
