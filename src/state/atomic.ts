import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

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

/** Write a file so it is either all there or not there: temp file, fsync, rename, fsync the folder. */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
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
