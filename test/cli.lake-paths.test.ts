import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, mockEnv, runCli, startMock, tempDir } from './helpers.js';

describe('commands that read a lake or an archive', () => {
  it('exit 2 and create nothing where there is none; take a table folder for its lake; say which tables a lake holds', async () => {
    const mock = await startMock({ tickets: 300 });
    const dir = await tempDir();
    const lake = join(dir, 'lake');
    const exported = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', lake, '--include', 'users', '--quiet'], mockEnv(mock));
    expect(exported.code, exported.stderr).toBe(0);
    const before = await listFiles(dir);

    // Nothing there: exit 2, a message that says so, and no folder made.
    for (const args of [['vacuum', join(dir, 'nolake')], ['state', 'show', join(dir, 'nolake')], ['compact', join(dir, 'nolake')], ['state', 'reset', join(dir, 'nolake'), '--yes']]) {
      const run = await runCli(args, {});
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(/no lake at .*nolake: nothing is there/);
    }
    // A folder that is there but holds no table is no lake either.
    await mkdir(join(dir, 'empty'));
    const empty = await runCli(['vacuum', join(dir, 'empty')], {});
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no lake at .*empty: it holds no table/);

    // A table the lake lacks: the message names those it holds.
    const missing = await runCli(['compact', lake, '--table', 'organizations'], {});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/holds no table organizations; it holds the tables tickets, tickets__users/);

    // state show lists every table of the lake.
    const all = await runCli(['state', 'show', lake], {});
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/holds the tables tickets, tickets__users/);
    expect(all.stdout).toMatch(/table .*\/lake\/tickets\n {2}version 0; \d+ files, 300 rows/);
    expect(all.stdout).toMatch(/table .*\/lake\/tickets__users\n {2}version 0/);
    const json = (await runCli(['state', 'show', lake, '--json'], {})).stdout.trim().split('\n').map((l) => JSON.parse(l) as { table: string });
    expect(json.map((s) => s.table.slice(lake.length + 1))).toEqual(['tickets', 'tickets__users']);

    // A table's folder where the lake is meant: that table of its lake, and a note saying so.
    const table = await runCli(['state', 'show', join(lake, 'tickets')], {});
    expect(table.code, table.stderr).toBe(0);
    expect(table.stderr).toMatch(/is the table tickets; using its lake .*\/lake$/m);
    expect(table.stdout).toMatch(/^table .*\/lake\/tickets\n {2}version 0; \d+ files, 300 rows/);

    // Replay: no archive, or a lake given as one, exits 2 before the output lake is made.
    const none = await runCli(['replay', join(dir, 'nonexistent'), '--out', join(dir, 'L1')], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no raw archive at .*nonexistent: there is no such folder/);
    const ofLake = await runCli(['replay', lake, '--out', join(dir, 'L2')], {});
    expect(ofLake.code).toBe(2);
    expect(ofLake.stderr).toMatch(/no raw archive at .*lake: it is a lake \(tables tickets, tickets__users\), not an archive of pages/);

    for (const made of ['nolake', 'L1', 'L2']) expect(existsSync(join(dir, made)), made).toBe(false);
    expect(await listFiles(dir)).toEqual(before);
  });
});
