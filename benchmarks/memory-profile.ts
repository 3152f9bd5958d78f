/**
 * Where an export's peak RSS goes (issue 12's profile). While one export runs, samples every 5 ms
 * `process.memoryUsage()` and, each time RSS reaches a new peak, `/proc/self/smaps`; then prints the
 * peak split into the main isolate's heap, its ArrayBuffers, the malloc arena, Node's code, and the
 * largest anonymous mappings (a Parquet run's WebAssembly memory is one of them: it grows to fit the
 * largest row group and batch, and never shrinks).
 *
 * Usage (with a stand-in running, credentials in the environment):
 *   node dist/src/cli/main.js mock-server --tickets 300 --cache --identity --rate-limit 0 \
 *     --huge-every 1 --huge-bytes 2000000 --port 18771 &
 *   npx tsx benchmarks/memory-profile.ts --format parquet --url http://127.0.0.1:18771 --per-page 100
 * Linux only (it reads /proc). Sampling smaps costs time: use it for memory, never for speed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentialsFromEnv } from '../src/auth.js';
import { exportTickets } from '../src/export.js';
import { shutdownParquetEncoders } from '../src/format/parquet-wasm/encoder-pool.js';
import { arg } from './harness.js';

interface Mapping {
  sizeMb: number;
  rssMb: number;
  name: string;
}

function mappings(): Mapping[] {
  const maps: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = { sizeMb: (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1048576, rssMb: 0, name: head[3]! };
      maps.push(current);
    } else if (line.startsWith('Rss:') && current) current.rssMb = Number(line.split(/\s+/)[1]) / 1024;
  }
  return maps;
}

const format = (arg('format') ?? 'parquet') as 'parquet' | 'ndjson';
const url = arg('url');
if (url === undefined) throw new Error('--url URL of a running stand-in is needed');
const perPage = Number(arg('per-page') ?? '100');

let peak: { usage: NodeJS.MemoryUsage; maps: Mapping[] } | undefined;
const timer = setInterval(() => {
  const usage = process.memoryUsage();
  if (peak === undefined || usage.rss > peak.usage.rss) peak = { usage, maps: mappings() };
}, 5);
const out = mkdtempSync(join(tmpdir(), 'zde-memprof-'));
try {
  const result = await exportTickets({ baseUrl: url, credentials: credentialsFromEnv(), out, format, rateLimit: 0, perPage });
  clearInterval(timer);
  const { usage, maps } = peak!;
  const mb = (bytes: number): string => (bytes / 1048576).toFixed(0);
  const sum = (pick: (m: Mapping) => boolean): number => maps.filter(pick).reduce((a, m) => a + m.rssMb, 0);
  const arena = sum((m) => m.name === '[heap]');
  const code = sum((m) => m.name.endsWith('/node') || m.name.includes('.so'));
  console.log(`${format}: ${result.committed.rows} rows; peak RSS ${mb(usage.rss)} MB`);
  console.log(`  main isolate: heap ${mb(usage.heapTotal)} MB (used ${mb(usage.heapUsed)}), ArrayBuffers ${mb(usage.arrayBuffers)} MB (external ${mb(usage.external)})`);
  console.log(`  malloc arena [heap] ${arena.toFixed(0)} MB, Node's code and libraries ${code.toFixed(0)} MB`);
  console.log('  largest anonymous mappings (resident of reserved):');
  for (const m of maps.filter((x) => x.name === '').sort((a, b) => b.rssMb - a.rssMb).slice(0, 6)) console.log(`    ${m.rssMb.toFixed(0)} MB of ${m.sizeMb.toFixed(0)} MB`);
  const small = sum((m) => m.name === '' && m.sizeMb < 8);
  console.log(`  anonymous mappings under 8 MB (isolate pages, thread stacks): ${small.toFixed(0)} MB`);
} finally {
  clearInterval(timer);
  await shutdownParquetEncoders();
  rmSync(out, { recursive: true, force: true });
}
