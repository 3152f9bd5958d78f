import { expect } from 'vitest';
import type { MockZendesk } from '../../src/mock/server.js';
import type { CliRun } from '../helpers.js';
import { pauseAt } from './pause.js';

/**
 * The scenarios of a writer paused past its lease (issue 17), for any lake: a folder or S3. Each
 * stops one command right before it writes its commit (its data file already visible), runs another
 * command meanwhile, lets the first go on, runs it again once as an operator would, and leaves the
 * table for the caller to check exactly (the glob reader, the Delta reader, every add present).
 */

export interface LakeUnderTest {
  /** `--out` / LAKE: a folder or s3://BUCKET/PREFIX. */
  out: string;
  /** The environment of every CLI run (the stand-in's credentials, and AWS settings for S3). */
  env: NodeJS.ProcessEnv;
  run(args: string[]): Promise<CliRun>;
}

export type Scenario = 'compact-then-export' | 'export-then-vacuum' | 'export-then-other-window' | 'reset-then-export';

export const SCENARIOS: readonly { name: Scenario; title: string }[] = [
  { name: 'compact-then-export', title: 'compact paused; the hourly export ran (nothing new)' },
  { name: 'export-then-vacuum', title: 'an export paused; vacuum --retention-hours 0 ran' },
  { name: 'export-then-other-window', title: 'an export paused; an export of another, finished window ran' },
  { name: 'reset-then-export', title: 'state reset paused; an export ran' },
];

/** The generated_timestamp that splits the stand-in's tickets in two windows. */
function cut(mock: MockZendesk): number {
  const all = mock.expectedTickets().sort((a, b) => a.generated_timestamp - b.generated_timestamp);
  return all[Math.floor(all.length / 2)]!.generated_timestamp;
}

async function ok(r: Promise<CliRun>, what: string): Promise<CliRun> {
  const done = await r;
  expect(done.code, `${what}: ${done.stderr}`).toBe(0);
  return done;
}

/** What each run paused past its lease ended with, for the caller's report. */
export interface ScenarioOutcome {
  pausedExit: number;
  pausedStderr: string;
}

export async function runScenario(name: Scenario, lake: LakeUnderTest, mock: MockZendesk, format: 'parquet' | 'ndjson'): Promise<ScenarioOutcome> {
  const exportArgs = (...more: string[]): string[] => ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', lake.out, '--format', format, '--per-page', '100', '--max-rows-per-file', '100', '--log-level', 'warn', ...more];
  const half = String(cut(mock));
  let paused;
  let again: () => Promise<CliRun>;
  switch (name) {
    case 'compact-then-export': {
      await ok(lake.run(exportArgs()), 'the first export');
      const compact = ['compact', lake.out, '--min-files', '2', '--log-level', 'warn'];
      paused = await pauseAt(compact, lake.env, lake.out);
      await ok(lake.run(exportArgs()), 'the hourly export');
      again = () => lake.run(compact);
      break;
    }
    case 'export-then-vacuum':
    case 'export-then-other-window': {
      await ok(lake.run(exportArgs('--end-time', half)), 'the first window');
      paused = await pauseAt(exportArgs(), lake.env, lake.out);
      if (name === 'export-then-vacuum') await ok(lake.run(['vacuum', lake.out, '--retention-hours', '0', '--log-level', 'warn']), 'vacuum');
      else await ok(lake.run(exportArgs('--end-time', half)), 'the finished window again');
      again = () => lake.run(exportArgs());
      break;
    }
    case 'reset-then-export': {
      await ok(lake.run(exportArgs('--end-time', half)), 'the first window');
      const reset = ['state', 'reset', lake.out, '--yes', '--log-level', 'warn'];
      paused = await pauseAt(reset, lake.env, lake.out);
      await ok(lake.run(exportArgs()), 'the export');
      again = async () => {
        await ok(lake.run(reset), 'the reset again');
        return lake.run(exportArgs());
      };
      break;
    }
  }
  try {
    const resumed = await paused.resume();
    // It was fenced: it commits nothing, and says why.
    expect(resumed.code, resumed.stderr).toBe(1);
    expect(resumed.stderr).toMatch(/ZDE_COMMIT_CONFLICT: commit conflict \(fenced\)/);
    await ok(again(), 'the same command again');
    return { pausedExit: resumed.code, pausedStderr: resumed.stderr };
  } finally {
    paused.kill();
  }
}
