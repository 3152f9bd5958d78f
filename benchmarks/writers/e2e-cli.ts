/**
 * End to end, with the built CLI: the stand-in in one process (`mock-server --cache --identity`), each
 * export in another (`export tickets`), as benchmarks/run.ts does. Formats: NDJSON, Parquet with the
 * wasm engine (the default) and with parquetjs-lite. Each variant runs `--runs` times, interleaved
 * (the machine is shared: best and median are reported). Measured in the exporting process: wall
 * time (from spawn to exit), CPU of every thread (user + sys), the main thread's CPU, peak RSS.
 *
 * Two scenarios: `typical` (N typical tickets) and `huge` (tickets with 1.5 MB descriptions, pages
 * of ~120 MB).
 *
 * Usage: npx tsc -p tsconfig.build.json && npx tsx benchmarks/writers/e2e-cli.ts [--tickets 50000] [--runs 3] [--huge-tickets 200]
 * Writes benchmarks/writers/E2E-RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startStandIn as standIn } from '../harness.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const PROBE = join(import.meta.dirname, 'usage-probe.mjs');
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const TICKETS = Number(arg('tickets', '50000'));
const RUNS = Number(arg('runs', '3'));
const HUGE_TICKETS = Number(arg('huge-tickets', '200'));
const HUGE_BYTES = 1.5 * 1024 * 1024;
const HUGE_PER_PAGE = 80;

type Variant = 'ndjson' | 'parquet-wasm' | 'parquet-parquetjs';
const VARIANTS: Variant[] = ['ndjson', 'parquet-wasm', 'parquet-parquetjs'];

interface Run {
  variant: Variant;
  wallMs: number;
  cpuMs: number;
  mainMs: number;
  peakRssMb: number;
}

if (!existsSync(CLI)) throw new Error(`build first: npx tsc -p tsconfig.build.json (${CLI} is missing)`);


function flags(variant: Variant): string[] {
  if (variant === 'ndjson') return ['--format', 'ndjson'];
  return ['--format', 'parquet', '--parquet-engine', variant === 'parquet-wasm' ? 'wasm' : 'parquetjs'];
}

async function exportOnce(url: string, variant: Variant, extra: string[] = []): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'zde-e2e-'));
  const usage = join(dir, 'usage.json');
  const t0 = performance.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', PROBE, CLI, 'export', 'tickets', '--base-url', url, '--rate-limit', '0', '--out', join(dir, 'lake'), '--quiet', ...flags(variant), ...extra], {
      env: { ...process.env, ZENDESK_OAUTH_TOKEN: 'mock-oauth-token-abcdef', ZDE_USAGE_FILE: usage },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('close', (c) => resolve(c ?? -1));
  });
  const wallMs = performance.now() - t0;
  try {
    if (code !== 0) throw new Error(`${variant}: the export exited with ${code}`);
    const u = JSON.parse(readFileSync(usage, 'utf8')) as { userUs: number; systemUs: number; mainUs: number; maxRssKb: number };
    return { variant, wallMs, cpuMs: (u.userUs + u.systemUs) / 1000, mainMs: u.mainUs / 1000, peakRssMb: u.maxRssKb / 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const best = (xs: number[]): number => Math.min(...xs);
const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');
const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);

async function scenario(label: string, serverArgs: string[], exportArgs: string[], tickets: number): Promise<{ label: string; tickets: number; runs: Run[]; loads: number[] }> {
  const s = await standIn(serverArgs);
  const runs: Run[] = [];
  const loads: number[] = [];
  try {
    process.stderr.write(`${label}: warming the stand-in's cache\n`);
    await exportOnce(s.url, 'ndjson', exportArgs);
    for (let i = 0; i < RUNS; i++) {
      // Interleaved, the order rotated each round, so a burst of load on the shared machine does not hit one variant only.
      const order = VARIANTS.map((_, k) => VARIANTS[(k + i) % VARIANTS.length]!);
      for (const v of order) {
        loads.push(loadavg()[0]!);
        const r = await exportOnce(s.url, v, exportArgs);
        runs.push(r);
        process.stderr.write(`  ${label} run ${i + 1} ${v.padEnd(18)} ${f0(r.wallMs)} ms wall, ${f1((r.cpuMs * 1000) / tickets)} µs/ticket CPU (${f1((r.mainMs * 1000) / tickets)} main), ${f0(r.peakRssMb)} MB\n`);
      }
    }
  } finally {
    s.stop();
  }
  return { label, tickets, runs, loads };
}

function table(sc: { label: string; tickets: number; runs: Run[] }): string {
  const of = (v: Variant): Run[] => sc.runs.filter((r) => r.variant === v);
  const rows = VARIANTS.map((v) => {
    const rs = of(v);
    const us = (ms: number): number => (ms * 1000) / sc.tickets;
    return `| ${v} | ${f0(best(rs.map((r) => r.wallMs)))} / ${f0(median(rs.map((r) => r.wallMs)))} | ${f1(us(best(rs.map((r) => r.cpuMs))))} / ${f1(us(median(rs.map((r) => r.cpuMs))))} | ${f1(us(best(rs.map((r) => r.mainMs))))} / ${f1(us(median(rs.map((r) => r.mainMs))))} | ${f0(best(rs.map((r) => r.peakRssMb)))} / ${f0(median(rs.map((r) => r.peakRssMb)))} | ${rs.map((r) => f0(r.wallMs)).join(', ')} |`;
  });
  const nd = of('ndjson');
  const ratio = (v: Variant): string => {
    const rs = of(v);
    return `${f2(best(rs.map((r) => r.wallMs)) / best(nd.map((r) => r.wallMs)))} (best) / ${f2(median(rs.map((r) => r.wallMs)) / median(nd.map((r) => r.wallMs)))} (median)`;
  };
  return [
    '| variant | wall ms, best / median | CPU µs/ticket (all threads), best / median | main thread µs/ticket, best / median | peak RSS MB, best / median | wall ms, every run |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Wall time / NDJSON: Parquet (wasm) ${ratio('parquet-wasm')}; Parquet (parquetjs-lite) ${ratio('parquet-parquetjs')}.`,
  ].join('\n');
}

const started = new Date();
const typical = await scenario(`${TICKETS} typical tickets`, ['--tickets', String(TICKETS)], [], TICKETS);
const huge = await scenario(`${HUGE_TICKETS} tickets of 1.5 MB`, ['--tickets', String(HUGE_TICKETS), '--huge-every', '1', '--huge-bytes', String(HUGE_BYTES)], ['--per-page', String(HUGE_PER_PAGE)], HUGE_TICKETS);
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;
const md = `# End to end with the CLI: NDJSON, Parquet (wasm), Parquet (parquetjs-lite)

Written by \`npx tsx benchmarks/writers/e2e-cli.ts\` on ${started.toISOString().slice(0, 10)}; do not edit by hand.

**Machine:** ${machine}. Shared with other work: load average (1 min) at the start of each run ${f1(Math.min(...typical.loads, ...huge.loads))}-${f1(Math.max(...typical.loads, ...huge.loads))}. ${RUNS} runs of each variant, interleaved; cells show best / median.

The stand-in (\`mock-server --cache --identity\`) runs in a process of its own; each export is \`node dist/src/cli/main.js export tickets --rate-limit 0\` in a new process (the encoding thread's start, ~0.5 s of CPU, is included). CPU counts every thread of the exporting process (\`process.cpuUsage()\` at exit); "main thread" is /proc schedstat of the main thread.

## ${typical.label}

${table(typical)}

## ${huge.label} (pages of ${HUGE_PER_PAGE} tickets, ~${Math.round((HUGE_PER_PAGE * HUGE_BYTES) / 1e6)} MB)

${table(huge)}
`;
writeFileSync(join(import.meta.dirname, 'E2E-RESULTS.md'), md);
process.stdout.write(md);
