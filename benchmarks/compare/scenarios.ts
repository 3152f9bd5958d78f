/**
 * Issue 10 ("exactly once per table"): the scenarios of the issue, run against two builds of the CLI
 * (0.1.0, before the table log, and the current one), with ONE stand-in for both (the current
 * MockZendesk, in this process). What each run leaves is read back by DuckDB (a glob over the data
 * files) and, where the table has a Delta log, by chDB (delta-kernel-rs).
 *
 *   npx tsx benchmarks/compare/scenarios.ts --before /tmp/zde-before/dist/src/cli/main.js \
 *     [--after dist/src/cli/main.js] [--only 1,2,3,4,5,6] [--json results.json]
 *
 * Prints one Markdown table per scenario. Counts: `rows` as read, `distinct` versions (id,
 * generated_timestamp), `dup` versions read more than once, `extra` rows beyond the first of each,
 * `missing` current versions the table lacks, `unknown` versions the stand-in never served.
 * Scenario 4 runs exports as pid 1 of new pid namespaces (`unshare`, as root); without that it skips
 * those cases. Results of a run are in RESULTS.md beside this file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { MockZendesk, type FaultKind, type MockZendeskOptions } from '../../src/mock/server.js';
import { chdbQuery, deltaLocal } from '../../test/support/chdb.js';
import { listFiles } from '../../test/support/files.js';
import { clisOf, flag, type VersionName } from './args.js';

// ---------------------------------------------------------------------------------------------
// Command line


interface Config {
  clis: Record<VersionName, string>;
  only: Set<number>;
  json: string | undefined;
}

function parseArgs(argv: readonly string[]): Config {
  const only = new Set((flag(argv, '--only') ?? '1,2,3,4,5,6').split(',').map(Number));
  return { clis: clisOf(argv), only, json: flag(argv, '--json') };
}

// ---------------------------------------------------------------------------------------------
// Processes

interface RunResult {
  code: number;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
  /** Export requests the stand-in served during the run. */
  requests: number;
}

interface Running {
  child: ChildProcess;
  done: Promise<RunResult>;
}

/** Run a CLI build as a child process; `wrap` puts a command (e.g. unshare) in front of node. */
function start(cli: string, args: readonly string[], env: NodeJS.ProcessEnv, mock?: MockZendesk, wrap: readonly string[] = []): Running {
  const argv = [...wrap, process.execPath, cli, ...args];
  const t0 = performance.now();
  const requests0 = mock?.exportRequests ?? 0;
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  const done = new Promise<RunResult>((resolveRun) => {
    child.on('close', (code, signal) => {
      resolveRun({ code: code ?? -1, signal, stderr, ms: performance.now() - t0, requests: (mock?.exportRequests ?? 0) - requests0 });
    });
  });
  return { child, done };
}

function run(cli: string, args: readonly string[], env: NodeJS.ProcessEnv, mock?: MockZendesk, wrap: readonly string[] = []): Promise<RunResult> {
  return start(cli, args, env, mock, wrap).done;
}

function mockEnv(mock: MockZendesk): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
}

function exportArgs(mock: MockZendesk, out: string, ...more: string[]): string[] {
  return ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out, ...more];
}

/** Lines of a run's log that are the same in every run: rejected values, commits, the summary. */
const ROUTINE = /^(at |context: |progress: |bad value in record|warning: a value did not fit|summary:|committed \(|done:)/;

/** The lines of a run's stderr that say where it started, why it stopped or what it noted, shortened. */
function note(r: RunResult): string {
  const lines = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !ROUTINE.test(l));
  const text = lines.slice(0, 3).join(' / ');
  return text.length > 320 ? `${text.slice(0, 317)}...` : text;
}

/** rows_written of the run's summary line (both versions print one), or '-' when there is none. */
function rowsWritten(r: RunResult): number | string {
  const m = /^summary: (\{.*\})$/m.exec(r.stderr);
  if (!m) return '-';
  const summary = JSON.parse(m[1]!) as { rows_written?: number };
  return summary.rows_written ?? '-';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolve once `cond` holds (polled every 2 ms) or `stop` settles. */
async function until(cond: () => boolean, stop: Promise<unknown>): Promise<void> {
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  while (!cond() && !stopped) await sleep(2);
}

async function startMock(opts: MockZendeskOptions): Promise<MockZendesk> {
  const mock = new MockZendesk(opts);
  await mock.start();
  return mock;
}

const temps: string[] = [];
async function tempDir(tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `zde-cmp-${tag}-`));
  temps.push(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Readers

let duckConnection: Promise<DuckDBConnection> | undefined;

async function duck(sql: string): Promise<Record<string, unknown>[]> {
  duckConnection ??= DuckDBInstance.create(':memory:').then((db) => db.connect());
  const reader = await (await duckConnection).runAndReadAll(sql);
  return reader.getRowObjectsJson() as Record<string, unknown>[];
}

type Version = string; // "id:generated_timestamp"

/** DuckDB over a glob of the table's data files, as a plain glob reader sees the table. */
async function globVersions(out: string, format: 'parquet' | 'ndjson'): Promise<Version[]> {
  const ext = format === 'parquet' ? '.parquet' : '.ndjson';
  if (!(await listFiles(join(out, 'tickets'))).some((f) => f.endsWith(ext))) return [];
  const src =
    format === 'parquet'
      ? `read_parquet('${out}/tickets/**/part-*.parquet', union_by_name=true)`
      : `read_json('${out}/tickets/**/*.ndjson', format='newline_delimited', union_by_name=true, maximum_object_size=134217728, sample_size=-1)`;
  const rows = await duck(`SELECT id::BIGINT AS id, generated_timestamp::BIGINT AS g FROM ${src}`);
  return rows.map((r) => `${String(r.id)}:${String(r.g)}`);
}

/** The data file format a table's Delta log declares (its latest metaData), if it has a log. */
async function logProvider(table: string): Promise<string | undefined> {
  const dir = join(table, '_delta_log');
  if (!existsSync(dir)) return undefined;
  let provider: string | undefined;
  for (const name of (await readdir(dir)).filter((n) => /^\d{20}\.json$/.test(n)).sort()) {
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
      if (line.trim() === '') continue;
      const action = JSON.parse(line) as { metaData?: { format?: { provider?: string } } };
      provider = action.metaData?.format?.provider ?? provider;
    }
  }
  return provider;
}

