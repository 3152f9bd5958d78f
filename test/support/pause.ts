import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { openStorage } from '../../src/storage/open-storage.js';
import { readLeases } from '../../src/table/lease.js';
import type { TableStep } from '../../src/table/lake-table.js';
import { CLI, type CliRun } from '../helpers.js';
import { waitFor } from './wait-for.js';

/**
 * A CLI run stopped at a step of a table commit (it sends itself SIGSTOP there, as a GC or VM pause
 * would stop it), held until its lease looks dead to any other run, then continued on demand.
 */
export interface PausedRun {
  pid: number;
  /** SIGCONT, then the run's end. */
  resume(): Promise<CliRun>;
  /** SIGKILL (for a test that fails half-way: never leave a stopped process behind). */
  kill(): void;
}

/** A lease's time to live for paused runs: short, so that tests wait seconds, not minutes. */
export const PAUSE_LEASE_TTL_MS = 2000;

function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/**
 * Start `zendesk-etl args` and let it run until it stops itself at `step` (after `after` earlier
 * passes); then (unless `expire` is false) wait until another run would take its lease on `table`
 * for dead. With `expire: false` the run keeps the default lease time to live.
 */
export async function pauseAt(args: string[], env: NodeJS.ProcessEnv, lake: string, o: { table?: string; step?: TableStep; after?: number; expire?: boolean } = {}): Promise<PausedRun> {
  const expire = o.expire ?? true;
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...env, ZENDESK_ETL_PAUSE_AT: o.step ?? 'before-commit', ZENDESK_ETL_PAUSE_AFTER: String(o.after ?? 0), ...(expire ? { ZENDESK_ETL_LEASE_TTL_MS: String(PAUSE_LEASE_TTL_MS) } : {}) },
    // Its own session: a signal to the test's process group never wakes or ends it.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let ended: CliRun | undefined;
  const done = new Promise<CliRun>((resolve) => child.on('close', (code, signal) => resolve((ended = { code: code ?? (signal ? 128 : -1), stdout, stderr }))));
  const pid = child.pid!;
  const kill = (): void => {
    if (!ended) child.kill('SIGKILL');
  };
  try {
    await waitFor(`zendesk-etl ${args[0]} to stop at ${o.step ?? 'before-commit'}`, () => {
      if (ended) throw new Error(`zendesk-etl ${args.join(' ')} ended (exit ${ended.code}) before it reached the pause: ${ended.stderr}`);
      return procState(pid) === 'T';
    });
    const storage = await openStorage(lake);
    if (expire) await waitFor('its lease to look dead to another run', async () => {
      const mine = (await readLeases(storage, o.table ?? 'tickets')).filter((l) => l.record.holder.pid === pid);
      return mine.length > 0 && mine.every((l) => !l.live);
    }, 60_000, 100);
  } catch (err) {
    kill();
    throw err;
  }
  return {
    pid,
    kill,
    resume: () => {
      process.kill(pid, 'SIGCONT');
      return done;
    },
  };
}
