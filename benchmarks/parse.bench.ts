/**
 * Parse one page: JSON.parse of the whole page (the baseline) vs the streaming parsers, reading the
 * page from disk in 64 KB chunks as it would come off the network.
 * Usage: tsx benchmarks/parse.bench.ts --variant scan|stream-json|json-parse --size typical|big|escapes --repeat N
 * Pages (benchmarks/harness.ts): typical = 1000 tickets of ~4.6 KB (5.3 MB); big = 1000 tickets with
 * ~125 KB descriptions, 2.5% of bytes backslashes (132 MB); escapes = 1000 tickets with ~125 KB
 * escape-heavy descriptions, 21% of bytes backslashes, lone surrogates, multi-byte UTF-8 (130 MB).
 *
 * Measured 2026-11-29, 2 cores (AMD EPYC), 23 GiB, Node v20.20.2, linux/x64, a machine shared with
 * other work (load 4-5 during the runs). Best of 3 interleaved runs; MB/s is wall clock, CPU is
 * user+system ms per page; repeat 30 (typical) or 3 (big, escapes), stream-json 5 or 2.
 * "scan before" is the scanner before the large-string path, run by a copy of this loop in the same
 * rounds; "scan after" is this file. (The same new code through that copy: big 252 MB/s, 515 ms;
 * escapes 168 MB/s, 787 ms: the spread between identical runs is ~10% here.)
 *
 * | page    | json-parse      | stream-json     | scan before     | scan after      |
 * |---------|-----------------|-----------------|-----------------|-----------------|
 * | typical | 126 MB/s, 48 ms | 34 MB/s, 256 ms | 158 MB/s, 35 ms | 157 MB/s, 36 ms |
 * | big     | 231 MB/s, 570   | 153 MB/s, 862   | 189 MB/s, 672   | 220 MB/s, 593   |
 * | escapes | 123 MB/s, 1038  | 40 MB/s, 3184   | 102 MB/s, 1249  | 161 MB/s, 784   |
 *
 * Typical, 10 alternating runs: CPU ms/page min/median 33.0/34.6 before, 33.6/34.2 after (no change).
 * The figures (big page: scan 61 MB/s, stream-json 113 MB/s, RESULTS.md of 2026-11-28) did
 * not reproduce: before any change, on a quiet machine (load 0.5), scan / stream-json / json-parse
 * gave 164 / 35 / 122 MB/s on typical, 210 / 169 / 170 on big, 107 / 43 / 104 on escapes.
 * Where the time went on escapes before (--cpu-prof): JSON.parse of the element 45% (~210 MB/s on
 * two-byte, escape-dense text), buffer.toString('utf8') 29% (~420 MB/s on non-ASCII), the byte scan
 * 7.5%, Buffer.concat <1%. After: the JS decoder 38% (~340 MB/s), building the UTF-16 strings 12%
 * (new large-object memory, which JSON.parse pays as well), the byte scan 9%. On big before: UTF-8
 * decoding 32%, JSON.parse 19%.
 */
import { createReadStream, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createPageParser, type PageEvent, type ParserKind } from '../src/source/page-parser.js';
import { arg, measure, pageFile, type SizeName } from './harness.js';

const variant = arg('variant') ?? 'scan';
const size = (arg('size') ?? 'typical') as SizeName;
const repeat = Number(arg('repeat') ?? '10');
const file = pageFile(size);
const bytes = statSync(file).size;

await measure('parse', variant, size, async () => {
  let tickets = 0;
  for (let r = 0; r < repeat; r++) {
    if (variant === 'json-parse') {
      const doc = JSON.parse(await readFile(file, 'utf8')) as { tickets: unknown[] };
      tickets += doc.tickets.length;
      continue;
    }
    const out: PageEvent[] = [];
    const parser = createPageParser(variant as ParserKind, out);
    for await (const chunk of createReadStream(file, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
      parser.write(chunk);
      for (const ev of out) if (ev.kind === 'element') tickets++;
      out.length = 0;
    }
    parser.end();
  }
  return { tickets, bytes: bytes * repeat };
});
