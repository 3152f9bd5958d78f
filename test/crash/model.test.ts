import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prng } from '../../src/mock/ticket-generator.js';
import type { TableStep } from '../../src/table/lake-table.js';
import { deltaVersions, mockEnv, spawnCli, startMock, tempDir, type CliRun } from '../helpers.js';
import { pauseAt, type PausedRun } from '../support/pause.js';
import { checkExactlyOnce, expectTableExact, readLog } from '../support/lake-oracle.js';

/**
 * A model-based test of the table log (issue 17): random interleavings of export (of random windows),
 * compact, vacuum and state reset, where any command may die at any step of a commit (kill -9) or
 * pause there past its lease while the next command runs. After every step the invariant holds: the
 * log adds no file that is gone, and a Delta reader (chDB) sees no version twice and none the
 * stand-in never had. At the end an export and a vacuum leave the table exact for every reader.
 */

const STEPS: readonly TableStep[] = ['lease-noted', 'file-promoted', 'before-commit', 'committed', 'file-retired'];
type Op = 'export' | 'compact' | 'vacuum' | 'reset';

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('random interleavings with crashes and pauses at every commit step', () => {
  for (const [format, seed] of [['parquet', 7], ['ndjson', 8]] as const) {
    it(`${format}: every version at most once, every add present, a Delta reader never refused (seed ${seed})`, async () => {
      const mock = await startMock({ tickets: 3000 });
      const out = await tempDir();
      const env = mockEnv(mock);
      const rand = prng(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
      const times = mock.expectedTickets().map((t) => t.generated_timestamp).sort((a, b) => a - b);
      const argsFor = (op: Op): string[] => {
        switch (op) {
          case 'export': {
            const window = rand() < 0.5 ? [] : ['--end-time', String(times[Math.floor(rand() * times.length)])];
            return ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--format', format, '--per-page', '100', '--max-rows-per-file', '300', '--log-level', 'error', ...window];
          }
          case 'compact':
            return ['compact', out, '--min-files', '2', '--log-level', 'error'];
          case 'vacuum':
            return ['vacuum', out, '--retention-hours', '0', '--log-level', 'error'];
          case 'reset':
            return ['state', 'reset', out, '--yes', '--log-level', 'error'];
        }
      };
      const counts: Record<string, number> = { ok: 0, killed: 0, paused: 0, refused: 0 };
      let paused: PausedRun | undefined;
      try {
        for (let step = 0; step < 24; step++) {
          const op: Op = pick(['export', 'export', 'export', 'compact', 'vacuum', 'reset']);
          const args = argsFor(op);
          const fate = rand();
          let run: CliRun & { signal?: NodeJS.Signals | null };
          if (fate < 0.3) {
            run = await spawnCli(args, { ...env, ZENDESK_ETL_CRASH_AT: pick(STEPS), ZENDESK_ETL_CRASH_AFTER: String(Math.floor(rand() * 2)) }).done;
          } else if (fate < 0.5 && !paused && op !== 'vacuum') {
            // Paused past its lease at its first commit, if it gets that far; the next command runs meanwhile.
            paused = await pauseAt(args, env, out).catch(() => undefined);
            if (paused) counts.paused!++;
            continue;
          } else run = await spawnCli(args, env).done;
          if (run.signal === 'SIGKILL') counts.killed!++;
          else if (run.code === 0) counts.ok!++;
          else {
            // A run that lost a race, found itself fenced or found the table busy says so and changes nothing.
            expect(run.stderr, `${op} exited ${run.code}`).toMatch(/ZDE_COMMIT_CONFLICT|ZDE_LEASE_HELD|not a table/);
            counts.refused!++;
          }
          if (paused && rand() < 0.6) {
            const resumed = await paused.resume();
            paused = undefined;
            if (resumed.code !== 0) expect(resumed.stderr).toMatch(/ZDE_COMMIT_CONFLICT|ZDE_LEASE_HELD/);
          }
          // The invariant, read through the log.
          const log = await readLog(out);
          for (const f of log.files) expect(await exists(join(out, 'tickets', f)), `${f} is in the log`).toBe(true);
          if (format === 'parquet' && log.files.length > 0) {
            const r = checkExactlyOnce(await deltaVersions(out), [], mock.history);
            expect({ step, op, duplicates: r.duplicates.slice(0, 3), unknown: r.unknown.slice(0, 3) }).toEqual({ step, op, duplicates: [], unknown: [] });
          }
        }
        if (paused) await paused.resume();
        paused = undefined;
      } finally {
        paused?.kill();
      }
      const last = await spawnCli(argsFor('export').filter((a, i, all) => a !== '--end-time' && all[i - 1] !== '--end-time'), env).done;
      expect(last.code, last.stderr).toBe(0);
      expect((await spawnCli(argsFor('vacuum'), env).done).code).toBe(0);
      await expectTableExact(out, mock, { format });
      console.log(`${format}: ${JSON.stringify(counts)}`);
    });
  }
});
