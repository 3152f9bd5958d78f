/**
 * The fenced code blocks of the documentation (README.md, then docs/*.md), which test/readme.test.ts
 * and scripts/consumer-check.sh run: every `ts example:NAME` block, every `sql` block and every
 * `duckdb -c "..."` line of an `sh` block.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface DocBlock {
  /** The file, relative to the repository (`README.md`, `docs/library.md`). */
  file: string;
  /** The info string after the opening fence (`ts example:export`, `sql`, `sh`). */
  info: string;
  code: string;
}

export interface DocExample {
  /** What follows `example:` in the info string; unique across the documentation. */
  name: string;
  file: string;
  code: string;
}

/** README.md, then every Markdown file of docs/ by name. */
export async function docFiles(root: string): Promise<string[]> {
  let docs: string[] = [];
  try {
    docs = (await readdir(join(root, 'docs'))).filter((f) => f.endsWith('.md')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

export async function docBlocks(root: string): Promise<DocBlock[]> {
  const blocks: DocBlock[] = [];
  for (const file of await docFiles(root)) {
    const text = await readFile(join(root, file), 'utf8');
    for (const m of text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```/gm)) blocks.push({ file, info: m[1]!.trim(), code: m[2]! });
  }
  return blocks;
}

/**
 * The `ts example:*` blocks in the order they run: the export first (the examples that read or write
 * a lake then share its lake), DuckDB's reader of that lake last.
 */
export function docExamples(blocks: readonly DocBlock[]): DocExample[] {
  const order = (name: string): number => (name === 'export' ? 0 : name === 'duckdb' ? 2 : 1);
  const examples = blocks.filter((b) => b.info.startsWith('ts example:')).map((b) => ({ name: b.info.slice('ts example:'.length).trim(), file: b.file, code: b.code }));
  const seen = new Map<string, string>();
  for (const ex of examples) {
    const other = seen.get(ex.name);
    if (other !== undefined) throw new Error(`two examples are named ${ex.name}: in ${other} and in ${ex.file}`);
    seen.set(ex.name, ex.file);
  }
  return examples.sort((a, b) => order(a.name) - order(b.name));
}

/** The DuckDB queries of the documentation: `sql` blocks and `duckdb -c "..."` in `sh` blocks. */
export function docQueries(blocks: readonly DocBlock[]): { sql: string[]; shell: string[] } {
  return {
    sql: blocks.filter((b) => b.info === 'sql').map((b) => b.code),
    shell: blocks.filter((b) => b.info === 'sh').flatMap((b) => [...b.code.matchAll(/duckdb -c "([^"]+)"/g)].map((m) => m[1]!)),
  };
}
