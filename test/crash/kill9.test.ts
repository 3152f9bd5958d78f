import { describe, expect, it } from 'vitest';
import { prng } from '../../src/mock/ticket-generator.js';
import { duck, killAtRequest, mockEnv, spawnCli, startMock, tempDir, exportArgs } from '../helpers.js';
import { committedRows, expectTableExact } from '../support/lake-oracle.js';

/**
 * The long kill -9 runs: twenty SIGKILLs at random instants per format and mode, and five per other
 * stream, each followed by the same command, end in a table with every version once (read by DuckDB
 * and by a Delta reader). Their own suite (npm run test:crash), so npm test stays quick.
 */

describe('exactly once under kill -9', () => {
  for (const format of ['parquet', 'ndjson'] as const) {
    it(`${format}: twenty SIGKILLs at random instants, each followed by a resume, end in a complete lake with no duplicate`, async () => {
      const mock = await startMock({ tickets: 8000 });
      const out = await tempDir();
      const rand = prng(format === 'parquet' ? 11 : 23);
      let kills = 0;
      let maxRefetchPages = 0;
      let runs = 0;
      while (runs < 60) {
        runs++;
        const mode = runs % 2 === 0 ? 'time' : 'cursor';
        const before = await committedRows(out);
        const requestsBefore = mock.exportRequests;
        const run = spawnCli(exportArgs(mock, out, format, mode), mockEnv(mock));
        const killing = kills < 20;
        // A random instant: once the run has started, after a random number of its export requests.
        const target = requestsBefore + 1 + Math.floor(rand() * 6);
        const stopWatching = killing ? killAtRequest(run.child, mock, target) : undefined;
        const done = await run.done;
        stopWatching?.();
        if (done.signal === 'SIGKILL') {
          kills++;
          const committedPages = ((await committedRows(out)) - before) / 200;
          maxRefetchPages = Math.max(maxRefetchPages, mock.exportRequests - requestsBefore - Math.floor(committedPages));
          continue;
        }
        expect(done.code, done.stderr).toBe(0);
        if (kills >= 20) break;
      }
      expect(kills).toBe(20);
      await expectTableExact(out, mock, { format });
      // Each crash costs at most the pages since the last commit (3 pages per file) plus the page in flight.
      expect(maxRefetchPages).toBeLessThanOrEqual(8);
      console.log(`${format}: survived ${kills} kills in ${runs} runs; largest re-fetch ${maxRefetchPages} pages`);
    });
  }
});

describe('exactly once under kill -9, other streams', () => {
  for (const [stream, mode] of [['users', 'cursor'], ['ticket_events', 'time']] as const) {
    it(`${stream}: five SIGKILLs at random instants, then a complete table with no duplicate`, async () => {
      const mock = await startMock({ tickets: 40_000 });
      const out = await tempDir();
      const rand = prng(stream.length);
      const args = ['export', stream, '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--pagination', mode, '--per-page', '200', '--max-rows-per-file', '600', '--quiet'];
      let kills = 0;
      for (let runs = 0; runs < 20; runs++) {
        const before = mock.exportRequests;
        const run = spawnCli(args, mockEnv(mock));
        const target = before + 2 + Math.floor(rand() * 6);
        const timer = kills < 5 ? setInterval(() => mock.exportRequests >= target && run.child.kill('SIGKILL'), 2) : undefined;
        const done = await run.done;
        if (timer) clearInterval(timer);
        if (done.signal === 'SIGKILL') kills++;
        else {
          expect(done.code, done.stderr).toBe(0);
          if (kills >= 5) break;
        }
      }
      expect(kills).toBe(5);
      const version = stream === 'users' ? 'epoch(updated_at)::BIGINT' : '"timestamp"';
      const got = (await duck(`SELECT id, ${version} AS v FROM read_parquet('${out}/${stream}/*.parquet', union_by_name=true)`)).map((r) => `${String(r.id)}:${String(r.v)}`);
      const want = mock.expectedRecords(stream).map((r) => `${r.id}:${r.version}`);
      expect(new Set(got).size).toBe(got.length);
      expect(got.sort()).toEqual(want.sort());
    });
  }
});
