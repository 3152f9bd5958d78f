/**
 * Runs every benchmark variant in its own process, side by side with the baselines, and writes
 * benchmarks/RESULTS.md. `npm run bench` (full) or `npm run bench:quick` (under 2 minutes).
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { pageFile, type Result } from './harness.js';

const quick = process.argv.includes('--quick');
const ROOT = join(import.meta.dirname, '..');
const E2E_TICKETS = quick ? 20_000 : 100_000;
const STAGE_TICKETS = quick ? 5_000 : 20_000;
const SUSTAIN_SECONDS = quick ? 20 : 60;

function runVariant(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Result {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'benchmarks', file), ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`${file} ${args.join(' ')} printed no RESULT:\n${out}`);
  const r = JSON.parse(line.slice(7)) as Result;
  process.stderr.write(`  ${r.scenario.padEnd(9)} ${r.variant.padEnd(58)} ${r.size.padEnd(8)} ${fmt(r.tickets / (r.ms / 1000))} tickets/s  ${fmt(r.peakRssMb)} MB RSS${r.note ? `  (${r.note})` : ''}\n`);
  return r;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

const perSec = (r: Result): number => r.tickets / (r.ms / 1000);
const mbPerSec = (r: Result): number => r.bytes / 1e6 / (r.ms / 1000);
const cpuUs = (r: Result): number => (r.cpuMs * 1000) / r.tickets;

async function startStandIn(tickets: number): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'mock-server', '--tickets', String(tickets), '--cache', '--identity'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /listening on (http:\/\/[\d.:]+)/.exec(text);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`the stand-in exited: ${text}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

const started = Date.now();
process.stderr.write(`benchmarks (${quick ? 'quick' : 'full'})\n`);
pageFile('typical');
pageFile('big');

const parse: Result[] = [];
for (const size of ['typical', 'big'] as const) {
  for (const variant of ['json-parse', 'scan', 'stream-json']) {
    const repeat = size === 'big' ? (variant === 'stream-json' ? 1 : quick ? 1 : 3) : variant === 'stream-json' ? 3 : quick ? 10 : 30;
    parse.push(runVariant('parse.bench.ts', ['--variant', variant, '--size', size, '--repeat', String(repeat)]));
  }
}

const stages: Result[] = [];
for (const variant of ['flatten', 'ndjson', 'parquetjs', 'duckdb-engine', 'ndjson-then-duckdb']) {
  stages.push(runVariant('stages.bench.ts', ['--variant', variant, '--tickets', String(STAGE_TICKETS)]));
}

const e2e: Result[] = [];
const fetches: Result[] = [];
const standIn = await startStandIn(E2E_TICKETS);
try {
  const env = { ZENDESK_OAUTH_TOKEN: 'mock-oauth-token-abcdef' };
  const e2eArgs = (variant: string): string[] => ['--variant', variant, '--url', standIn.url, '--tickets', String(E2E_TICKETS)];
  // Warm the stand-in's cache (not reported). It serves without gzip: on loopback compression is pure
  // cost, and every exporter here then reads the same bytes.
  runVariant('e2e.bench.ts', e2eArgs('fetch-request'), env);
  for (const v of ['fetch-request', 'fetch-api']) fetches.push(runVariant('e2e.bench.ts', e2eArgs(v), env));
  for (const v of ['handwritten', 'ndjson', 'handwritten-then-duckdb', 'parquet', 'parquet-duckdb']) e2e.push(runVariant('e2e.bench.ts', e2eArgs(v), env));
} finally {
  standIn.stop();
}

const limits: Result[] = [];
limits.push(runVariant('ratelimit.bench.ts', ['--variant', 'sustain', '--seconds', String(SUSTAIN_SECONDS)]));
limits.push(runVariant('ratelimit.bench.ts', ['--variant', 'storm']));

// ------------------------------------------------------------------ RESULTS.md

const find = (list: Result[], variant: string, size?: string): Result => list.find((r) => r.variant === variant && (size === undefined || r.size === size))!;
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const jp = find(parse, 'json-parse', 'typical');
const jpBig = find(parse, 'json-parse', 'big');
const scan = find(parse, 'scan', 'typical');
const scanBig = find(parse, 'scan', 'big');
const hand = find(e2e, 'baseline: hand-written (JSON.parse pages, NDJSON)');
const ours = find(e2e, 'zendesk-stream-etl, NDJSON');
const handDuck = find(e2e, 'baseline: hand-written NDJSON, then DuckDB COPY to Parquet');
const oursPq = find(e2e, 'zendesk-stream-etl, Parquet (parquetjs-lite)');
const oursPqDuck = find(e2e, 'zendesk-stream-etl, Parquet (duckdb engine)');
const sustain = limits[0]!;
const storm = limits[1]!;
const achieved = Number(/achieved ([\d.]+)\/min = ([\d.]+)%/.exec(sustain.note ?? '')?.[2] ?? 0);
const caused = Number(/429s caused: (\d+)/.exec(sustain.note ?? '')?.[1] ?? -1);
const stormOver = Number(/\(([-\d]+) ms over\)/.exec(storm.note ?? '')?.[1] ?? NaN);
const check = (ok: boolean): string => (ok ? 'met' : '**not met**');

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;
const table = (rows: Result[], cols: [string, (r: Result) => string][]): string =>
  [`| ${cols.map((c) => c[0]).join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => c[1](r)).join(' | ')} |`)].join('\n');

const md = `# Benchmark results

Written by \`benchmarks/run.ts\` (${quick ? '`npm run bench:quick`' : '`npm run bench`'}) on ${new Date().toISOString().slice(0, 10)}; do not edit by hand.

**Machine:** ${machine}.
Each variant ran in a process of its own; peak RSS is that process's (Node itself is ~45 MB).
Tickets average ~4.6 KB; the big page holds 1000 tickets of ~125 KB (~125 MB).

## Targets

| target | measured | |
|---|---|---|
| streaming parse >= 0.8x \`JSON.parse\` of whole pages (typical page) | ${ratio(perSec(scan), perSec(jp))} | ${check(perSec(scan) >= 0.8 * perSec(jp))} |
| streaming parse >= 0.8x \`JSON.parse\` (big page) | ${ratio(perSec(scanBig), perSec(jpBig))} | ${check(perSec(scanBig) >= 0.8 * perSec(jpBig))} |
| peak RSS on the big page <= 1/4 of \`JSON.parse\`'s | ${fmt(scanBig.peakRssMb)} MB vs ${fmt(jpBig.peakRssMb)} MB = ${(scanBig.peakRssMb / jpBig.peakRssMb).toFixed(2)} | ${check(scanBig.peakRssMb <= jpBig.peakRssMb / 4)} |
| end-to-end NDJSON >= 0.8x the hand-written exporter | ${ratio(perSec(ours), perSec(hand))} | ${check(perSec(ours) >= 0.8 * perSec(hand))} |
| end-to-end Parquet >= 0.5x "NDJSON, then DuckDB" (default engine, parquetjs-lite) | ${ratio(perSec(oursPq), perSec(handDuck))} | ${check(perSec(oursPq) >= 0.5 * perSec(handDuck))} |
| end-to-end Parquet >= 0.5x "NDJSON, then DuckDB" (\`--parquet-engine duckdb\`) | ${ratio(perSec(oursPqDuck), perSec(handDuck))} | ${check(perSec(oursPqDuck) >= 0.5 * perSec(handDuck))} |
| rate limit: sustain >= 98% of N, no 429 of its own | ${achieved.toFixed(1)}%, ${caused} 429s | ${check(achieved >= 98 && caused === 0)} |
| 429 storm: no time lost beyond the Retry-After values | ${stormOver} ms over 8000 ms | ${check(stormOver < 8 * 50)} |

## Parse (one page, read from disk in 64 KB chunks)

${table(parse, [
  ['parser', (r) => r.variant],
  ['page', (r) => r.size],
  ['tickets/s', (r) => fmt(perSec(r))],
  ['MB/s', (r) => mbPerSec(r).toFixed(0)],
  ['peak RSS MB', (r) => fmt(r.peakRssMb)],
  ['CPU µs/ticket', (r) => cpuUs(r).toFixed(1)],
  ['vs JSON.parse', (r) => ratio(perSec(r), perSec(find(parse, 'json-parse', r.size)))],
])}

## Stages alone (${fmt(STAGE_TICKETS)} tickets in memory)

${table(stages, [
  ['stage', (r) => r.variant],
  ['rows/s', (r) => fmt(perSec(r))],
  ['CPU µs/ticket', (r) => cpuUs(r).toFixed(1)],
  ['peak RSS MB', (r) => fmt(r.peakRssMb)],
  ['note', (r) => r.note ?? ''],
])}

## HTTP alone (the stand-in in another process, ${fmt(E2E_TICKETS)} tickets)

${table(fetches, [
  ['client', (r) => r.variant],
  ['MB/s', (r) => mbPerSec(r).toFixed(0)],
  ['tickets/s', (r) => fmt(perSec(r))],
])}

## End to end (stand-in in another process, rate limit off, ${fmt(E2E_TICKETS)} tickets, cursor pagination)

${table(e2e, [
  ['exporter', (r) => r.variant],
  ['tickets/s', (r) => fmt(perSec(r))],
  ['MB/s', (r) => mbPerSec(r).toFixed(0)],
  ['peak RSS MB', (r) => fmt(r.peakRssMb)],
  ['CPU µs/ticket', (r) => cpuUs(r).toFixed(1)],
])}

## Rate limit

${limits.map((r) => `- ${r.variant}: ${r.note}`).join('\n')}

## Where the time goes (CPU µs per ticket)

| stage | µs/ticket |
|---|---|
| parse (scan, typical page) | ${cpuUs(scan).toFixed(1)} |
| flatten | ${cpuUs(find(stages, 'flatten')).toFixed(1)} |
| NDJSON sink | ${cpuUs(find(stages, 'ndjson sink')).toFixed(1)} |
| Parquet sink, parquetjs-lite | ${cpuUs(find(stages, 'parquet sink (parquetjs-lite)')).toFixed(1)} |
| Parquet sink, duckdb engine (this process only; DuckDB's threads are counted too) | ${cpuUs(find(stages, 'parquet sink (duckdb engine)')).toFixed(1)} |
| end to end, NDJSON (exporter process) | ${cpuUs(ours).toFixed(1)} |

Commands: \`npm run bench${quick ? ':quick' : ''}\` (this file). One scenario alone:
\`npx tsx benchmarks/parse.bench.ts --variant scan --size big --repeat 3\`,
\`npx tsx benchmarks/stages.bench.ts --variant parquetjs --tickets 20000\`,
\`npx tsx benchmarks/ratelimit.bench.ts --variant sustain --seconds 60\`.
Total run time: ${((Date.now() - started) / 1000).toFixed(0)} s.
`;
writeFileSync(join(ROOT, 'benchmarks', 'RESULTS.md'), md);
process.stderr.write(`wrote benchmarks/RESULTS.md in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);

// ------------------------------------------------------------------ S3 vs local (issue 11)
// The same export into a local folder and into S3 (Ceph RGW on loopback), side by side; its table is
// appended to RESULTS.md. Runs only when RGW answers on ZDE_RGW_PORT (default 7480), or when
// scripts/services/rgw.sh can fetch and start it (it is stopped again after). See benchmarks/s3.bench.ts.
{
  const { appendFileSync } = await import('node:fs');
  const { compareS3, ensureRgw, s3Markdown } = await import('./s3.bench.js');
  const s3Tickets = quick ? 20_000 : 50_000;
  const s3Repeat = quick ? 1 : 3;
  const log = (text: string): void => void process.stderr.write(text);
  log('S3 vs local\n');
  const rgw = await ensureRgw(log);
  let section = '## S3 (Ceph RGW on loopback) vs a local folder\n\nNot measured: RGW did not answer and could not be started (scripts/services/rgw.sh).\n';
  if (rgw) {
    try {
      section = s3Markdown(await compareS3({ tickets: s3Tickets, repeat: s3Repeat, formats: ['parquet', 'ndjson'], log }), s3Tickets, s3Repeat);
    } finally {
      rgw.stop();
    }
  }
  appendFileSync(join(ROOT, 'benchmarks', 'RESULTS.md'), `\n${section}`);
  log(`appended the S3 comparison to benchmarks/RESULTS.md (${((Date.now() - started) / 1000).toFixed(0)} s in all)\n`);
}
