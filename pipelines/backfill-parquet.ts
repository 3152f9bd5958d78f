/**
 * Tickets into a partitioned Parquet lake: the backfill, composed stage by stage. Resumable and
 * exactly once: re-run it after any stop and it goes on from the last commit.
 *
 *   ZENDESK_SUBDOMAIN=acme ZENDESK_OAUTH_TOKEN=... npx tsx pipelines/backfill-parquet.ts lake
 */
import { pipeline } from 'node:stream/promises';
import {
  Committer, FieldCatalog, FlattenStream, LakeSink, METADATA_COLUMNS, ParquetFormat, TICKET_COLUMNS, TicketSource, ZendeskHttp,
  credentialsFromEnv, newExportState, parsePartitionSpec, resolveOrigin, type Credentials, type ExportState,
} from '../src/index.js';

export interface BackfillOptions {
  origin: string;
  credentials: Credentials;
  out: string;
  rateLimit?: number;
}

export async function backfillParquet({ origin, credentials, out, rateLimit = 10 }: BackfillOptions): Promise<ExportState> {
  const committer = new Committer({ outDir: out, statePath: `${out}/_state/tickets.json` });
  const saved = await committer.recover(); // roll an interrupted commit forward, clear staging
  const http = new ZendeskHttp(origin, credentials);
  const catalog = await FieldCatalog.fetch(http);
  const source = new TicketSource({ origin, credentials, rateLimit, position: saved?.position });
  const sink = new LakeSink({
    committer,
    format: new ParquetFormat(),
    columns: () => [...TICKET_COLUMNS, ...catalog.columns(), ...METADATA_COLUMNS],
    schemaVersion: () => catalog.version,
    partitionBy: parsePartitionSpec('updated_at:month'),
    baseState: saved ?? newExportState('tickets', source.position()),
  });
  await pipeline(source, new FlattenStream({ catalog, refreshCatalog: () => catalog.refresh(http) }), sink);
  await http.close();
  return sink.state;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = resolveOrigin({ subdomain: process.env.ZENDESK_SUBDOMAIN, baseUrl: process.env.ZENDESK_SUBDOMAIN ? undefined : process.env.ZENDESK_BASE_URL });
  const state = await backfillParquet({ origin, credentials: credentialsFromEnv(), out: process.argv[2] ?? 'lake' });
  console.error(`committed ${state.counters.rows} rows in ${state.files.length} files`);
}
