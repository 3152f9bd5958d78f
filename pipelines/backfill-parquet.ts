/**
 * Tickets into a partitioned Parquet lake: the backfill, composed stage by stage. Resumable and
 * exactly once: the table's log says what it holds, so a re-run after any stop exports only the rest.
 *
 *   ZENDESK_SUBDOMAIN=acme ZENDESK_OAUTH_TOKEN=... npx tsx pipelines/backfill-parquet.ts lake
 */
import { pipeline } from 'node:stream/promises';
import {
  FieldCatalog, FlattenStream, LakeSink, LakeTable, METADATA_COLUMNS, TICKET_COLUMNS, TicketSource, ZendeskHttp,
  credentialsFromEnv, openStorage, resolveOrigin, type Committed, type Credentials,
} from 'zendesk-stream-etl';

export interface BackfillOptions {
  origin: string;
  credentials: Credentials;
  out: string;
  rateLimit?: number;
}

export async function backfillParquet({ origin, credentials, out, rateLimit = 10 }: BackfillOptions): Promise<Committed> {
  // The table owns the write side: its log, its lease, staging, commits and cleanup after crashes.
  const table = await LakeTable.open({ storage: await openStorage(out), name: 'tickets', stream: 'tickets', settings: { format: 'parquet', partitionBy: 'updated_at:month' } });
  const http = new ZendeskHttp(origin, credentials);
  try {
    const window = { start: 0 };
    await table.begin('export', window);
    const catalog = await FieldCatalog.fetch(http);
    const source = new TicketSource({ origin, credentials, rateLimit, ranges: table.plan(window) });
    const sink = new LakeSink({
      table,
      window,
      columns: () => [...TICKET_COLUMNS, ...catalog.columns(), ...METADATA_COLUMNS],
      schemaVersion: () => catalog.version,
    });
    await pipeline(source, new FlattenStream({ catalog, refreshCatalog: () => catalog.refresh(http) }), sink);
    return sink.committed;
  } finally {
    await http.close();
    await table.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = resolveOrigin({ subdomain: process.env.ZENDESK_SUBDOMAIN, baseUrl: process.env.ZENDESK_SUBDOMAIN ? undefined : process.env.ZENDESK_BASE_URL });
  const committed = await backfillParquet({ origin, credentials: credentialsFromEnv(), out: process.argv[2] ?? 'lake' });
  console.error(`committed ${committed.rows} rows in ${committed.files} files`);
}
