import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { onTestFinished } from 'vitest';
import { Credentials } from '../src/auth.js';
import { main } from '../src/cli/main.js';
import { MockZendesk, type MockZendeskOptions } from '../src/mock/server.js';
import { listFiles } from './support/files.js';

export { listFiles };

export const ROOT = new URL('..', import.meta.url).pathname;
export const CLI = join(ROOT, 'dist/src/cli/main.js');

/** A stand-in on loopback, closed when the test finishes. */
export async function startMock(opts: MockZendeskOptions = {}): Promise<MockZendesk> {
  const mock = new MockZendesk(opts);
  await mock.start();
  onTestFinished(() => mock.close());
  return mock;
}

export function tokenCredentials(mock: MockZendesk): Credentials {
  return Credentials.apiToken(mock.credentials.email, mock.credentials.apiToken);
}

export function mockEnv(mock: MockZendesk, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken, ...extra };
}

/** A temporary folder, removed when the test finishes. */
export async function tempDir(prefix = 'zde-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

class StringSink extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in this process (fast), with its own stdout/stderr and environment. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<CliRun> {
  const stdout = new StringSink();
  const stderr = new StringSink();
  const code = await main(args, { stdout, stderr, env, signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Run the built CLI as a real process. */
/**
 * SIGKILL `child` once the stand-in has answered `target` export requests: a random instant of a run,
 * tied to its progress rather than to a clock. Returns a function that stops watching.
 */
export function killAtRequest(child: ReturnType<typeof spawn>, mock: MockZendesk, target: number): () => void {
  const timer = setInterval(() => {
    if (mock.exportRequests >= target) {
      child.kill('SIGKILL');
      clearInterval(timer);
    }
  }, 2);
  return () => clearInterval(timer);
}

/**
 * Run the CLI as a real process: the built one by default, or `opts.cli` (such as the source through
 * tsx), from `opts.cwd`. `env` is the child's whole environment.
 */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, opts: { onStderr?: (text: string, child: ReturnType<typeof spawn>) => void; cli?: string[]; cwd?: string } = {}): { child: ReturnType<typeof spawn>; done: Promise<CliRun & { signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [...(opts.cli ?? [CLI]), ...args], { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    opts.onStderr?.(stderr, child);
  });
  const done = new Promise<CliRun & { signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
  return { child, done };
}

let instance: Promise<DuckDBConnection> | undefined;

/** Query with DuckDB, an independent reader. Values come back as JSON-friendly objects. */
export async function duck(sql: string): Promise<Record<string, unknown>[]> {
  instance ??= DuckDBInstance.create(':memory:').then((db) => db.connect());
  const c = await instance;
  const reader = await c.runAndReadAll(sql);
  return reader.getRowObjectsJson() as Record<string, unknown>[];
}

export function parquetGlob(out: string, table = 'tickets'): string {
  return `read_parquet('${out}/${table}/**/part-*.parquet', hive_partitioning=true, union_by_name=true)`;
}

export function ndjsonGlob(out: string, table = 'tickets', ext = 'ndjson'): string {
  return `read_json('${out}/${table}/**/*.${ext}', format='newline_delimited', union_by_name=true, maximum_object_size=134217728, sample_size=-1)`;
}

/** Every (id, generated_timestamp) in a lake, as "id:gts" strings. */
export async function lakeVersions(out: string, format: 'parquet' | 'ndjson'): Promise<string[]> {
  const files = await listFiles(join(out, 'tickets'));
  if (files.length === 0) return [];
  const src = format === 'parquet' ? parquetGlob(out) : ndjsonGlob(out);
  const rows = await duck(`SELECT id::BIGINT AS id, generated_timestamp::BIGINT AS g FROM ${src}`);
  return rows.map((r) => `${String(r.id)}:${String(r.g)}`);
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

export async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** The data files below a table's folder (not its log, leases or anything else beginning with `_`). */
export async function dataFiles(dir: string): Promise<string[]> {
  return (await listFiles(dir)).filter((f) => !f.slice(dir.length).split('/').some((part) => part.startsWith('_')));
}

/** Every (id, version) of a stream's table as a Delta reader (chDB's delta-kernel) sees it. */
export async function deltaVersions(out: string, table = 'tickets', version = 'generated_timestamp'): Promise<string[]> {
  const { chdbQuery, deltaLocal } = await import('./support/chdb.js');
  const rows = await chdbQuery(`SELECT toString(id) AS id, toString(${version}) AS v FROM ${deltaLocal(resolvePath(join(out, table)))}`);
  return rows.map((r) => `${String(r.id)}:${String(r.v)}`);
}

/** The arguments of an export from the stand-in into a lake, in small pages and files (the scenario suites). */
export function exportArgs(mock: MockZendesk, out: string, format: string, mode: string): string[] {
  return ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, '--format', format, '--pagination', mode, '--per-page', '200', '--max-rows-per-file', '600', '--log-level', 'warn'];
}
