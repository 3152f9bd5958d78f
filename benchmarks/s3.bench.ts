/**
 * The same export into a local folder and into S3 (Ceph RGW on loopback), side by side in one run:
 * wall time and peak RSS. Each variant runs in a process of its own, against one stand-in in another
 * process (rate limit off), alternately, so both see the same machine.
 *
 * One variant (prints a `RESULT {json}` line, as the other benchmarks do):
 *   tsx benchmarks/s3.bench.ts --variant local|s3 --url STANDIN --tickets N [--format parquet|ndjson]
 *       [--bucket NAME] [--part-mb 8] [--queue 2]     (s3: AWS_* in the environment, the bucket made beforehand)
 * The comparison (starts the stand-in, and RGW when it is not running, stopping it after):
 *   tsx benchmarks/s3.bench.ts [--tickets 50000] [--repeat 3] [--formats parquet,ndjson] [--part-mb 8] [--queue 2]
 * `benchmarks/run.ts` runs the comparison too, and puts its table in RESULTS.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { credentialsFromEnv } from '../src/auth.js';
import { exportTickets } from '../src/export.js';
import { S3_DEFAULTS } from '../src/storage/s3/client.js';
import { arg, measure, startStandIn, type Result } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const MiB = 1024 * 1024;

/** The test RGW (scripts/services/rgw.sh): its port and its fixed test user (not secrets). */
export function rgwEnv(): { endpoint: string; port: number; accessKeyId: string; secretAccessKey: string } {
  const port = Number(process.env.ZDE_RGW_PORT || 7480);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKeyId: process.env.ZDE_RGW_ACCESS_KEY || 'ZDETESTACCESSKEY',
    secretAccessKey: process.env.ZDE_RGW_SECRET_KEY || 'zde-test-secret-key-not-a-secret',
  };
}

