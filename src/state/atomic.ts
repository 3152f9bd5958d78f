import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

async function fsync(path: string, flags: 'r' | 'r+'): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory, so a rename or a new entry in it survives a crash. */
export function fsyncDir(dir: string): Promise<void> {
  return fsync(dir, 'r');
}

/** fsync a file that was written and closed elsewhere. */
export function fsyncFile(path: string): Promise<void> {
  return fsync(path, 'r+');
}

function errno(code: string, message: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, mkdir '${path}'`), { code, path, syscall: 'mkdir' });
}

/**
 * `mkdir -p`, one level at a time from the deepest folder that exists. Node's recursive mkdir says
 * ENOENT on a read-only file system, and spins forever where a file system makes no folder yet
 * reports none missing (under /proc); here each level's own error comes back, and a folder that
 * cannot be made under one that exists is said to be not permitted.
 */
export async function makeDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    let isDir: boolean;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(p);
      if (dirname(p) === p) break;
      continue;
    }
    if (!isDir) throw errno('ENOTDIR', 'not a directory', p);
    break;
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(p).catch(() => undefined))?.isDirectory()) continue; // made meanwhile
      if (code === 'ENOENT') throw errno('EPERM', `operation not permitted: ${dirname(p)} takes no new folder (its file system answers ENOENT)`, p);
      throw err;
    }
  }
}

/** Write a file so it is either all there or not there: temp file, fsync, rename, fsync the folder. */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await makeDir(dir);
  const tmp = `${path}.${process.pid}.${Date.now().toString(36)}.tmp`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dir);
}
