/**
 * The Containerfile and the Kubernetes example, tested the ways this machine allows (issue 14): there is
 * no registry (so no node:20 base image to pull), no Kubernetes, and `podman run` fails here (crun cannot
 * set RLIMIT_NOFILE). So:
 *  - the Containerfile's COPY sources exist in the context scripts/container-context.sh makes, and its
 *    entry point, run there with the Containerfile's environment, is the CLI (production packages only);
 *  - with podman (needed: the test fails without it, naming it), the image is built FROM a stand-in base made of this machine's Node 20,
 *    its configuration is checked, and its entry point runs inside the image's own file system (mounted,
 *    chrooted, as uid 1000, with the image's environment and working folder);
 *  - the Indexed Job's shell lines run with this machine's sh: each index exports its window, a bad
 *    setting exits 2, and the podFailurePolicy names the CLI's exit codes.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/context.js';
import type { MockZendesk } from '../../src/mock/server.js';
import { VERSION } from '../../src/version.js';
import { lakeVersions, ROOT, startMock, tempDir } from '../helpers.js';
import { checkExactlyOnce, readLog } from '../support/lake-oracle.js';

interface Instruction {
  op: string;
  args: string;
}

/** The Containerfile's instructions (continuation lines joined, comments dropped). */
function instructions(text: string): Instruction[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  return lines.map((l) => {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`not an instruction: ${l}`);
    return { op: m[1]!.toUpperCase(), args: m[2]! };
  });
}

const CONTAINERFILE = join(ROOT, 'Containerfile');
let steps: Instruction[];
let context: string;

/** What a process gets in the image: the Containerfile's ENV (plus a PATH to find node here). */
function imageEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const s of steps.filter((x) => x.op === 'ENV')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(s.args);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

function entrypoint(): string[] {
  const e = steps.find((s) => s.op === 'ENTRYPOINT');
  if (!e) throw new Error('the Containerfile has no ENTRYPOINT');
  return JSON.parse(e.args) as string[];
}

beforeAll(async () => {
  steps = instructions(await readFile(CONTAINERFILE, 'utf8'));
  context = join(ROOT, '.tmp', `container-test-${process.pid}`);
  execFileSync('bash', [join(ROOT, 'scripts/container-context.sh'), context], { stdio: ['ignore', 'ignore', 'inherit'] });
}, 300_000);

afterAll(() => {
  if (context) spawnSync('rm', ['-rf', context]);
});

