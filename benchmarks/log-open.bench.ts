/**
 * How long a run takes to open a table whose log has N versions, in a local folder and in S3 (Ceph
 * RGW on loopback): with Delta checkpoints (every 10th version, as the writers make them: read the
 * newest checkpoint and the commits after it), and without (list `_delta_log/` and read every
 * commit). An hourly export adds ~8,760 versions a year, so this is what a long-lived table pays on
 * every run. Each version adds one file, so the table holds N files: a checkpoint's size grows with
 * the files, not with the versions.
 *
 * Usage: npx tsx benchmarks/log-open.bench.ts [--versions 2000] [--s3]
 * (`npm run bench` runs it with the S3 comparison, while RGW is up.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openStorage } from '../src/storage/open-storage.js';
import type { Storage } from '../src/storage/storage.js';
import { writeCheckpoint } from '../src/table/checkpoint.js';
import { PROTOCOL, applyCommit, commitKey, emptySnapshot, newMetaData, type Action } from '../src/table/delta-log.js';
import { TableLog } from '../src/table/table-log.js';
import { arg } from './harness.js';
import { awsEnv, dropBucket, ensureRgw, newBucket } from './s3.bench.js';

/** A log of `n` versions, each a commit of one small file, as an export's commits are; checkpoints every 10th when asked. */
async function fill(storage: Storage, n: number, checkpoints: boolean): Promise<void> {
  const writes: Promise<boolean>[] = [];
  const snapshot = emptySnapshot();
  for (let v = 0; v < n; v++) {
    const actions: Action[] = [
      { commitInfo: { timestamp: 1, operation: 'WRITE', zendeskEtl: { run: 'bench', commit: `c${v}`, stream: 'tickets', segments: [] } } },
      ...(v === 0 ? [{ protocol: PROTOCOL }, { metaData: newMetaData([{ name: 'id', type: 'int64' }], [], {}, 'parquet') }] : []),
      { add: { path: `part-${v}.parquet`, partitionValues: {}, size: 1000, modificationTime: 1, dataChange: true, stats: '{"numRecords":100}' } },
    ];
    writes.push(storage.putIfAbsent(`tickets/${commitKey(v)}`, actions.map((a) => JSON.stringify(a)).join('\n') + '\n'));
    applyCommit(snapshot, v, actions);
    if (writes.length >= 32 || (checkpoints && v > 0 && v % 10 === 0)) await Promise.all(writes.splice(0));
    if (checkpoints && v > 0 && v % 10 === 0) await writeCheckpoint(storage, 'tickets', snapshot);
  }
  await Promise.all(writes);
}

/** The least of 3 opens, in ms. */
async function timeOpen(storage: Storage, versions: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const log = new TableLog(storage, 'tickets');
    await log.refresh();
    if (log.snapshot.version !== versions - 1 || log.snapshot.files.size !== versions) throw new Error(`read ${log.snapshot.version + 1} versions and ${log.snapshot.files.size} files, not ${versions}`);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Open a log of `versions` in a local folder, and in S3 when `s3` (RGW must answer: see ensureRgw). */
export async function logOpenTimes(versions: number, s3: boolean, checkpoints = true): Promise<{ localMs: number; s3Ms?: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'zde-logopen-'));
  try {
    const local = await openStorage(dir);
    await fill(local, versions, checkpoints);
    const localMs = await timeOpen(local, versions);
    if (!s3) return { localMs };
    Object.assign(process.env, awsEnv());
    const bucket = await newBucket();
    try {
      const storage = await openStorage(`s3://${bucket}/lake`);
      await fill(storage, versions, checkpoints);
      return { localMs, s3Ms: await timeOpen(storage, versions) };
    } finally {
      await dropBucket(bucket);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const versions = Number(arg('versions') ?? '2000');
  const rgw = process.argv.includes('--s3') ? await ensureRgw((s) => process.stdout.write(s)) : undefined;
  if (process.argv.includes('--s3') && !rgw) throw new Error('RGW could not start (scripts/services/rgw.sh)');
  try {
    for (const checkpoints of [true, false]) {
      for (const n of [100, versions]) {
        const t = await logOpenTimes(n, rgw !== undefined, checkpoints);
        console.log(`${n} versions, ${checkpoints ? 'checkpoints every 10' : 'no checkpoints'}: local folder ${t.localMs.toFixed(1)} ms${t.s3Ms === undefined ? '' : `, S3 (RGW on loopback) ${t.s3Ms.toFixed(0)} ms`} (best of 3)`);
      }
    }
  } finally {
    rgw?.stop();
  }
}
