/**
 * An independent reader for tests: chDB (ClickHouse embedded, with delta-kernel-rs) reads what our
 * writers produced, Delta Lake tables on local disk or on S3 included.
 *
 * Each query runs in a child Node process whose working folder is `/`: chDB reads local files only under
 * its working folder and delta-kernel wants absolute paths, and the test process must not chdir.
 * The SQL goes to the child through a file and the result comes back through a file, so neither the
 * argument-length limit nor a pipe buffer bounds the size of a query or of its result.
 *
 * 64-bit integers: chDB's default for output_format_json_quote_64bit_integers is 0, and JSON.parse
 * would round Int64/UInt64 values beyond 2^53 silently. chdbQuery sets it to 1, so (U)Int64, (U)Int128
 * and (U)Int256 come back as decimal strings, exact; Int32 and smaller stay numbers. Decimals come back
 * as JSON numbers unless you pass `{ settings: { output_format_json_quote_decimals: 1 } }`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { chdbPackage } from './chdb-install.js';

export type ChdbRow = Record<string, unknown>;

export interface ChdbQueryOptions {
  /** ClickHouse settings applied with SET before the query (they override the defaults below). */
  settings?: Record<string, string | number | boolean>;
  /** Kill the child and reject after this many milliseconds (default 120 000). */
  timeoutMs?: number;
}

const DEFAULT_SETTINGS: Record<string, string | number | boolean> = {
  output_format_json_quote_64bit_integers: 1,
};

/** chDB's entry: from the cache folder the global setup installs it into (see chdb-install.ts). */
function chdbEntry(): string {
  const dir = chdbPackage();
  if (!dir) throw new Error(`chDB is not installed: the tests' global setup installs it (or run: npx tsx -e "import('./test/support/chdb-install.ts').then((m) => m.installChdb())")`);
  return createRequire(join(dir, 'package.json')).resolve('chdb');
}

// CommonJS, run with `node -e`: reads the SQL, runs it, writes JSONEachRow or an error message.
const CHILD_SOURCE = `
const fs = require('node:fs');
const [entry, sqlFile, outFile, errFile] = process.argv.slice(1);
let result;
try {
  const { query } = require(entry);
  result = query(fs.readFileSync(sqlFile, 'utf8'), 'JSONEachRow');
} catch (e) {
  fs.writeFileSync(errFile, e && e.message ? String(e.message) : String(e));
  process.exit(3);
}
fs.writeFileSync(outFile, result ?? '');
`;

function settingValue(value: string | number | boolean): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  return sqlString(value);
}

function settingName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a ClickHouse setting name: ${name}`);
  return name;
}

/**
 * Runs one SQL statement in chDB and returns its rows (JSONEachRow, parsed). Do not add a FORMAT clause.
 * Rejects with chDB's own message when the query fails.
 */
export async function chdbQuery(sql: string, options: ChdbQueryOptions = {}): Promise<ChdbRow[]> {
  const settings = { ...DEFAULT_SETTINGS, ...options.settings };
  const prelude = Object.entries(settings)
    .map(([name, value]) => `SET ${settingName(name)} = ${settingValue(value)};\n`)
    .join('');
  const dir = await mkdtemp(join(tmpdir(), 'zde-chdb-'));
  const sqlFile = join(dir, 'query.sql');
  const outFile = join(dir, 'result.jsonl');
  const errFile = join(dir, 'error.txt');
  try {
    await writeFile(sqlFile, prelude + sql);
    await runChild([chdbEntry(), sqlFile, outFile, errFile], errFile, options.timeoutMs ?? 120_000);
    const text = await readFile(outFile, 'utf8');
    const rows: ChdbRow[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      rows.push(JSON.parse(line) as ChdbRow);
    }
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runChild(args: string[], errFile: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD_SOURCE, ...args], {
      cwd: '/',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8_192);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new Error(`chDB query timed out after ${timeoutMs} ms`));
        return;
      }
      if (code === 0) {
        resolve();
        return;
      }
      readFile(errFile, 'utf8').then(
        (message) => reject(new Error(message)),
        () => reject(new Error(`chDB child exited with ${signal ?? `code ${code}`}: ${stderr.trim()}`)),
      );
    });
  });
}

/** A ClickHouse single-quoted string literal. */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `deltaLakeLocal('/abs/path')`: a local Delta table, by absolute path. */
export function deltaLocal(absPath: string): string {
  if (!isAbsolute(absPath)) throw new Error(`deltaLocal needs an absolute path, got ${absPath}`);
  return `deltaLakeLocal(${sqlString(absPath)})`;
}

/**
 * `deltaLake('http://127.0.0.1:PORT/bucket/prefix/table/', 'key', 'secret')`: a Delta table on S3,
 * path-style URL of the table's root (a trailing slash is added when missing).
 */
export function deltaS3(url: string, accessKeyId: string, secretAccessKey: string): string {
  const root = url.endsWith('/') ? url : `${url}/`;
  return `deltaLake(${sqlString(root)}, ${sqlString(accessKeyId)}, ${sqlString(secretAccessKey)})`;
}

/** `s3('http://127.0.0.1:PORT/bucket/key', 'key', 'secret', 'Format')`: one object or a glob on S3. */
export function s3Table(url: string, accessKeyId: string, secretAccessKey: string, format: string): string {
  return `s3(${sqlString(url)}, ${sqlString(accessKeyId)}, ${sqlString(secretAccessKey)}, ${sqlString(format)})`;
}
