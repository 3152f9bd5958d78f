/**
 * Parse one page: JSON.parse of the whole page (the baseline) vs the streaming parsers, reading the
 * page from disk in 64 KB chunks as it would come off the network.
 * Usage: tsx benchmarks/parse.bench.ts --variant scan|stream-json|json-parse --size typical|big --repeat N
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
