/**
 * chDB for the tests, outside the project's dependencies. Its package names optional platform
 * packages (darwin, linux-arm64) that the registry here does not serve, so in package.json it
 * would make `npm ci` refuse the lock file. The tests' global setup installs it once into a cache
 * folder (about 550 MB), and test/support/chdb.ts loads it from there.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CHDB_VERSION = '3.4.0';

/** The folder chDB is installed into (`ZDE_SERVICES_CACHE`, as the other test services). */
export function chdbPrefix(): string {
  const cache = process.env.ZDE_SERVICES_CACHE ?? join(homedir() || '/tmp', '.cache', 'zendesk-stream-etl');
  return join(cache, `chdb-${CHDB_VERSION}`);
}

/** The installed package's folder, if it is there. */
export function chdbPackage(): string | undefined {
  const dir = join(chdbPrefix(), 'node_modules', 'chdb');
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version === CHDB_VERSION && existsSync(join(chdbPrefix(), 'node_modules', '@chdb')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Install chDB into the cache folder unless it is there already. */
export function installChdb(): string {
  const found = chdbPackage();
  if (found) return found;
  const prefix = chdbPrefix();
  mkdirSync(prefix, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `chdb@${CHDB_VERSION}`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 15 * 60_000 });
  const dir = chdbPackage();
  if (r.status !== 0 || !dir) throw new Error(`could not install chdb@${CHDB_VERSION} into ${prefix}: ${r.stderr?.slice(-2000) ?? r.error?.message}`);
  return dir;
}
