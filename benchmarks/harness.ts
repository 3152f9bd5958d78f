/**
 * Shared pieces of the benchmarks. Each variant runs in a process of its own (so its peak RSS is its
 * own) and prints one `RESULT {json}` line; `run.ts` collects them into RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockZendesk } from '../src/mock/server.js';

export const DATA = join(import.meta.dirname, '.data');
const BUILT_CLI = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');

/**
 * The stand-in in a process of its own (`zendesk-etl mock-server ARGS --cache --identity`: rendered
 * pages, no gzip, so every exporter reads the same bytes). `cli` runs the CLI: the built one by default.
 */
export async function startStandIn(args: readonly string[], cli: readonly string[] = [BUILT_CLI]): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [...cli, 'mock-server', ...args, '--cache', '--identity'], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  typical: { tickets: 1000, hugeBytes: 0, escapes: false },
  /** A big page: 1000 tickets with ~120 KB descriptions, ~120 MB. */
  big: { tickets: 1000, hugeBytes: 120 * 1024, escapes: false },
  /**
   * An escape-heavy page: 1000 tickets whose description is ~125 KB of JSON text where one byte in
   * five is a backslash (pasted logs, code, JSON, Windows paths, control characters, `\uXXXX`
   * escapes incl. surrogate pairs and lone surrogates), mixed with multi-byte UTF-8. ~130 MB.
   */
  escapes: { tickets: 1000, hugeBytes: 125 * 1024, escapes: true },
} as const;

export type SizeName = keyof typeof SIZES;

/** Pieces of an escape-dense description, as they come out of pasted logs, code and JSON (the characters themselves). */
const ESCAPE_PIECES = [
  '"quoted"', 'C:\\Users\\agent\\AppData', '\t', '\n', '\r\n', '{"k":"v","n":[1,2]}', '\\', '\u0000', '\u001b[31m',
  'é', '東京', '🙂', '\ud83d', '\udca9', '\u2028', '<a href="x">', "it's", 'a/b', 'x', 'log', ' ', '\f', '\b', '\\"',
];

/** A deterministic escape-dense string whose JSON encoding is about `bytes` long. */
function escapeHeavyText(seed: number, bytes: number): string {
  let x = seed >>> 0 || 1;
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const piece = ESCAPE_PIECES[x % ESCAPE_PIECES.length]!;
    parts.push(piece);
    length += Buffer.byteLength(JSON.stringify(piece)) - 2;
  }
  return parts.join('');
}

/** The page file for a size (written once, reused). */
export function pageFile(size: SizeName): string {
  const path = join(DATA, `page-${size}.json`);
  if (existsSync(path)) return path;
  mkdirSync(DATA, { recursive: true });
  const spec = SIZES[size];
  const mock = new MockZendesk({ tickets: spec.tickets, hugeEvery: spec.hugeBytes > 0 && !spec.escapes ? 1 : 0, hugeDescriptionBytes: spec.hugeBytes });
  const parts: string[] = [];
  for (let id = 1; id <= spec.tickets; id++) {
    const ticket = mock.ticketJson(id);
    if (spec.escapes) ticket.description = escapeHeavyText(id, spec.hugeBytes);
    parts.push(JSON.stringify(ticket));
  }
  writeFileSync(path, `{"tickets":[${parts.join(',')}],"after_cursor":"abc","after_url":"https://x.zendesk.com/next","end_of_stream":false}`);
  return path;
}

export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