export function awsEnv(): NodeJS.ProcessEnv {
  const rgw = rgwEnv();
  return {
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: rgw.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

// ------------------------------------------------------------------ one variant

async function variant(kind: 'local' | 'local-sdk' | 's3'): Promise<void> {
  const url = arg('url')!;
  const n = arg('tickets') ?? '?';
  const format = (arg('format') ?? 'parquet') as 'parquet' | 'ndjson';
  const credentials = credentialsFromEnv();
  const dir = mkdtempSync(join(tmpdir(), 'zde-s3bench-'));
  const out = kind === 's3' ? `s3://${arg('bucket')}/lake` : join(dir, 'lake');
  if (kind === 'local-sdk') {
    // The local export with the SDK loaded and a client made, as an S3 export has them: what is left of
    // the difference to S3 is the upload's own memory.
    const { S3Client } = await import('@aws-sdk/client-s3');
    await import('@aws-sdk/lib-storage');
    new S3Client({ region: 'us-east-1' }).destroy();
  }
  const partMb = Number(arg('part-mb') ?? S3_DEFAULTS.partSizeBytes / MiB);
  const queue = Number(arg('queue') ?? S3_DEFAULTS.queueSize);
  // The storage reads these when opened (openStorage passes no part size of its own).
  process.env.ZENDESK_ETL_S3_PART_MB = String(partMb);
  process.env.ZENDESK_ETL_S3_QUEUE = String(queue);
  const name = `${kind === 's3' ? `S3 on loopback (${partMb} MiB parts x ${queue})` : kind === 'local' ? 'local folder' : 'local folder, AWS SDK loaded'}, ${format}`;
  try {
    await measure('s3', name, n, async () => {
      const r = await exportTickets({ origin: url, credentials, out, format, rateLimit: 0 });
      if (!r.complete) throw new Error('export incomplete');
      return { tickets: r.stats.tickets, bytes: r.stats.bytes, note: `${r.committed.files} files, ${r.committed.commits} commits` };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ the comparison

/** Whether something answers HTTP on the RGW port. */
export function rgwAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: rgwEnv().port, path: '/', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** RGW for the comparison: the running one, or one started here (stopped by `stop`); undefined when it cannot start. */
export async function ensureRgw(log: (s: string) => void): Promise<{ stop: () => void } | undefined> {
  if (await rgwAnswers()) return { stop: () => undefined };
  log('  RGW is not running: fetching and starting it (scripts/services/rgw.sh)\n');
  for (const step of ['fetch', 'start']) {
    const r = spawnSync('bash', [join(ROOT, 'scripts/services/rgw.sh'), step], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) {
      log(`  RGW could not ${step}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}\n`);
      return undefined;
    }
  }
  return { stop: () => void spawnSync('bash', [join(ROOT, 'scripts/services/rgw.sh'), 'stop'], { cwd: ROOT, stdio: 'ignore' }) };
}


function rgwClient(): S3Client {
  const rgw = rgwEnv();
  return new S3Client({ endpoint: rgw.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } });
}

export async function newBucket(): Promise<string> {
  const client = rgwClient();
  const bucket = `zde-bench-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

/** Empty and delete a bucket: the test RGW keeps everything in memory. */
export async function dropBucket(bucket: string): Promise<void> {
  const client = rgwClient();
  try {
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length === 0) break;
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

function runOne(args: string[], env: NodeJS.ProcessEnv): Result {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'benchmarks', 's3.bench.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`s3.bench.ts ${args.join(' ')} printed no RESULT:\n${out}`);
  return JSON.parse(line.slice(7)) as Result;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export interface S3Comparison {
  format: string;
  local: Result[];
  /** The local export with the AWS SDK loaded (its code is a fixed cost, not the upload's). */
  withSdk: Result[];
  s3: Result[];
  /** Median of the wall time ratios S3/local of runs made one after the other. */
  timeRatio: number;
  /** Median peak RSS, MB. */
  localRssMb: number;
  sdkRssMb: number;
  s3RssMb: number;
  partMb: number;
  queue: number;
  /** The memory the upload parts hold at most: (queue + 1) x part size (the buffers in flight, and the one filling). */
  partsMb: number;
}

/**
 * Run local and S3 alternately `repeat` times per format against one stand-in; RGW must answer.
 * `log` gets one line per run.
 */
export async function compareS3(opts: { tickets: number; repeat: number; formats: readonly ('parquet' | 'ndjson')[]; partMb?: number; queue?: number; log: (s: string) => void }): Promise<S3Comparison[]> {
  const partMb = opts.partMb ?? S3_DEFAULTS.partSizeBytes / MiB;
  const queue = opts.queue ?? S3_DEFAULTS.queueSize;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // the SDK pin is deliberate (see docs/development.md)
  const standIn = await startStandIn(['--tickets', String(opts.tickets)], ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')]);
  const zendesk = { ZENDESK_OAUTH_TOKEN: 'mock-oauth-token-abcdef' };
  const show = (r: Result): void => opts.log(`  ${r.variant.padEnd(48)} ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${Math.round(r.tickets / (r.ms / 1000)).toLocaleString('en-US').padStart(7)} tickets/s  ${Math.round(r.peakRssMb)} MB RSS  (${r.note ?? ''})\n`);
  const out: S3Comparison[] = [];
  try {
    const base = (format: string): string[] => ['--url', standIn.url, '--tickets', String(opts.tickets), '--format', format];
    runOne(['--variant', 'local', ...base('ndjson')], zendesk); // warm the stand-in's cache (not reported)
    for (const format of opts.formats) {
      const local: Result[] = [];
      const withSdk: Result[] = [];
      const s3: Result[] = [];
      for (let i = 0; i < opts.repeat; i++) {
        const l = runOne(['--variant', 'local', ...base(format)], zendesk);
        show(l);
        local.push(l);
        const w = runOne(['--variant', 'local-sdk', ...base(format)], zendesk);
        show(w);
        withSdk.push(w);
        const bucket = await newBucket();
        try {
          const s = runOne(['--variant', 's3', ...base(format), '--bucket', bucket, '--part-mb', String(partMb), '--queue', String(queue)], { ...zendesk, ...awsEnv() });
          show(s);
          s3.push(s);
        } finally {
          await dropBucket(bucket);
        }
      }
      out.push({
        format,
        local,
        withSdk,
        s3,
        // Each S3 run against the local run just before it: the machine's load drifts less within a pair.
        timeRatio: median(s3.map((r, i) => r.ms / local[i]!.ms)),
        localRssMb: median(local.map((r) => r.peakRssMb)),
        sdkRssMb: median(withSdk.map((r) => r.peakRssMb)),
        s3RssMb: median(s3.map((r) => r.peakRssMb)),
        partMb,
        queue,
        partsMb: (queue + 1) * partMb,
      });
    }
  } finally {
    standIn.stop();
  }
  return out;
}

/** The comparison as a Markdown section. */
export function s3Markdown(results: readonly S3Comparison[], tickets: number, repeat: number): string {
  const check = (ok: boolean): string => (ok ? 'met' : '**not met**');
  const rows = results.map((c) => {
    const extra = c.s3RssMb - c.localRssMb;
    return `| ${c.format} | ${(median(c.local.map((r) => r.ms)) / 1000).toFixed(1)} s | ${(median(c.s3.map((r) => r.ms)) / 1000).toFixed(1)} s | ${c.timeRatio.toFixed(2)}x (${check(c.timeRatio <= 1.25)}) | ${Math.round(c.localRssMb)} MB | ${Math.round(c.s3RssMb)} MB | ${extra >= 0 ? '+' : ''}${Math.round(extra)} MB vs ${Math.round(c.partsMb)} MB (${check(extra <= c.partsMb)}) | ${Math.round(c.sdkRssMb)} MB |`;
  });
  return `## S3 (Ceph RGW on loopback) vs a local folder

The same export (${tickets.toLocaleString('en-US')} tickets, rate limit off, the stand-in in another process) into a local folder, into a
local folder with the AWS SDK loaded (its code costs ~25 MB), and into S3, one after the other, ${repeat} times each.
Wall time: the median of the ratios of runs made one after the other; the rest: medians. Part size ${results[0]?.partMb ?? 0} MiB,
${results[0]?.queue ?? 0} parts in flight per file: the parts hold at most (in flight + 1) x part size, in reused buffers. RGW runs on
the same cores as the exporter.

| format | local | S3 | wall time S3/local (goal <= 1.25x) | peak RSS local | peak RSS S3 | S3 - local vs the parts (goal) | local + SDK loaded |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Command: \`npx tsx benchmarks/s3.bench.ts --tickets ${tickets} --repeat ${repeat}\`.
`;
}

// ------------------------------------------------------------------ command line

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const v = arg('variant');
  if (v === 'local' || v === 'local-sdk' || v === 's3') await variant(v);
  else {
    const tickets = Number(arg('tickets') ?? 50_000);
    const repeat = Number(arg('repeat') ?? 3);
    const formats = (arg('formats') ?? 'parquet,ndjson').split(',') as ('parquet' | 'ndjson')[];
    const log = (s: string): void => void process.stderr.write(s);
    const rgw = await ensureRgw(log);
    if (!rgw) {
      log('RGW is not reachable and could not be started: nothing measured\n');
      process.exitCode = 1;
    } else {
      try {
        const results = await compareS3({ tickets, repeat, formats, partMb: arg('part-mb') ? Number(arg('part-mb')) : undefined, queue: arg('queue') ? Number(arg('queue')) : undefined, log });
        process.stdout.write(s3Markdown(results, tickets, repeat));
      } finally {
        rgw.stop();
      }
    }
  }
}
