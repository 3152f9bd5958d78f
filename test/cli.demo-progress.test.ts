import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Progress } from '../src/cli/progress.js';
import { ExportStats } from '../src/core/stats.js';
import { duck, parquetGlob, runCli, tempDir } from './helpers.js';

const TTY = { write: () => true, isTTY: true } as unknown as NodeJS.WritableStream;

describe('the demo\'s progress', () => {
  it('the demo\'s stand-in has history that ends near now, so an open-ended bar reaches the end; before the first page no rate is made up', async () => {
    const out = join(await tempDir(), 'lake');
    const run = await runCli(['demo', '--tickets', '1500', '--out', out, '--quiet'], { PATH: process.env.PATH ?? '' });
    expect(run.code, run.stderr).toBe(0);
    const [r] = await duck(`SELECT min(generated_timestamp)::BIGINT AS lo, max(generated_timestamp)::BIGINT AS hi, count(*)::BIGINT AS n FROM ${parquetGlob(out)}`);
    const now = Date.now() / 1000;
    const lo = Number(r!.lo);
    const hi = Number(r!.hi);
    expect(Number(r!.n)).toBe(1500);
    expect(now - hi).toBeLessThan(2 * 3600); // ends within the last hour or two
    expect(now - hi).toBeGreaterThan(60); // and not within Zendesk's one-minute floor
    // Measured toward now, as an open-ended run is, the last page reads all but done.
    const stats = new ExportStats();
    const done = new Progress(stats, TTY, { startWatermark: lo, intervalMs: 3_600_000 });
    stats.pages = 2;
    stats.tickets = 1500;
    stats.watermark = hi;
    expect(done.figures().fraction).toBeGreaterThan(0.99);
    done.stop();

    // The first seconds: records of a page not yet complete, and no rate measured over the start-up.
    const early = new ExportStats();
    const p = new Progress(early, TTY, { intervalMs: 3_600_000 });
    expect(p.line()).toMatch(/^waiting for the first page \| committed 0 rows/);
    early.tickets = 3;
    expect(p.line()).toMatch(/^first page: 3 tickets so far \| committed 0 rows/);
    expect(p.figures().fields.per_second).toBeUndefined();
    p.stop();
  });
});
