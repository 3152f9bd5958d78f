/**
 * Rebuild a Parquet lake from a raw archive without calling Zendesk (after a schema change, say).
 *
 *   npx tsx pipelines/replay-parquet.ts archive/raw lake-rebuilt
 */
import { replayTickets, type ExportResult } from 'zendesk-stream-etl';

export function replayToParquet(rawDir: string, out: string): Promise<ExportResult> {
  return replayTickets({ rawDir, out, format: 'parquet', partitionBy: 'updated_at:month' });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await replayToParquet(process.argv[2] ?? 'archive/raw', process.argv[3] ?? 'lake-rebuilt');
  console.error(`replayed ${result.stats.tickets} ticket versions into ${result.committed.files} files`);
}
