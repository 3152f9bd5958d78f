/**
 * Shared pieces of the benchmarks. Each variant runs in a process of its own (so its peak RSS is its
 * own) and prints one `RESULT {json}` line; `run.ts` collects them into RESULTS.md.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockZendesk } from '../src/mock/server.js';

export const DATA = join(import.meta.dirname, '.data');

export interface Result {
  scenario: string;
  variant: string;
  size: string;
  tickets: number;
  bytes: number;
  ms: number;
  cpuMs: number;
  peakRssMb: number;
  note?: string;
}

/** Run `work`, then print its figures. `work` returns what it processed. */
export async function measure(scenario: string, variant: string, size: string, work: () => Promise<{ tickets: number; bytes: number; note?: string }>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const done = await work();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const result: Result = {
    scenario,
    variant,
    size,
    tickets: done.tickets,
    bytes: done.bytes,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    ...(done.note ? { note: done.note } : {}),
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

export const SIZES = {
  /** A typical page: 1000 tickets of ~4.6 KB. */
  typical: { tickets: 1000, hugeBytes: 0 },
  /** A big page: 1000 tickets with ~120 KB descriptions, ~120 MB. */
  big: { tickets: 1000, hugeBytes: 120 * 1024 },
} as const;

export type SizeName = keyof typeof SIZES;

/** The page file for a size (written once, reused). */
export function pageFile(size: SizeName): string {
  const path = join(DATA, `page-${size}.json`);
  if (existsSync(path)) return path;
  mkdirSync(DATA, { recursive: true });
  const spec = SIZES[size];
  const mock = new MockZendesk({ tickets: spec.tickets, hugeEvery: spec.hugeBytes > 0 ? 1 : 0, hugeDescriptionBytes: spec.hugeBytes });
  const parts: string[] = [];
  for (let id = 1; id <= spec.tickets; id++) parts.push(JSON.stringify(mock.ticketJson(id)));
  writeFileSync(path, `{"tickets":[${parts.join(',')}],"after_cursor":"abc","after_url":"https://x.zendesk.com/next","end_of_stream":false}`);
  return path;
}

export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
