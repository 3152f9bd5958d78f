import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, mockEnv, runCli, spawnCli, startMock, tempDir } from '../helpers.js';
import { pauseAt } from '../support/pause.js';
import { expectTableExact } from '../support/lake-oracle.js';

/**
 * Clocks that disagree (issue 17): a run on a host whose clock is 200 s ahead takes a live run's
 * lease for expired. It fences that run in the log before it deletes anything of it, so the other
 * run commits nothing more and the table stays exact; never a file deleted that the log then adds.
 * The skewed clock is real: libfaketime (Debian's package, fetched into a cache) under the CLI.
 */

let faketime: string;

beforeAll(async () => {
  const { stdout } = await promisify(execFile)('bash', ['scripts/services/faketime.sh', 'lib'], { cwd: ROOT });
  faketime = stdout.trim();
}, 600_000);

describe('a clock minutes ahead', () => {
  for (const format of ['parquet', 'ndjson'] as const) {
    it(`a run whose clock is 200 s ahead fences a live run instead of deleting its files (${format})`, async () => {
      const mock = await startMock({ tickets: 3000 });
      const out = await tempDir();
      const env = mockEnv(mock);
      const args = (...more: string[]): string[] => ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--format', format, '--per-page', '100', '--max-rows-per-file', '500', '--log-level', 'warn', ...more];
      const half = String(mock.expectedTickets().map((t) => t.generated_timestamp).sort((a, b) => a - b)[1500]);
      expect((await runCli(args('--end-time', half), env)).code).toBe(0);
      // A live run, stopped for a moment right before its commit, its lease fresh (2 minutes to live).
      const live = await pauseAt(args(), env, out, { expire: false });
      try {
        const ahead = await spawnCli(args('--end-time', half), { ...env, LD_PRELOAD: faketime, FAKETIME: '+200s', DONT_FAKE_MONOTONIC: '1' }).done;
        expect(ahead.code, ahead.stderr).toBe(0);
        const resumed = await live.resume();
        expect(resumed.code, resumed.stderr).toBe(1);
        expect(resumed.stderr).toMatch(/commit conflict \(fenced\)/);
      } finally {
        live.kill();
      }
      expect((await runCli(args(), env)).code).toBe(0);
      await expectTableExact(out, mock, { format });
    });
  }
});
