import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { duck, mockEnv, ROOT, runCli, startMock, tempDir } from './helpers.js';

const run = promisify(execFile);

/** The fenced blocks of the README with their info strings. */
async function blocks(): Promise<{ info: string; code: string }[]> {
  const text = await readFile(join(ROOT, 'README.md'), 'utf8');
  return [...text.matchAll(/```([^\n]*)\n([\s\S]*?)```/g)].map((m) => ({ info: m[1]!.trim(), code: m[2]! }));
}

describe('README examples run', () => {
  it('every `ts example:*` block runs against the stand-in (importing the package by its name)', async () => {
    // The export first: the examples that read or write a lake then share its lake.
    const order = (info: string): number => (info === 'ts example:export' ? 0 : info === 'ts example:duckdb' ? 2 : 1);
    const examples = (await blocks()).filter((b) => b.info.startsWith('ts example:')).sort((a, b) => order(a.info) - order(b.info));
    expect(examples.map((e) => e.info).sort()).toEqual(['ts example:compose', 'ts example:custom-sink', 'ts example:duckdb', 'ts example:export', 'ts example:table']);
    const mock = await startMock({ tickets: 900 });
    const dir = join(ROOT, '.tmp', `readme-${process.pid}`);
    await mkdir(dir, { recursive: true });
    const lake = await tempDir();
    try {
      for (const ex of examples) {
        const file = join(dir, `${ex.info.split(':')[1]}.mts`);
        await writeFile(file, ex.code);
        const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
          cwd: ROOT,
          env: { ...mockEnv(mock), ZENDESK_BASE_URL: mock.url, RATE_LIMIT: '0', LAKE_DIR: lake },
        });
        if (ex.info === 'ts example:export') expect(stdout.trim()).toBe('true 900');
        if (ex.info === 'ts example:custom-sink') expect(stdout.trim()).toBe('rows: 900');
        if (ex.info === 'ts example:table') expect(stdout.trim()).toMatch(/^committed 0 rows, table version \d+$/); // the export had it all
        if (ex.info === 'ts example:duckdb') expect(stdout.trim()).toBe('tickets: 900');
        if (ex.info === 'ts example:compose') {
          const solved = mock.expectedTickets().filter((t) => mock.ticketJson(t.id).status === 'solved').length;
          expect(stdout.trim()).toBe(`solved tickets: ${solved}`);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the DuckDB queries in the README run on a lake the CLI wrote', async () => {
    const mock = await startMock({ tickets: 600 });
    const out = await tempDir();
    const cli = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--partition-by', 'updated_at:month'], mockEnv(mock));
    expect(cli.code, cli.stderr).toBe(0);
    const all = await blocks();
    const sql = all.filter((b) => b.info === 'sql').map((b) => b.code);
    const shellQueries = all
      .filter((b) => b.info === 'sh')
      .flatMap((b) => [...b.code.matchAll(/duckdb -c "([^"]+)"/g)].map((m) => m[1]!));
    expect(sql.length + shellQueries.length).toBeGreaterThanOrEqual(2);
    for (const q of [...sql, ...shellQueries]) {
      const rows = await duck(q.replaceAll("'lake/", `'${out}/`).replace(/;\s*$/, ''));
      expect(rows.length).toBeGreaterThan(0);
    }
    const latest = await duck(sql[0]!.replaceAll("'lake/", `'${out}/`).replace(/;\s*$/, ''));
    expect(latest.length).toBe(600);
  });
});
