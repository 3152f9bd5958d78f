import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OPTIONS, OPTION_DEFAULTS } from '../../src/options/table.js';
import { resolveOptions } from '../../src/options/normalize.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** `?? <literal>` fallbacks that are not an option's default, though they share its name. */
const NOT_OPTION_DEFAULTS: readonly string[] = [
  // BullMQ's own default: a job enqueued without `attempts` runs once (the option's default is for enqueueing).
  'fleet/worker.ts: attempts ?? 1',
  // A job without a stream, shown in a report.
  "cli/commands/fleet.ts: stream ?? '?'",
  // Batches in flight to the encoding thread, not the fleet's queue.
  'format/parquet-wasm/wasm-parquet.ts: queue ?? 2',
  // A page request's start_time (a cursor request has none), not the option.
  'source/ticket-source.ts: startTime ?? 0',
];

/** The stand-in's options are its own API (MockZendeskOptions), documented there. */
const OWN_DEFAULTS = ['mock/'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('the option table holds every default', () => {
  it('no module outside the table falls back to a literal default for an option the table defaults', () => {
    const names = [...new Set(OPTIONS.filter((o) => o.default !== undefined).map((o) => o.key.split('.').at(-1)!))];
    const literal = String.raw`(?:-?\d[\d_]*(?:\s*\*\s*[\d_]+)*|'[^']*'|"[^"]*"|true|false|\[[^\]]*\])`;
    const found: string[] = [];
    for (const file of sources(SRC)) {
      const rel = relative(SRC, file).split('\\').join('/');
      if (rel === 'options/table.ts' || OWN_DEFAULTS.some((d) => rel.startsWith(d))) continue;
      const text = readFileSync(file, 'utf8');
      for (const name of names) {
        for (const m of text.matchAll(new RegExp(String.raw`\b${name}\)?\s*\?\?=?\s*${literal}`, 'g'))) {
          const hit = `${rel}: ${m[0].replace(/^(\w+)\)?\s*\?\?=?\s*/, `${name} ?? `)}`;
          if (!NOT_OPTION_DEFAULTS.includes(hit)) found.push(hit);
        }
      }
    }
    expect(found).toEqual([]);
  });

  it('resolveOptions fills every default and keeps what was given', () => {
    const r = resolveOptions('export', { perPage: 50, timeouts: { connect: 5 } });
    expect(r.perPage).toBe(50);
    expect(r.timeouts.connect).toBe(5);
    expect(r.timeouts.bodyIdle).toBe(OPTION_DEFAULTS['timeouts.bodyIdle']);
    expect(r.retries).toBe(OPTION_DEFAULTS.retries);
    expect(r.maxBytesPerFile).toBe(256 * 1024 * 1024);
  });
});
