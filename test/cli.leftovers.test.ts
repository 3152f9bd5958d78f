import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, mockEnv, runCli, spawnCli, startMock, tempDir } from './helpers.js';
import { waitFor } from './support/wait-for.js';

/**
 * Issue 21, items 5 and 6: a run that commits nothing leaves a new lake as it found it (no
 * `_zde/leases/` skeleton, no `_staging/`, no lake folder), and a double SIGINT leaves no staging
 * that later runs never remove.
 */

async function entries(dir: string): Promise<string[] | undefined> {
  return readdir(dir).catch(() => undefined);
}

describe('a run that commits nothing leaves a new lake as it found it', () => {
  it('wrong credentials (4), an HTML server or an unreachable host (1) and a --start-time in the future (2) create no folder', async () => {
    const mock = await startMock({ tickets: 100 });
    const parent = await tempDir();
    const html = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Sign in</body></html>');
    });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    try {
      const htmlUrl = `http://127.0.0.1:${(html.address() as AddressInfo).port}`;
      const cases: [string, string[], Record<string, string>, number][] = [
        ['wrong credentials', ['--base-url', mock.url], { ZENDESK_API_TOKEN: 'wrong' }, 4],
        ['an HTML server', ['--base-url', htmlUrl, '--retries', '0'], {}, 1],
        ['an unreachable host', ['--base-url', 'http://127.0.0.1:1', '--retries', '0'], {}, 1],
        ['a start time in the future', ['--base-url', mock.url, '--start-time', String(Math.floor(Date.now() / 1000) + 3600)], {}, 2],
      ];
      for (const [what, args, env, code] of cases) {
        const out = join(parent, what.replaceAll(' ', '-'), 'lake');
        const run = await runCli(['export', 'tickets', '--rate-limit', '0', '--out', out, ...args], { ...mockEnv(mock), ...env });
        expect(run.code, `${what}: ${run.stderr}`).toBe(code);
        expect(await entries(join(parent, what.replaceAll(' ', '-'))), what).toBeUndefined();
      }
      // An existing lake folder stays, and stays empty.
      const existing = await tempDir();
      const run = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', existing], { ...mockEnv(mock), ZENDESK_API_TOKEN: 'wrong' });
      expect(run.code).toBe(4);
      expect(await entries(existing)).toEqual([]);
    } finally {
      await new Promise<void>((r) => html.close(() => r()));
    }
  });
});

describe('a double SIGINT', () => {
  it('leaves staging that the next run removes', async () => {
    const mock = await startMock({ tickets: 6000 });
    const out = await tempDir();
    const args = ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '600', '--out', out, '--per-page', '100', '--max-rows-per-file', '2000'];
    // A first run commits something, so the table exists; the second is aborted twice mid-file.
    expect((await spawnCli([...args, '--end-time', String(mock.expectedTickets().map((t) => t.generated_timestamp).sort((a, b) => a - b)[1000])], mockEnv(mock)).done).code).toBe(0);
    // The second SIGINT once the first is seen (two sent at once arrive as one).
    let again = false;
    const run = spawnCli(args, mockEnv(mock), {
      onStderr: (text, child) => {
        if (!again && text.includes('press again to abort')) {
          again = true;
          child.kill('SIGINT');
        }
      },
    });
    await waitFor('a staged file of the second run', async () => (await listFiles(join(out, '_staging'))).length > 0);
    run.child.kill('SIGINT');
    const done = await run.done;
    expect(done.stderr).toMatch(/SIGINT again: aborting/);
    expect(done.code).toBe(130);
    expect(await entries(join(out, '_staging', 'tickets'))).not.toEqual([]);
    const next = await spawnCli(args, mockEnv(mock)).done;
    expect(next.code, next.stderr).toBe(0);
    expect(await entries(join(out, '_staging', 'tickets'))).toEqual([]);
  });
});