/**
 * chDB's Delta reader (delta-kernel-rs) over the table's log; undefined when there is no log, or the
 * log is over NDJSON files (kept in Delta's format, but documented as not readable by Delta readers).
 */
async function deltaVersions(out: string): Promise<Version[] | undefined> {
  const table = resolve(join(out, 'tickets'));
  if ((await logProvider(table)) !== 'parquet') return undefined;
  const rows = await chdbQuery(`SELECT toString(id) AS id, toString(generated_timestamp) AS g FROM ${deltaLocal(table)}`);
  return rows.map((r) => `${String(r.id)}:${String(r.g)}`);
}

interface Count {
  reader: string;
  rows: number;
  distinct: number;
  /** Versions read more than once. */
  dup: number;
  /** Rows beyond the first of each version. */
  extra: number;
  /** Expected versions the table lacks. */
  missing: number;
  /** Versions the stand-in never served. */
  unknown: number;
}

type Key = { id: number; generated_timestamp: number };
const keyOf = (k: Key): Version => `${k.id}:${k.generated_timestamp}`;

function count(reader: string, got: readonly Version[], expected: readonly Key[], history: readonly Key[]): Count {
  const seen = new Map<Version, number>();
  for (const v of got) seen.set(v, (seen.get(v) ?? 0) + 1);
  const known = new Set(history.map(keyOf));
  let dup = 0;
  let extra = 0;
  let unknown = 0;
  for (const [v, n] of seen) {
    if (n > 1) {
      dup++;
      extra += n - 1;
    }
    if (!known.has(v)) unknown++;
  }
  const missing = expected.filter((e) => !seen.has(keyOf(e))).length;
  return { reader, rows: got.length, distinct: seen.size, dup, extra, missing, unknown };
}

/** Count what the table holds by each reader that can read it. */
async function countTable(out: string, mock: MockZendesk, opts: { format?: 'parquet' | 'ndjson' | 'both'; scope?: { startTime?: number; endTime?: number } } = {}): Promise<Count[]> {
  const expected = mock.expectedTickets(opts.scope ?? {});
  const history = mock.history;
  const format = opts.format ?? 'parquet';
  const counts: Count[] = [];
  if (format === 'both') {
    const p = await globVersions(out, 'parquet');
    const n = await globVersions(out, 'ndjson');
    counts.push(count('DuckDB glob .parquet', p, expected, history));
    counts.push(count('DuckDB glob .ndjson', n, expected, history));
    counts.push(count('DuckDB both globs', [...p, ...n], expected, history));
  } else {
    counts.push(count(`DuckDB glob .${format}`, await globVersions(out, format), expected, history));
  }
  const delta = await deltaVersions(out);
  if (delta) counts.push(count('chDB Delta', delta, expected, history));
  return counts;
}

/**
 * The table's log against its folder: data files the log holds, how many of them are absent on disk,
 * and data files on disk that the log does not hold (what a glob reader would read too much).
 */
async function logVsDisk(out: string): Promise<{ inLog: number; absent: number; orphans: number } | undefined> {
  const table = join(out, 'tickets');
  const dir = join(table, '_delta_log');
  if (!existsSync(dir)) return undefined;
  const files = new Set<string>();
  for (const name of (await readdir(dir)).filter((n) => /^\d{20}\.json$/.test(n)).sort()) {
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
      if (line.trim() === '') continue;
      const action = JSON.parse(line) as { add?: { path: string }; remove?: { path: string } };
      if (action.add) files.add(decodeURIComponent(action.add.path));
      if (action.remove) files.delete(decodeURIComponent(action.remove.path));
    }
  }
  const onDisk = (await listFiles(table)).map((f) => relative(table, f)).filter((f) => !f.split('/').some((part) => part.startsWith('_')));
  const disk = new Set(onDisk);
  return { inLog: files.size, absent: [...files].filter((f) => !disk.has(f)).length, orphans: onDisk.filter((f) => !files.has(f)).length };
}

