/**
 * A custom filter and map: only solved tickets of one brand, with a renamed column, as NDJSON files.
 * Checkpoints pass through the custom stages, so the lake stays exactly once.
 *
 *   ZENDESK_SUBDOMAIN=acme ZENDESK_OAUTH_TOKEN=... npx tsx pipelines/solved-by-brand.ts 360500000001 lake-solved
 */
import { pipeline } from 'node:stream/promises';
import {
  FieldCatalog, FlattenStream, LakeSink, LakeTable, TicketSource, ZendeskHttp, credentialsFromEnv, filterStage, mapStage,
  openStorage, resolveOrigin, type Column, type Credentials, type TicketRow,
} from 'zendesk-stream-etl';

/** The row this pipeline writes. */
export interface SolvedTicket {
  ticket_id: number;
  brand_id: number;
  subject: string | null;
  solved_at: string | null;
  [key: string]: string | number | null;
}

const COLUMNS: Column[] = [
  { name: 'ticket_id', type: 'int64' },
  { name: 'brand_id', type: 'int64' },
  { name: 'subject', type: 'text' },
  { name: 'solved_at', type: 'timestamp' },
];

export async function solvedByBrand(origin: string, credentials: Credentials, brandId: number, out: string, rateLimit = 10): Promise<number> {
  // A table of its own, whose log records which ticket versions it has seen (kept or filtered out).
  const table = await LakeTable.open({ storage: await openStorage(out), name: 'solved_tickets', stream: 'tickets', settings: { format: 'ndjson' } });
  const http = new ZendeskHttp(origin, credentials);
  try {
    const window = { start: 0 };
    await table.begin('export', window);
    const catalog = await FieldCatalog.fetch(http);
    const sink = new LakeSink({ table, window, columns: () => COLUMNS });
    await pipeline(
      new TicketSource({ origin, credentials, rateLimit, ranges: table.plan(window) }),
      new FlattenStream({ catalog }),
      filterStage<TicketRow>((t) => t.status === 'solved' && t.brand_id === brandId),
      mapStage<TicketRow, SolvedTicket>((t) => ({ ticket_id: t.id as number, brand_id: brandId, subject: t.subject as string | null, solved_at: t.updated_at as string | null })),
      sink,
    );
    return sink.committed.rows;
  } finally {
    await http.close();
    await table.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = resolveOrigin({ subdomain: process.env.ZENDESK_SUBDOMAIN, baseUrl: process.env.ZENDESK_SUBDOMAIN ? undefined : process.env.ZENDESK_BASE_URL });
  const rows = await solvedByBrand(origin, credentialsFromEnv(), Number(process.argv[2]), process.argv[3] ?? 'lake-solved');
  console.error(`${rows} solved tickets committed`);
}