/** NDJSON lines of `export tickets --out -` against the stand-in, run by `run`. */
async function exportLines(mock: MockZendesk, run: (args: string[], env: NodeJS.ProcessEnv) => Promise<{ status: number | null; stdout: string; stderr: string }>): Promise<void> {
  const env = { ZENDESK_BASE_URL: mock.url, ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
  const r = await run(['export', 'tickets', '--rate-limit', '0', '--out', '-', '--quiet'], env);
  expect(r.status, r.stderr).toBe(0);
  const ids = r.stdout.split('\n').filter(Boolean).map((l) => `${(JSON.parse(l) as { id: number }).id}:${(JSON.parse(l) as { generated_timestamp: number }).generated_timestamp}`);
  expect(checkExactlyOnce(ids, mock.expectedTickets())).toEqual({ missing: [], duplicates: [], unknown: [] });
}

/** A child process, awaited without blocking: the stand-in in this process must go on answering. */
function runAsync(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('the Containerfile', () => {
  it('is a non-root, copy-only image of dist on a node:20 base, whose COPY sources all exist in the context', () => {
    const from = steps.filter((s) => s.op === 'FROM');
    expect(from).toHaveLength(1);
    const arg = steps.find((s) => s.op === 'ARG' && s.args.startsWith('BASE='));
    expect(from[0]!.args).toBe('${BASE}');
    expect(arg?.args).toMatch(/^BASE=docker\.io\/library\/node:20(-[a-z]+)*$/);
    // No RUN: it builds where containers cannot run, from files only.
    expect(steps.filter((s) => s.op === 'RUN')).toEqual([]);
    const user = steps.filter((s) => s.op === 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^\d+:\d+$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(steps.find((s) => s.op === 'WORKDIR')?.args).toBe('/app');
    expect(entrypoint()).toEqual(['node', 'dist/src/cli/main.js']);
    const copies = steps.filter((s) => s.op === 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) expect(existsSync(join(context, source)), `COPY source ${source}`).toBe(true);
    }
    expect(existsSync(join(context, 'dist/src/cli/main.js'))).toBe(true);
    // Production packages only: no test or build tooling in the image.
    for (const dev of ['vitest', 'typescript', 'chdb', 'eslint', '@duckdb']) expect(existsSync(join(context, 'node_modules', dev)), dev).toBe(false);
    for (const dep of ['bottleneck', 'bullmq', 'ioredis', 'undici', 'parquetjs-lite']) expect(existsSync(join(context, 'node_modules', dep)), dep).toBe(true);
  });

  it('its entry point, run in the context with the image\'s environment, is the CLI: --version, and an export with production packages only', async () => {
    const [cmd, ...args] = entrypoint();
    const version = spawnSync(cmd!, [...args, '--version'], { cwd: context, env: imageEnv(), encoding: 'utf8' });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toBe(`${VERSION}\n`);
    const mock = await startMock({ tickets: 400 });
    await exportLines(mock, (a, env) => runAsync(cmd!, [...args, ...a], { cwd: context, env: { ...imageEnv(), ...env } }));
  });

  const podman = spawnSync('podman', ['--version']).status === 0 && process.getuid?.() === 0;
  it('builds with podman, and the entry point runs in the image\'s own file system as uid 1000', async () => {
    // Not skipped where podman is missing: this suite is the image's only proof, so it says what it needs.
    expect(podman, 'this test builds the image: it needs podman (Debian package `podman`) and root').toBe(true);
    const tag = `localhost/zendesk-stream-etl:test-${process.pid}`;
    const base = `localhost/zendesk-etl-offline-base:test-${process.pid}`;
    const buildContext = `${context}-build`;
    try {
      execFileSync('bash', [join(ROOT, 'scripts/container-offline-base.sh'), base], { stdio: ['ignore', 'ignore', 'inherit'] });
      execFileSync('bash', [join(ROOT, 'scripts/container-context.sh'), buildContext], { stdio: ['ignore', 'ignore', 'inherit'] });
      execFileSync('podman', ['build', '--quiet', '-f', CONTAINERFILE, '--build-arg', `BASE=${base}`, '-t', tag, buildContext], { stdio: ['ignore', 'ignore', 'inherit'] });
      const config = JSON.parse(execFileSync('podman', ['image', 'inspect', tag, '--format', '{{json .Config}}'], { encoding: 'utf8' })) as { User: string; Entrypoint: string[]; Cmd: string[]; WorkingDir: string; Env: string[] };
      expect(config.User).toBe('1000:1000');
      expect(config.Entrypoint).toEqual(entrypoint());
      expect(config.WorkingDir).toBe('/app');
      expect(config.Env).toContain('NODE_ENV=production');
      const root = execFileSync('podman', ['image', 'mount', tag], { encoding: 'utf8' }).trim();
      try {
        // `podman run` here: "crun: setrlimit RLIMIT_NOFILE: Operation not permitted". Instead: the
        // image's own node, in its file system (chroot), starts the entry point as the image's user,
        // in its working folder, with its environment and nothing else.
        const [cmd, ...args] = config.Entrypoint;
        const inImage = (extra: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> => {
          const imageEnvironment = Object.fromEntries(config.Env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
          const [uid, gid] = config.User.split(':').map(Number);
          const launcher = `const r = require('node:child_process').spawnSync(${JSON.stringify(cmd)}, ${JSON.stringify([...args, ...extra])}, { cwd: ${JSON.stringify(config.WorkingDir)}, uid: ${uid}, gid: ${gid}, env: ${JSON.stringify({ ...imageEnvironment, ...env })}, stdio: 'inherit' }); process.exit(r.status ?? 1);`;
          return runAsync('unshare', [`--root=${root}`, `--wd=${config.WorkingDir}`, '/usr/local/bin/node', '-e', launcher], { env: { PATH: '/usr/bin:/bin' } });
        };
        const version = await inImage(['--version'], {});
        expect(version.status, version.stderr).toBe(0);
        expect(version.stdout).toBe(`${VERSION}\n`);
        const mock = await startMock({ tickets: 300 });
        await exportLines(mock, (a, env) => inImage(a, env));
        // The code belongs to root and is not writable by others: the user that runs cannot change it.
        for (const file of ['app/dist/src/cli/main.js', 'app/node_modules/bullmq/package.json', 'app']) {
          const st = statSync(join(root, file));
          expect(st.uid, file).toBe(0);
          expect(st.mode & 0o002, file).toBe(0);
        }
      } finally {
        spawnSync('podman', ['image', 'unmount', tag]);
      }
    } finally {
      spawnSync('podman', ['rmi', '--force', tag, base], { stdio: 'ignore' });
      spawnSync('rm', ['-rf', buildContext]);
    }
  });
});

describe('the Kubernetes Indexed Job example', () => {
  const YAML = join(ROOT, 'deploy/kubernetes/backfill-indexed-job.yaml');

  /** The container's shell lines (the `args: - |` block). */
  async function jobScript(): Promise<string> {
    const lines = (await readFile(YAML, 'utf8')).split('\n');
    const at = lines.findIndex((l) => /^\s*args:\s*$/.test(l));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^\s*- \|\s*$/);
    const indent = /^(\s*)/.exec(lines[at + 2]!)![1]!.length;
    const block: string[] = [];
    for (const l of lines.slice(at + 2)) {
      if (l.trim() !== '' && /^(\s*)/.exec(l)![1]!.length < indent) break;
      block.push(l.slice(indent));
    }
    return block.join('\n');
  }

  it('its podFailurePolicy uses the CLI\'s exit codes: 2 and 4 fail the Job, 1, 75 and 143 count', async () => {
    const text = await readFile(YAML, 'utf8');
    expect(text).toMatch(/completionMode: Indexed/);
    expect(text).toMatch(/backoffLimit: \d+/);
    expect(text).toMatch(/restartPolicy: Never/);
    expect(text).toMatch(/runAsNonRoot: true/);
    const rule = (action: string): number[] => {
      const m = new RegExp(`- action: ${action}\\s+onExitCodes:[\\s\\S]*?values: \\[([\\d, ]+)\\]`).exec(text);
      expect(m, action).not.toBeNull();
      return m![1]!.split(',').map((v) => Number(v.trim()));
    };
    expect(rule('FailJob')).toEqual([EXIT.USAGE, EXIT.AUTH]);
    expect(rule('Count')).toEqual([EXIT.FAILED, EXIT.BUSY, EXIT.TERMINATED]);
  });

  it('index i exports window i into the table, exactly; a bad setting exits 2 (FailJob)', async () => {
    const script = await jobScript();
    expect(script).toMatch(/^exec node dist\/src\/cli\/main\.js export /m);
    const mock = await startMock({ tickets: 1200 });
    const times = mock.history.map((t) => t.generated_timestamp);
    const first = Math.min(...times);
    const windowSeconds = Math.ceil((Math.max(...times) + 1 - first) / 3);
    const lake = await tempDir();
    const env = (index: number, seconds = windowSeconds): NodeJS.ProcessEnv => ({
      ...imageEnv(),
      JOB_COMPLETION_INDEX: String(index),
      WINDOW_START: String(first),
      WINDOW_SECONDS: String(seconds),
      STREAM: 'tickets',
      LAKE: lake,
      ZENDESK_BASE_URL: mock.url,
      ZENDESK_EMAIL: mock.credentials.email,
      ZENDESK_API_TOKEN: mock.credentials.apiToken,
    });
    // The image's working folder is the context; its sh is Debian's, as on this machine.
    const one = await runAsync('/bin/sh', ['-c', script], { cwd: context, env: env(1) });
    expect(one.status, one.stderr).toBe(0);
    const from = first + windowSeconds;
    const want = mock.history.filter((t) => t.generated_timestamp >= from && t.generated_timestamp < from + windowSeconds);
    const got = await lakeVersions(lake, 'parquet');
    expect(checkExactlyOnce(got, want)).toEqual({ missing: [], duplicates: [], unknown: [] });
    const commits = (await readLog(lake)).commits.map((c) => (c.zendeskEtl as { window?: unknown } | undefined)?.window);
    expect(commits).toContainEqual({ start: from, end: from + windowSeconds });

    for (const index of [0, 2]) {
      const r = await runAsync('/bin/sh', ['-c', script], { cwd: context, env: env(index) });
      expect(r.status, r.stderr).toBe(0);
    }
    expect(checkExactlyOnce(await lakeVersions(lake, 'parquet'), mock.expectedTickets())).toEqual({ missing: [], duplicates: [], unknown: [] });

    const bad = await runAsync('/bin/sh', ['-c', script], { cwd: context, env: env(0, 0) });
    expect(bad.status).toBe(EXIT.USAGE);
    expect(bad.stderr).toMatch(/--end-time must be later than --start-time/);
  });
});
