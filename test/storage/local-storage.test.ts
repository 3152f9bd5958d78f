import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { storageError } from '../../src/storage/local-storage.js';
import { mockEnv, runCli, startMock } from '../helpers.js';

function errno(code: string, message: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, mkdir '${path}'`), { code, path, syscall: 'mkdir' });
}

describe('an output folder that cannot be written', () => {
  it('--out under /proc exits 2 at once, naming the problem, instead of spinning in a recursive mkdir', async () => {
    const mock = await startMock({ tickets: 50 });
    const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', '/proc/zde-no-such/lake'], mockEnv(mock));
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/--out \/proc\/zde-no-such\/lake cannot be written: not permitted: \/proc takes no new folder/);
    expect(run.stderr).not.toMatch(/run the same command again|ENOENT: no such file or directory, mkdir/);
  });

  it('read-only, permission denied and not permitted are settings (exit 2) that say so; a full disk stays a write failure', () => {
    const cases: [string, string, RegExp][] = [
      ['EROFS', 'read-only file system', /^out \/lake cannot be written: the file system is read-only \(EROFS\)/],
      ['EACCES', 'permission denied', /^out \/lake cannot be written: permission denied \(this user may not write there\) \(EACCES at \/lake\/tickets\)/],
      ['EPERM', 'operation not permitted', /^out \/lake cannot be written: the operation is not permitted \(EPERM at \/lake\/tickets\)/],
    ];
    for (const [code, text, message] of cases) {
      const e = storageError('/lake', errno(code, text, code === 'EROFS' ? '/lake' : '/lake/tickets'));
      expect({ code: e.code, kind: e.kind, option: e.option }).toEqual({ code: ErrorCodes.INVALID_OPTION, kind: 'config', option: 'out' });
      expect(e.message).toMatch(message);
    }
    const full = storageError('/lake', errno('ENOSPC', 'no space left on device', '/lake/x'));
    expect({ code: full.code, kind: full.kind }).toEqual({ code: ErrorCodes.SINK_WRITE, kind: 'fatal' });
    expect(full.message).toMatch(/the disk is full/);
  });
});
