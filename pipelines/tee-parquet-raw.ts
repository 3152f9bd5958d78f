/**
 * One export into two outputs at once: a Parquet lake and a gzipped NDJSON archive of the flattened
 * rows, plus the raw pages as they came (a bronze layer for `zendesk-etl replay`). The tee
 * acknowledges a checkpoint only when both lakes have committed it.
 *
 *   ZENDESK_SUBDOMAIN=acme ZENDESK_OAUTH_TOKEN=... npx tsx pipelines/tee-parquet-raw.ts lake archive
 */
import { pipeline } from 'node:stream/promises';
import {
  Committer, FieldCatalog, FlattenStream, LakeSink, METADATA_COLUMNS, NdjsonFormat, ParquetFormat, RawArchive, TICKET_COLUMNS,
  TicketSource, ZendeskHttp, credentialsFromEnv, newExportState, resolveOrigin, teeSink, type Credentials, type ExportState, type RowFormat,
} from '../src/index.js';

export async function teeParquetAndArchive(origin: string, credentials: Credentials, lake: string, archive: string, rateLimit = 10): Promise<void> {
  const http = new ZendeskHttp(origin, credentials);
  const catalog = await FieldCatalog.fetch(http);
  const raw = new RawArchive(`${archive}/raw`);
  await raw.init();
  await raw.saveFields(catalog.fields);
  const open = async (out: string, format: RowFormat): Promise<{ sink: LakeSink; saved: ExportState | undefined }> => {
    const committer = new Committer({ outDir: out, statePath: `${out}/_state/tickets.json` });
    const saved = await committer.recover();
    const base: ExportState = saved ?? newExportState('tickets', { mode: 'cursor', startTime: 0, watermark: -1, boundary: [], done: false });
    const columns = (): ReturnType<typeof catalog.columns> => [...TICKET_COLUMNS, ...catalog.columns(), ...METADATA_COLUMNS];
    return { sink: new LakeSink({ committer, format, columns, schemaVersion: () => catalog.version, baseState: base, skipCommitted: true }), saved };
  };
  const parquet = await open(lake, new ParquetFormat());
  const rows = await open(`${archive}/rows`, new NdjsonFormat({ gzip: true }));
  // Resume from the older of the two committed positions; the lake that is ahead skips what it has.
  const positions = [parquet.saved?.position, rows.saved?.position];
  const position = positions.includes(undefined) ? undefined : positions.sort((a, b) => a!.watermark - b!.watermark)[0];
  const source = new TicketSource({ origin, credentials, rateLimit, raw, position });
  await pipeline(source, new FlattenStream({ catalog }), teeSink(parquet.sink, rows.sink));
  await http.close();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = resolveOrigin({ subdomain: process.env.ZENDESK_SUBDOMAIN, baseUrl: process.env.ZENDESK_SUBDOMAIN ? undefined : process.env.ZENDESK_BASE_URL });
  await teeParquetAndArchive(origin, credentialsFromEnv(), process.argv[2] ?? 'lake', process.argv[3] ?? 'archive');
}
