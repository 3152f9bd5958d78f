/**
 * Tickets as NDJSON on stdout, for jq or a warehouse loader:
 *
 *   ZENDESK_SUBDOMAIN=acme ZENDESK_OAUTH_TOKEN=... npx tsx pipelines/ndjson-stdout.ts | jq -c '{id, status}'
 */
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, FieldCatalog, FlattenStream, NdjsonStreamSink, TicketSource, ZendeskHttp, credentialsFromEnv, isZendeskEtlError, resolveOrigin, type Credentials } from 'zendesk-stream-etl';

/** Flattened tickets as NDJSON into `out`. A reader that goes away (`| head`) ends it quietly. */
export async function ndjsonToStream(origin: string, credentials: Credentials, out: NodeJS.WritableStream, rateLimit = 10): Promise<void> {
  const http = new ZendeskHttp(origin, credentials);
  try {
    const catalog = await FieldCatalog.fetch(http);
    await pipeline(new TicketSource({ origin, credentials, rateLimit }), new FlattenStream({ catalog }), new NdjsonStreamSink(out));
  } catch (err) {
    if (!(isZendeskEtlError(err) && err.code === ErrorCodes.OUTPUT_CLOSED)) throw err;
  } finally {
    await http.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = resolveOrigin({ subdomain: process.env.ZENDESK_SUBDOMAIN, baseUrl: process.env.ZENDESK_SUBDOMAIN ? undefined : process.env.ZENDESK_BASE_URL });
  await ndjsonToStream(origin, credentialsFromEnv(), process.stdout);
}
