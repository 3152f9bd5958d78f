/**
 * One export into two outputs at once: a Parquet lake and a gzipped NDJSON archive of the flattened
 * rows, plus the raw pages as they came (a bronze layer for `zendesk-etl replay`). The tee
 * acknowledges a checkpoint only when both tables have committed it.
 *
 *   ZENDESK_SUBDOMAIN=acme ZENDESK_OAUTH_TOKEN=... npx tsx pipelines/tee-parquet-raw.ts lake archive
 */
import { pipeline } from 'node:stream/promises';
import {
  FieldCatalog, FlattenStream, LakeSink, LakeTable, METADATA_COLUMNS, RawArchive, TICKET_COLUMNS, TicketSource, ZendeskHttp,
  credentialsFromEnv, openStorage, resolveOrigin, teeSink, type Credentials, type ExportRange, type TableSettings,
} from 'zendesk-stream-etl';

export async function teeParquetAndArchive(origin: string, credentials: Credentials, lake: string, archive: string, rateLimit = 10): Promise<void> {
  const window = { start: 0 };
  const open = async (out: string, settings: Partial<TableSettings>): Promise<LakeTable> => {
    const table = await LakeTable.open({ storage: await openStorage(out), name: 'tickets', stream: 'tickets', settings });
    await table.begin('export', window);
    return table;
  };
  const tables = [await open(lake, { format: 'parquet' }), await open(`${archive}/rows`, { format: 'ndjson', gzip: true })];
  const http = new ZendeskHttp(origin, credentials);
  try {
    const catalog = await FieldCatalog.fetch(http);
    const raw = new RawArchive(`${archive}/raw`);
    await raw.init();
    await raw.saveFields(catalog.fields);
    // The two tables may have committed apart (a crash between their commits): export from the one
    // that is behind; the one ahead skips what it holds.
    const plans = tables.map((t) => t.plan(window));
    const ranges: ExportRange[] = plans.sort((a, b) => (a[0]?.from.at ?? Infinity) - (b[0]?.from.at ?? Infinity))[0] ?? [];
    const columns = (): ReturnType<typeof catalog.columns> => [...TICKET_COLUMNS, ...catalog.columns(), ...METADATA_COLUMNS];
    const sinks = tables.map((table) => new LakeSink({ table, window, columns, schemaVersion: () => catalog.version, skipDelivered: true }));
    await pipeline(new TicketSource({ origin, credentials, rateLimit, raw, ranges }), new FlattenStream({ catalog }), teeSink(sinks[0]!, sinks[1]!));
  } finally {
    await http.close();
    for (const t of tables) await t.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = resolveOrigin({ subdomain: process.env.ZENDESK_SUBDOMAIN, baseUrl: process.env.ZENDESK_SUBDOMAIN ? undefined : process.env.ZENDESK_BASE_URL });
  await teeParquetAndArchive(origin, credentialsFromEnv(), process.argv[2] ?? 'lake', process.argv[3] ?? 'archive');
}
