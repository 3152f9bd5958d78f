/**
 * Used by the vitest globalSetup files of test/s3 and test/redis: fetch + start a real server with
 * scripts/services/<name>.sh before the tests, stop it (by pid file, inside the script) after them.
 *
 * A server that was already running before the run (say a developer started it by hand) is reused and
 * left running; so is every server when ZDE_SERVICES_KEEP=1.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type ServiceName = 'rgw' | 'redis';

function runScript(name: ServiceName, command: string, quiet = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [`scripts/services/${name}.sh`, command], {
      cwd: REPO_ROOT,
      // The daemons' own output goes to log files in the run folder; only the script's progress shows.
      stdio: ['ignore', quiet ? 'ignore' : 'inherit', quiet ? 'ignore' : 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function runOrThrow(name: ServiceName, command: string): Promise<void> {
  const code = await runScript(name, command);
  if (code !== 0) throw new Error(`scripts/services/${name}.sh ${command} failed with exit code ${code}`);
}

/** Fetches and starts the server; resolves to the teardown that stops it. */
export async function startService(name: ServiceName): Promise<() => Promise<void>> {
  const wasRunning = (await runScript(name, 'status', true)) === 0;
  await runOrThrow(name, 'fetch');
  await runOrThrow(name, 'start');
  return async () => {
    if (wasRunning || process.env.ZDE_SERVICES_KEEP === '1') {
      console.log(`[${name}] left running (${wasRunning ? 'it was running before the tests' : 'ZDE_SERVICES_KEEP=1'})`);
      return;
    }
    await runOrThrow(name, 'stop');
  };
}
