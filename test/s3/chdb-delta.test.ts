/**
 * The independent Delta reader (test/support/chdb.ts) on a tiny hand-written Delta table: Parquet files
 * written by DuckDB, a log written by hand, read with deltaLakeLocal and, after an upload to RGW, deltaLake.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chdbQuery, deltaLocal, deltaS3 } from '../support/chdb.js';
import { createBucket, s3Client, s3Env, uniqueBucketName } from '../support/services.js';

const BIG = '9223372036854775807'; // Int64 max: far beyond 2^53

let root: string;
let table: string;

/** Writes `select` to `file` as Parquet with DuckDB. */
async function writeParquet(file: string, select: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    await conn.run(`COPY (${select}) TO '${file.replace(/'/g, "''")}' (FORMAT parquet)`);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return (await stat(file)).size;
}

function addAction(path: string, day: string, size: number): string {
  return JSON.stringify({
    add: { path, partitionValues: { day }, size, modificationTime: Date.now(), dataChange: true },
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'zde-delta-'));
  table = join(root, 't');
  await mkdir(join(table, '_delta_log'), { recursive: true });
  for (const day of ['2024-01-01', '2024-01-02', '2024-01-03']) await mkdir(join(table, `day=${day}`));

  const size0 = await writeParquet(
    join(table, 'day=2024-01-01', 'part-0.parquet'),
    `SELECT * FROM (VALUES (1::BIGINT, 'one'), (${BIG}::BIGINT, 'max')) v(id, name)`,
  );
  const size1 = await writeParquet(
    join(table, 'day=2024-01-02', 'part-0.parquet'),
    `SELECT 3::BIGINT AS id, 'three' AS name`,
  );
  // A data file that no commit added: a reader must not see it.
  await writeParquet(join(table, 'day=2024-01-03', 'orphan.parquet'), `SELECT 99::BIGINT AS id, 'orphan' AS name`);

  const schema = {
    type: 'struct',
    fields: [
      { name: 'id', type: 'long', nullable: true, metadata: {} },
      { name: 'name', type: 'string', nullable: true, metadata: {} },
      { name: 'day', type: 'string', nullable: true, metadata: {} },
    ],
  };
  const v0 = [
    JSON.stringify({ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }),
    JSON.stringify({
      metaData: {
        id: randomUUID(),
        format: { provider: 'parquet', options: {} },
        schemaString: JSON.stringify(schema),
        partitionColumns: ['day'],
        configuration: {},
        createdTime: Date.now(),
      },
    }),
    addAction('day=2024-01-01/part-0.parquet', '2024-01-01', size0),
  ];
  const v1 = [addAction('day=2024-01-02/part-0.parquet', '2024-01-02', size1)];
  await writeFile(join(table, '_delta_log', '00000000000000000000.json'), `${v0.join('\n')}\n`);
  await writeFile(join(table, '_delta_log', '00000000000000000001.json'), `${v1.join('\n')}\n`);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const EXPECTED = [
  { id: '1', name: 'one', day: '2024-01-01' },
  { id: '3', name: 'three', day: '2024-01-02' },
  { id: BIG, name: 'max', day: '2024-01-01' },
];

describe('chdbQuery', () => {
  it('reads a local Delta table: committed files only, partition values from the log, Int64 exact', async () => {
    const rows = await chdbQuery(`SELECT id, name, day FROM ${deltaLocal(table)} ORDER BY id`);
    expect(rows).toEqual(EXPECTED);
  });

  it('reads the schema from the log', async () => {
    const rows = await chdbQuery(`DESCRIBE TABLE ${deltaLocal(table)}`);
    expect(rows.map((r) => r.name)).toEqual(['id', 'name', 'day']);
  });

  it('reads the same table on RGW with deltaLake', async () => {
    const bucket = uniqueBucketName('zde-delta');
    await createBucket(bucket);
    const client = s3Client();
    try {
      const files: string[] = [];
      const walk = async (dir: string): Promise<void> => {
        for (const entry of await readdir(dir, { withFileTypes: true })) {
          const full = join(dir, entry.name);
          if (entry.isDirectory()) await walk(full);
          else files.push(full);
        }
      };
      await walk(table);
      for (const file of files) {
        const key = `lake/t/${relative(table, file)}`;
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(file) }));
      }
    } finally {
      client.destroy();
    }
    const env = s3Env();
    const source = deltaS3(`${env.endpoint}/${bucket}/lake/t`, env.accessKeyId, env.secretAccessKey);
    const rows = await chdbQuery(`SELECT id, name, day FROM ${source} ORDER BY id`);
    expect(rows).toEqual(EXPECTED);
  });

  it('returns large results whole', async () => {
    const n = 1_000_000;
    const rows = await chdbQuery(`SELECT number AS n, toString(number) AS s FROM numbers(${n})`);
    expect(rows).toHaveLength(n);
    expect(rows[n - 1]).toEqual({ n: String(n - 1), s: String(n - 1) });
  });

  it('rejects with chDB’s message when the query fails', async () => {
    await expect(chdbQuery('SELECT * FROM no_such_table')).rejects.toThrow(/UNKNOWN_TABLE/);
    await expect(chdbQuery(`SELECT * FROM ${deltaLocal(join(root, 'missing'))}`)).rejects.toThrow(/DB::Exception/);
  });

  it('builds the table-function fragments, quoting SQL strings', () => {
    expect(deltaLocal('/a/b')).toBe("deltaLakeLocal('/a/b')");
    expect(deltaLocal("/a/it's")).toBe("deltaLakeLocal('/a/it\\'s')");
    expect(() => deltaLocal('relative/path')).toThrow(/absolute/);
    expect(deltaS3('http://127.0.0.1:7480/b/t', 'k', 's')).toBe("deltaLake('http://127.0.0.1:7480/b/t/', 'k', 's')");
    // chDB ran in a child with cwd '/': the test process never moved.
    expect(process.cwd()).not.toBe('/');
  });
});
