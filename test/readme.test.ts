import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { duck, mockEnv, ROOT, runCli, startMock, tempDir } from './helpers.js';
import { docBlocks, docExamples, docFiles, docQueries } from './support/doc-blocks.js';

const run = promisify(execFile);

/** The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as dashes. */
function headingSlugs(markdown: string): string[] {
  const outside = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return [...outside.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replaceAll(' ', '-'));
}

describe('the examples of README.md and docs/*.md run', () => {
  it('reads README.md and every file of docs/, and finds the examples and queries in docs/', async () => {
    const files = await docFiles(ROOT);
    expect(files[0]).toBe('README.md');
    expect(files).toContain('docs/library.md');
    expect(files).toContain('docs/lake-schema.md');
    const blocks = await docBlocks(ROOT);
    expect(blocks.filter((b) => b.file === 'docs/library.md' && b.info.startsWith('ts example:')).length).toBeGreaterThan(0);
    expect(blocks.filter((b) => b.file === 'docs/lake-schema.md' && b.info === 'sql').length).toBeGreaterThan(0);
  });

  it('every relative link of README.md and docs/*.md points at a file that exists, and at a heading of it', async () => {
    const files = await docFiles(ROOT);
    let checked = 0;
    for (const file of files) {
      const text = await readFile(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1]!;
        if (/^[a-z]+:/.test(link)) continue; // https:, mailto:
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
        await expect(stat(target), `${file}: ${link}`).resolves.toBeDefined();
        if (anchor !== undefined) expect(headingSlugs(await readFile(target, 'utf8')), `${file}: ${link}`).toContain(anchor);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('every `ts example:*` block runs against the stand-in (importing the package by its name)', async () => {
    const examples = docExamples(await docBlocks(ROOT));
    expect(examples.map((e) => e.name).sort()).toEqual(['compose', 'custom-sink', 'duckdb', 'export', 'table']);
    const mock = await startMock({ tickets: 900 });
    const dir = join(ROOT, '.tmp', `readme-${process.pid}`);
    await mkdir(dir, { recursive: true });
    const lake = await tempDir();
    try {
      for (const ex of examples) {
        const file = join(dir, `${ex.name}.mts`);
        await writeFile(file, ex.code);
        const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
          cwd: ROOT,
          env: { ...mockEnv(mock), ZENDESK_BASE_URL: mock.url, RATE_LIMIT: '0', LAKE_DIR: lake },
        });
        if (ex.name === 'export') expect(stdout.trim()).toBe('true 900');
        if (ex.name === 'custom-sink') expect(stdout.trim()).toBe('rows: 900');
        if (ex.name === 'table') expect(stdout.trim()).toMatch(/^committed 0 rows, table version \d+$/); // the export had it all
        if (ex.name === 'duckdb') expect(stdout.trim()).toBe('tickets: 900');
        if (ex.name === 'compose') {
          const solved = mock.expectedTickets().filter((t) => mock.ticketJson(t.id).status === 'solved').length;
          expect(stdout.trim()).toBe(`solved tickets: ${solved}`);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the DuckDB queries (`sql` blocks, `duckdb -c` lines) run on a lake the CLI wrote', async () => {
    const mock = await startMock({ tickets: 600 });
    const out = await tempDir();
    const cli = await runCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--partition-by', 'updated_at:month'], mockEnv(mock));
    expect(cli.code, cli.stderr).toBe(0);
    const { sql, shell: shellQueries } = docQueries(await docBlocks(ROOT));
    expect(sql.length + shellQueries.length).toBeGreaterThanOrEqual(2);
    for (const q of [...sql, ...shellQueries]) {
      const rows = await duck(q.replaceAll("'lake/", `'${out}/`).replace(/;\s*$/, ''));
      expect(rows.length).toBeGreaterThan(0);
    }
    const latestQuery = sql.find((q) => q.includes('QUALIFY row_number()'));
    expect(latestQuery).toBeDefined();
    const latest = await duck(latestQuery!.replaceAll("'lake/", `'${out}/`).replace(/;\s*$/, ''));
    expect(latest.length).toBe(600);
  });
});