/** The generated_timestamp below which `n` of the current versions lie. */
function cutAt(mock: MockZendesk, n: number): number {
  return mock
    .expectedTickets()
    .map((t) => t.generated_timestamp)
    .sort((a, b) => a - b)[n]!;
}

// ---------------------------------------------------------------------------------------------
// Markdown

function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]): string => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

const COUNT_HEADERS = ['reader', 'rows', 'distinct', 'dup versions', 'extra rows', 'missing', 'unknown'];
const countCells = (c: Count): (string | number)[] => [c.reader, c.rows, c.distinct, c.dup, c.extra, c.missing, c.unknown];

interface Section {
  title: string;
  text: string;
  data: unknown;
}

const VERSIONS: readonly VersionName[] = ['before', 'after'];

// ---------------------------------------------------------------------------------------------
// 1. Time-based pagination, resets late in the body of pages that start at a boundary

async function scenario1(cfg: Config): Promise<Section> {
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const faults of [true, false]) {
    for (const format of ['parquet', 'ndjson'] as const) {
      for (const v of VERSIONS) {
        const mock = await startMock({ tickets: 3000, spacing: 0.3 });
        try {
          const out = await tempDir(`s1-${v}`);
          if (faults) mock.injectFaults(...Array.from({ length: 14 }, (_, i): FaultKind => (i % 2 === 1 ? 'reset-late-body' : 'none')));
          const r = await run(cfg.clis[v], exportArgs(mock, out, '--pagination', 'time', '--per-page', '200', '--format', format), mockEnv(mock), mock);
          const resetPages = mock.requests.filter((q) => q.fault === 'reset-late-body');
          const resetStarts = new Set(resetPages.map((q) => Number(q.query.start_time)));
          const counts = await countTable(out, mock, { format });
          // Where the duplicates are: versions read twice whose timestamp is the start_time of a page that was reset.
          const seen = new Map<Version, number>();
          for (const x of await globVersions(out, format)) seen.set(x, (seen.get(x) ?? 0) + 1);
          const dups = [...seen].filter(([, n]) => n > 1).map(([x]) => Number(x.split(':')[1]));
          const atStart = dups.filter((g) => resetStarts.has(g)).length;
          for (const c of counts) rows.push([v, format, r.code, r.requests, resetPages.length, ...countCells(c), c.reader.startsWith('DuckDB') ? atStart : '']);
          data.push({ version: v, format, exit: r.code, requests: r.requests, resets: resetPages.length, counts, dupsAtResetStart: atStart, note: note(r) });
        } finally {
          await mock.close();
        }
      }
    }
  }
  return {
    title: '1. Time-based pagination, 7 resets late in the body of the first 14 pages, then the same without faults as a control (3,000 tickets 0.3 s apart, per_page 200)',
    text: table(['version', 'format', 'exit', 'requests', 'resets served', ...COUNT_HEADERS, 'dup versions at a reset page\'s start_time'], rows),
    data,
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Overlapping windows, then the open-ended command

async function scenario2(cfg: Config): Promise<Section> {
  const runRows: (string | number)[][] = [];
  const countRows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const v of VERSIONS) {
    const mock = await startMock({ tickets: 20_000 });
    try {
      const out = await tempDir(`s2-${v}`);
      const a = cutAt(mock, Math.floor(20_000 / 3));
      const b = cutAt(mock, Math.floor((2 * 20_000) / 3));
      const runs: { label: string; r: RunResult }[] = [];
      for (const [label, extra] of [
        [`--end-time A (${a})`, ['--end-time', String(a)]],
        [`--end-time B (${b})`, ['--end-time', String(b)]],
        ['open-ended', []],
      ] as const) {
        const r = await run(cfg.clis[v], exportArgs(mock, out, ...extra), mockEnv(mock), mock);
        runs.push({ label, r });
        runRows.push([v, label, r.code, r.requests, rowsWritten(r), note(r) || '(nothing on stderr)']);
      }
      const counts = await countTable(out, mock);
      for (const c of counts) countRows.push([v, ...countCells(c)]);
      data.push({ version: v, a, b, runs: runs.map(({ label, r }) => ({ label, exit: r.code, requests: r.requests, rowsWritten: rowsWritten(r), note: note(r) })), counts });
    } finally {
      await mock.close();
    }
  }
  return {
    title: '2. Windows that overlap: --end-time A, --end-time B, then open-ended, into one --out (20,000 tickets, per_page 1000)',
    text: `${table(['version', 'run', 'exit', 'export requests', 'rows written', 'stderr (first lines)'], runRows)}\n\nAfter the three runs:\n\n${table(['version', ...COUNT_HEADERS], countRows)}`,
    data,
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Replay of an archive holding two windows; a one-window archive

async function scenario3(cfg: Config): Promise<Section> {
  const runRows: (string | number)[][] = [];
  const countRows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const v of VERSIONS) {
    const mock = await startMock({ tickets: 20_000 });
    try {
      const a = cutAt(mock, 10_000);
      const out = await tempDir(`s3-${v}-out`);
      const raw = await tempDir(`s3-${v}-raw`);
      const w1 = await run(cfg.clis[v], exportArgs(mock, out, '--raw', raw, '--end-time', String(a)), mockEnv(mock), mock);
      const w2 = await run(cfg.clis[v], exportArgs(mock, out, '--raw', raw, '--start-time', String(a)), mockEnv(mock), mock);
      const fresh = await tempDir(`s3-${v}-fresh`);
      const replay = await run(cfg.clis[v], ['replay', raw, '--out', fresh], mockEnv(mock));
      for (const [label, r] of [[`export --raw R --end-time A (${a})`, w1], ['export --raw R --start-time A', w2], ['replay R --out fresh', replay]] as const) {
        runRows.push([v, label, r.code, note(r) || '(nothing on stderr)']);
      }
      const pages = (await listFiles(raw)).length;
      const counts = await countTable(fresh, mock);
      for (const c of counts) countRows.push([v, 'two windows, replayed', ...countCells(c), '']);

      // One window, replayed: nothing at or past A may appear.
      const one = await tempDir(`s3-${v}-one`);
      const raw1 = await tempDir(`s3-${v}-raw1`);
      const e1 = await run(cfg.clis[v], exportArgs(mock, one, '--raw', raw1, '--end-time', String(a)), mockEnv(mock), mock);
      const fresh1 = await tempDir(`s3-${v}-fresh1`);
      const r1 = await run(cfg.clis[v], ['replay', raw1, '--out', fresh1], mockEnv(mock));
      runRows.push([v, `export --raw R1 --end-time A`, e1.code, note(e1) || '(nothing on stderr)']);
      runRows.push([v, 'replay R1 --out fresh1', r1.code, note(r1) || '(nothing on stderr)']);
      const scope = { endTime: a };
      const counts1 = await countTable(fresh1, mock, { scope });
      const past = (await globVersions(fresh1, 'parquet')).filter((x) => Number(x.split(':')[1]) >= a).length;
      const pastDelta = (await deltaVersions(fresh1))?.filter((x) => Number(x.split(':')[1]) >= a).length;
      for (const c of counts1) countRows.push([v, 'one window [0,A), replayed', ...countCells(c), c.reader.startsWith('chDB') ? (pastDelta ?? '') : past]);
      data.push({ version: v, a, rawFiles: pages, runs: { w1: w1.code, w2: w2.code, replay: replay.code, e1: e1.code, r1: r1.code }, counts, counts1, pastEnd: past, pastEndDelta: pastDelta });
    } finally {
      await mock.close();
    }
  }
  return {
    title: '3. Replay of a raw archive holding two windows [0,A) and [A,...) (20,000 tickets, A at the 10,000th version); a one-window archive',
    text: `${table(['version', 'run', 'exit', 'stderr (first lines)'], runRows)}\n\nWhat the replays hold (missing is counted against all 20,000 current versions for two windows, against the 10,000 below A for one):\n\n${table(['version', 'archive', ...COUNT_HEADERS, 'versions >= A'], countRows)}`,
    data,
  };
}

// ---------------------------------------------------------------------------------------------
// 4. Locks that trust pids

/** A wrapper that runs the export as its child and stops reaping it while told to hold (a busy parent). */
const SLOW_REAPER = `
const { spawn } = require('node:child_process');
const child = spawn(process.execPath, process.argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
process.stdout.write('pid ' + child.pid + '\\n');
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  if (!d.includes('hold')) return;
  process.stdout.write('holding\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); // the killed child stays a zombie meanwhile
});
child.on('close', (code, signal) => { process.stdout.write('exit ' + JSON.stringify({ code, signal }) + '\\n'); process.exit(0); });
`;

interface SlowReaped {
  wrapper: ChildProcess;
  pid: Promise<number>;
  holding: () => Promise<void>;
  done: Promise<void>;
}

function startSlowReaped(cli: string, args: readonly string[], env: NodeJS.ProcessEnv): SlowReaped {
  const wrapper = spawn(process.execPath, ['-e', SLOW_REAPER, cli, ...args], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  wrapper.stdout?.setEncoding('utf8');
  wrapper.stdout?.on('data', (d: string) => {
    text += d;
    for (const w of [...waiters]) {
      const m = w.re.exec(text);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const waitFor = (re: RegExp): Promise<RegExpExecArray> =>
    new Promise((res) => {
      const m = re.exec(text);
      if (m) res(m);
      else waiters.push({ re, resolve: res });
    });
  const done = new Promise<void>((res) => wrapper.on('close', () => res()));
  return {
    wrapper,
    pid: waitFor(/pid (\d+)\n/).then((m) => Number(m[1])),
    holding: async () => {
      wrapper.stdin?.write('hold\n');
      await waitFor(/holding\n/);
    },
    done,
  };
}

/** The outer pid of the process that is pid 1 inside an `unshare --pid --fork` namespace. */
async function nsInitPid(unsharePid: number): Promise<number | undefined> {
  for (let i = 0; i < 500; i++) {
    const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim();
    if (children !== '') return Number(children.split(' ')[0]);
    await sleep(2);
  }
  return undefined;
}

const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc'];

/** Whether this machine lets us run a process as pid 1 of a new pid namespace (root and util-linux). */
function canUnshare(): boolean {
  return spawnSync(UNSHARE[0]!, [...UNSHARE.slice(1), 'true'], { stdio: 'ignore' }).status === 0;
}

async function scenario4(cfg: Config): Promise<Section> {
  const killRows: (string | number)[][] = [];
  const countRows: (string | number)[][] = [];
  const lockRows: (string | number)[][] = [];
  const data: Record<string, unknown> = {};
  const perPage = ['--per-page', '200', '--max-rows-per-file', '600'];

  // 4a/4b: kill -9, then the same command at once: reaped promptly by this process, or by a busy parent.
  for (const variant of ['reaped promptly', 'parent busy 1.5 s (zombie)'] as const) {
    for (const v of VERSIONS) {
      const mock = await startMock({ tickets: 6000 });
      try {
        const out = await tempDir(`s4-${v}`);
        const args = exportArgs(mock, out, ...perPage);
        const resumes: { code: number; note: string }[] = [];
        for (let i = 0; i < 6; i++) {
          if (i > 0) mock.updateTickets(1500);
          const before = mock.exportRequests;
          const want = before + 2 + (i % 3);
          let resume: Running;
          if (variant === 'reaped promptly') {
            const victim = start(cfg.clis[v], args, mockEnv(mock), mock);
            await until(() => mock.exportRequests >= want, victim.done);
            victim.child.kill('SIGKILL');
            resume = start(cfg.clis[v], args, mockEnv(mock), mock);
            await victim.done;
          } else {
            const victim = startSlowReaped(cfg.clis[v], args, mockEnv(mock));
            const pid = await victim.pid;
            await until(() => mock.exportRequests >= want, victim.done);
            await victim.holding();
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
            resume = start(cfg.clis[v], args, mockEnv(mock), mock);
            await victim.done;
          }
          const r = await resume.done;
          resumes.push({ code: r.code, note: note(r) });
        }
        const failed = resumes.filter((r) => r.code !== 0);
        const final = await run(cfg.clis[v], args, mockEnv(mock), mock); // one plain run to finish
        killRows.push([v, variant, `${failed.length} of 6`, failed.map((f) => f.code).join(', ') || '-', [...new Set(failed.map((f) => f.note))].join(' // ') || '-', final.code]);
        const counts = await countTable(out, mock);
        for (const c of counts) countRows.push([v, variant, ...countCells(c)]);
        data[`kill-${variant}-${v}`] = { resumes, final: final.code, counts };
      } finally {
        await mock.close();
      }
    }
  }

  // 4c-4f: leftover locks and same pids (4e-4h need pid namespaces).
  const namespaces = canUnshare();
  if (!namespaces) lockRows.push(['-', 'pid namespaces (unshare --pid --fork --mount-proc) are not available here: the cases with pid 1 are skipped', '', '', '']);
  for (const v of VERSIONS) {
    const mock = await startMock({ tickets: 800 });
    try {
      const env = mockEnv(mock);
      const plantLock = async (out: string, pid: number): Promise<void> => {
        await mkdir(join(out, '_state'), { recursive: true });
        await writeFile(join(out, '_state', 'tickets.json.lock'), String(pid));
      };
      const record = async (label: string, out: string, results: RunResult[], extra = ''): Promise<void> => {
        const counts = await countTable(out, mock);
        const glob = counts[0]!;
        lockRows.push([v, label, results.map((r) => r.code).join(', '), [...new Set(results.map(note))].join(' // ') || '-', `${glob.distinct}/${mock.expectedTickets().length}, dup ${glob.dup}${counts[1] ? `; Delta ${counts[1].distinct}, dup ${counts[1].dup}` : ''}${extra}`]);
        data[`lock-${label}-${v}`] = { exits: results.map((r) => r.code), notes: results.map(note), counts };
      };

      // 4c: a 0.1-style lock holding the pid of a live, unrelated process (this driver).
      let out = await tempDir(`s4c-${v}`);
      await plantLock(out, process.pid);
      await record(`0.1 lock file holding a live unrelated pid (this driver, ${process.pid})`, out, [await run(cfg.clis[v], exportArgs(mock, out), env, mock)]);

      // 4d: a 0.1-style lock holding pid 1 (this machine's init: alive, forever), tried 3 times.
      out = await tempDir(`s4d-${v}`);
      await plantLock(out, 1);
      const tries: RunResult[] = [];
      for (let i = 0; i < 3; i++) tries.push(await run(cfg.clis[v], exportArgs(mock, out), env, mock));
      await record('0.1 lock file holding pid 1, 3 tries', out, tries);

      if (namespaces) {
        // 4e: a "container" (pid namespace, the export is pid 1) killed by kill -9 mid-run; then a new
        // container (pid 1 again, same host and boot) runs the same command, 3 times.
        out = await tempDir(`s4e-${v}`);
        const requests0 = mock.exportRequests;
        const pod = start(cfg.clis[v], exportArgs(mock, out, '--per-page', '100', '--max-rows-per-file', '200'), env, mock, UNSHARE);
        const init = await nsInitPid(pod.child.pid!);
        await until(() => mock.exportRequests >= requests0 + 4, pod.done);
        if (init !== undefined) process.kill(init, 'SIGKILL');
        await pod.done;
        const left = existsSync(join(out, '_state', 'tickets.json.lock')) ? `lock file holds "${(await readFile(join(out, '_state', 'tickets.json.lock'), 'utf8')).trim()}"` : `leases left: ${(await listFiles(join(out, 'tickets', '_zde', 'leases'))).map((f) => `pid ${(JSON.parse(readFileSync(f, 'utf8')) as { holder: { pid: number } }).holder.pid}`).join(', ') || 'none'}`;
        const podTries: RunResult[] = [];
        for (let i = 0; i < 3; i++) podTries.push(await run(cfg.clis[v], exportArgs(mock, out), env, mock, UNSHARE));
        await record('kill -9 of an export that is pid 1 in its pid namespace, then the same command as pid 1 in a new one, 3 tries', out, podTries, `; left by the killed run: ${left}`);

        // 4f: two runs at once, each pid 1 in its own pid namespace (same host name, same boot), 3 rounds.
        for (let round = 1; round <= 3; round++) {
          out = await tempDir(`s4f-${v}`);
          const both = await Promise.all([0, 1].map(() => run(cfg.clis[v], exportArgs(mock, out, '--per-page', '100', '--max-rows-per-file', '200'), env, mock, UNSHARE)));
          await record(`two runs side by side, each pid 1 in its own pid namespace (round ${round})`, out, both);
        }
      }
    } finally {
      await mock.close();
    }
  }

  // 4h: a second run started while the first is k requests in, each pid 1 in its own pid namespace
  // (same host name, same boot: two containers on one host that share its name).
  const staggerRows: (string | number)[][] = [];
  for (const v of namespaces ? VERSIONS : []) {
    const mock = await startMock({ tickets: 6000 });
    try {
      for (const k of [2, 6, 10, 15, 20, 25]) {
        const out = await tempDir(`s4h-${v}`);
        const requests0 = mock.exportRequests;
        const args = exportArgs(mock, out, '--per-page', '100', '--max-rows-per-file', '200');
        const first = start(cfg.clis[v], args, mockEnv(mock), mock, UNSHARE);
        await until(() => mock.exportRequests >= requests0 + k, first.done);
        const second = start(cfg.clis[v], args, mockEnv(mock), mock, UNSHARE);
        const [a, b] = await Promise.all([first.done, second.done]);
        const counts = await countTable(out, mock);
        const files = await logVsDisk(out);
        staggerRows.push([
          v,
          k,
          `${a.code}, ${b.code}`,
          [a, b].filter((r) => r.code !== 0).map((r) => note(r).replace(/^.*?(error)/, '$1')).join(' // ') || '-',
          counts.map((c) => `${c.reader}: ${c.distinct}/${mock.expectedTickets().length}, dup ${c.dup}`).join('; ') + (files ? `; log: ${files.inLog} files, ${files.absent} absent on disk, ${files.orphans} on disk not in log` : ''),
        ]);
        data[`stagger-${k}-${v}`] = { exits: [a.code, b.code], notes: [note(a), note(b)], counts, files };
      }
    } finally {
      await mock.close();
    }
  }

  // 4g (after only): a lease (the current format) left by a process that had the resuming process's pid.
  if (namespaces) {
    const mock = await startMock({ tickets: 800 });
    try {
      const out = await tempDir('s4g-after');
      const leases = join(out, 'tickets', '_zde', 'leases');
      await mkdir(leases, { recursive: true });
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const now = Date.now();
      const lease = { run: '20260101T000000Z-aaaaaa', holder: { host: hostname(), boot, pid: 1, start: '1', nonce: 'x' }, purpose: 'export', window: { start: 0 }, acquiredAt: now, renewedAt: now, ttlMs: 120_000 };
      await writeFile(join(leases, `${lease.run}.json`), JSON.stringify(lease));
      const r = await run(cfg.clis.after, exportArgs(mock, out), mockEnv(mock), mock, UNSHARE);
      const counts = await countTable(out, mock);
      lockRows.push(['after', 'fresh lease (renewed now) by pid 1 of this host and boot, another start; the run is pid 1 in a new namespace', r.code, note(r) || '-', `${counts[0]!.distinct}/${mock.expectedTickets().length}, dup ${counts[0]!.dup}; Delta ${counts[1]?.distinct ?? '-'}, dup ${counts[1]?.dup ?? '-'}`]);
      data['lock-same-pid-lease-after'] = { exit: r.code, note: note(r), counts };
    } finally {
      await mock.close();
    }
  }

  return {
    title: '4. Locks that trust pids',
    text:
      `kill -9 of a running export (6,000 tickets, per_page 200; 1,500 updated before each next try), and the same command started at once, 6 times; then one plain run:\n\n` +
      `${table(['version', 'who reaps the killed process', 'resumes failed', 'their exit codes', 'their message', 'final run exit'], killRows)}\n\n` +
      `${table(['version', 'variant', ...COUNT_HEADERS], countRows)}\n\n` +
      `Leftover locks and pids that repeat (800 tickets; "held" = distinct versions / current versions):\n\n` +
      `${table(['version', 'case', 'exit codes', 'message', 'held; notes'], lockRows)}\n\n` +
      `A second run of the same command started while the first is k export requests in, each pid 1 in its own pid namespace, same host name and boot (6,000 tickets, per_page 100; exit codes first, second):\n\n` +
      `${table(['version', 'k', 'exit codes', 'message of the run that failed', 'held (distinct/current); log vs disk'], staggerRows)}`,
    data,
  };
}

// ---------------------------------------------------------------------------------------------
// 5. Settings not pinned

async function layout(out: string): Promise<string> {
  const dir = join(out, 'tickets');
  const files = (await listFiles(dir)).map((f) => relative(dir, f)).filter((f) => !f.split('/').some((p) => p.startsWith('_')));
  const by = new Map<string, number>();
  for (const f of files) {
    const ext = /(\.ndjson\.gz|\.[a-z]+)$/.exec(f)?.[1] ?? '(none)';
    const hive = f.includes('/') ? f.split('/').slice(0, -1).map((p) => p.replace(/=.*$/, '=*')).join('/') + '/' : '';
    const k = `${hive}*${ext}`;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  return [...by].map(([k, n]) => `${n} ${k}`).join(', ') || '(no files)';
}

async function scenario5(cfg: Config): Promise<Section> {
  const rows: (string | number)[][] = [];
  const countRows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const v of VERSIONS) {
    const mock = await startMock({ tickets: 2000 });
    try {
      const out = await tempDir(`s5-${v}`);
      const steps: [string, string[]][] = [
        ['parquet (default)', []],
        ['--format ndjson (200 tickets updated first)', ['--format', 'ndjson']],
        ['--partition-by updated_at:month (200 more updated first)', ['--partition-by', 'updated_at:month']],
        ['no --format, no --partition-by (200 more updated first)', []],
      ];
      const runs: unknown[] = [];
      for (const [i, [label, extra]] of steps.entries()) {
        if (i > 0) mock.updateTickets(200);
        const r = await run(cfg.clis[v], exportArgs(mock, out, ...extra), mockEnv(mock), mock);
        const files = await layout(out);
        rows.push([v, label, r.code, note(r) || '(nothing on stderr)', files]);
        runs.push({ label, exit: r.code, note: note(r), files });
      }
      const counts = await countTable(out, mock, { format: 'both' });
      for (const c of counts) countRows.push([v, ...countCells(c)]);
      data.push({ version: v, runs, counts });
    } finally {
      await mock.close();
    }
  }
  return {
    title: '5. Settings not pinned: parquet, then --format ndjson, then --partition-by updated_at:month, then neither, into one --out (2,000 tickets)',
    text: `${table(['version', 'run', 'exit', 'stderr (first lines)', 'data files in tickets/ after it'], rows)}\n\nAfter the four runs (missing against the current versions):\n\n${table(['version', ...COUNT_HEADERS], countRows)}`,
    data,
  };
}

// ---------------------------------------------------------------------------------------------
// 6. A mixed run (current version only)

/** A reader polled while runs write: what it saw at worst. */
class Poll {
  reads = 0;
  errors = 0;
  maxExtra = 0;
  /** Times the distinct versions read went down from one read to the next. */
  decreases = 0;
  #last = 0;
  lastError = '';

  async read(versions: () => Promise<Version[]>): Promise<void> {
    let got: Version[];
    try {
      got = await versions();
    } catch (err) {
      this.errors++;
      this.lastError = String((err as Error).message).split('\n')[0]!.slice(0, 160);
      return;
    }
    this.reads++;
    const distinct = new Set(got).size;
    this.maxExtra = Math.max(this.maxExtra, got.length - distinct);
    if (distinct < this.#last) this.decreases++;
    this.#last = distinct;
  }

  describe(): string {
    return `${this.reads} reads: at most ${this.maxExtra} rows read twice in one read; distinct versions went down ${this.decreases} times; ${this.errors} reads failed${this.errors ? ` (${this.lastError})` : ''}`;
  }
}

async function scenario6(cfg: Config): Promise<Section> {
  const cli = cfg.clis.after;
  const mock = await startMock({ tickets: 20_000 });
  const steps: (string | number)[][] = [];
  try {
    const env = mockEnv(mock);
    const out = await tempDir('s6-out');
    const raw = await tempDir('s6-raw');
    const small = ['--per-page', '200', '--max-rows-per-file', '600'];
    const a = cutAt(mock, 7000);
    const b = cutAt(mock, 14_000);
    const step = (label: string, r: RunResult): void => {
      steps.push([label, r.signal ?? r.code, r.requests, rowsWritten(r), note(r) || '-']);
    };
    // Window 1 with a raw archive, killed by kill -9 after 5 requests.
    const killed = start(cli, exportArgs(mock, out, ...small, '--end-time', String(a), '--raw', raw), env, mock);
    await until(() => mock.exportRequests >= 5, killed.done);
    killed.child.kill('SIGKILL');
    step('window [0,A) --raw R, kill -9 after 5 requests', await killed.done);
    // Window 1 resumed and window 2 side by side, with compactions one after another while they run,
    // and both readers polling the table meanwhile.
    const requests0 = mock.exportRequests;
    let writing = true;
    const windows = Promise.all([
      run(cli, exportArgs(mock, out, ...small, '--end-time', String(a), '--raw', raw), env),
      run(cli, exportArgs(mock, out, ...small, '--start-time', String(a), '--end-time', String(b)), env),
    ]).finally(() => {
      writing = false;
    });
    const compactions: RunResult[] = [];
    const compacting = (async () => {
      while (writing) {
        compactions.push(await run(cli, ['compact', out, '--min-files', '2'], env));
        await sleep(200);
      }
    })();
    const polls = { glob: new Poll(), delta: new Poll() };
    const polling = (async () => {
      while (writing) {
        await polls.glob.read(() => globVersions(out, 'parquet'));
        await polls.delta.read(async () => (await deltaVersions(out)) ?? []);
      }
    })();
    const [[w1, w2]] = await Promise.all([windows, compacting, polling]);
    const sideRequests = mock.exportRequests - requests0;
    step(`  side by side: window [0,A) resumed (requests: both windows)`, { ...w1, requests: sideRequests });
    step('  side by side: window [A,B)', { ...w2, requests: 0 });
    const merged = compactions.map((c) => /(\d+) rows rewritten in (\d+) commits/.exec(c.stderr)).map((m) => ({ rows: Number(m?.[1] ?? 0), commits: Number(m?.[2] ?? 0) }));
    steps.push([
      `  side by side: compact --min-files 2, ${compactions.length} times in a row`,
      [...new Set(compactions.map((c) => c.code))].join(', '),
      0,
      '-',
      `${merged.reduce((n, m) => n + m.commits, 0)} compaction commits, ${merged.reduce((n, m) => n + m.rows, 0)} rows rewritten`,
    ]);
    steps.push(['  side by side: chDB Delta polled', '', '', '', polls.delta.describe()]);
    steps.push(['  side by side: DuckDB glob polled', '', '', '', polls.glob.describe()]);
    step('open-ended run', await run(cli, exportArgs(mock, out, ...small), env, mock));
    mock.updateTickets(2000);
    step('(2,000 tickets updated) open-ended run, --pagination time', await run(cli, exportArgs(mock, out, ...small, '--pagination', 'time'), env, mock));
    mock.updateTickets(1000);
    step('(1,000 tickets updated) open-ended run', await run(cli, exportArgs(mock, out, ...small), env, mock));
    step('replay R --out (the same table)', await run(cli, ['replay', raw, '--out', out], env));
    step('compact --min-files 2', await run(cli, ['compact', out, '--min-files', '2'], env));
    const counts = await countTable(out, mock);
    const logVersions = (await readdir(join(out, 'tickets', '_delta_log'))).filter((n) => /^\d{20}\.json$/.test(n)).length;
    const files = await logVsDisk(out);
    return {
      title: '6. A mixed run on the current version (20,000 tickets, 3,000 updates)',
      text: `${table(['step', 'exit', 'export requests', 'rows written', 'stderr (first lines)'], steps)}\n\nThe table after it (${logVersions} log versions; the log holds ${files?.inLog ?? '?'} data files, ${files?.absent ?? '?'} of them absent on disk, ${files?.orphans ?? '?'} files on disk not in the log; missing against the 20,000 current versions; older versions of updated tickets are allowed, once each):\n\n${table(COUNT_HEADERS, counts.map(countCells))}`,
      data: { a, b, steps, counts, logVersions, files },
    };
  } finally {
    await mock.close();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
  const scenarios: [number, (c: Config) => Promise<Section>][] = [
    [1, scenario1],
    [2, scenario2],
    [3, scenario3],
    [4, scenario4],
    [5, scenario5],
    [6, scenario6],
  ];
  const sections: Section[] = [];
  process.stdout.write(`before: ${cfg.clis.before}\nafter:  ${cfg.clis.after}\n\n`);
  try {
    for (const [n, fn] of scenarios) {
      if (!cfg.only.has(n)) continue;
      const t0 = performance.now();
      const s = await fn(cfg);
      sections.push(s);
      process.stdout.write(`### ${s.title}\n\n${s.text}\n\n(${((performance.now() - t0) / 1000).toFixed(0)} s)\n\n`);
    }
  } finally {
    if (cfg.json) await writeFile(cfg.json, JSON.stringify(sections.map(({ title, data }) => ({ title, data })), null, 2));
    for (const d of temps) await rm(d, { recursive: true, force: true });
  }
}

await main();
