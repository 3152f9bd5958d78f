import { invalidOption } from '../../core/errors.js';
import { exportStream, replayTickets, type ExportTicketsOptions, type ReplayTicketsOptions } from '../../export.js';
import { missingOption } from '../../options/normalize.js';
import { STREAM_NAMES } from '../../options/table.js';
import { findRawArchive } from '../../source/raw-archive.js';
import type { StreamName } from '../../streams.js';
import { resolveOrigin } from '../../core/url.js';
import { prepare, type CliIo } from '../context.js';
import { runReported } from '../run-report.js';
import { stepHooks } from '../step-hooks.js';

const ACCOUNT = { subdomain: '--subdomain', baseUrl: '--base-url' };

/** `zendesk-etl export <stream>`: export (or go on exporting) a stream into its table. */
export async function exportCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('export', args, io, {
    name: 'zendesk-etl export',
    usage: 'zendesk-etl export <tickets|ticket_events|users|organizations> --out DIR|s3://BUCKET/PREFIX|- [options]',
    about:
      'Export a stream into its table of the lake, exactly once: a run exports what the table lacks of its window\n' +
      '([--start-time, --end-time), open-ended by default), so the same command resumes after any stop.\n' +
      'Credentials come from the environment only: ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL with ZENDESK_API_TOKEN\n' +
      '(or ZENDESK_PASSWORD); each also as a file, with the _FILE suffix.',
  });
  if (typeof ctx === 'number') return ctx;
  const stream = ctx.positionals[0];
  if (stream === undefined) throw missingOption('STREAM', `the stream to export, one of ${STREAM_NAMES.join(', ')} (zendesk-etl export tickets --out LAKE)`);
  if (!(STREAM_NAMES as readonly string[]).includes(stream)) throw invalidOption('STREAM', `one of ${STREAM_NAMES.join(', ')} (zendesk-etl export tickets --out LAKE)`, stream);
  if (ctx.positionals.length > 1) throw invalidOption('arguments', 'one stream', ctx.positionals.slice(1).join(' '));
  const o = ctx.options;
  if (o.out === undefined) throw missingOption('--out', 'where the table goes: a folder or s3://BUCKET/PREFIX for the lake, or - for NDJSON on stdout');
  const origin = resolveOrigin({ subdomain: o.subdomain, baseUrl: o.baseUrl }, ACCOUNT);
  const { subdomain: _subdomain, baseUrl: _baseUrl, ...rest } = o;
  const opts: ExportTicketsOptions = {
    ...rest,
    out: o.out,
    origin,
    credentials: ctx.credentials(),
    format: o.format ?? (o.out === '-' ? 'ndjson' : undefined),
    signal: io.signal,
    stdout: io.stdout,
    onCommitStep: stepHooks(io.env),
  };
  return runReported(ctx, opts, stream, o.out, (x) => exportStream(stream as StreamName, x));
}

/** `zendesk-etl replay DIR --out LAKE`: rebuild a table from a raw archive, without Zendesk. */
export async function replayCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('replay', args, io, {
    name: 'zendesk-etl replay',
    usage: 'zendesk-etl replay DIR --out DIR|s3://BUCKET/PREFIX [options]',
    about: 'Replay a raw archive (written by export --raw DIR) into a table: each version the export took from a page,\nonce, and only what the table lacks. Nothing calls Zendesk.',
  });
  if (typeof ctx === 'number') return ctx;
  const rawDir = ctx.positionals[0];
  if (rawDir === undefined) throw missingOption('DIR', 'the raw archive folder that export --raw DIR wrote (zendesk-etl replay DIR --out LAKE)');
  const o = ctx.options;
  if (o.out === undefined) throw missingOption('--out', 'where the table goes: a folder or s3://BUCKET/PREFIX for the lake');
  // The archive is looked for before the lake is opened: a wrong DIR creates nothing.
  const archive = await findRawArchive(rawDir, 'tickets');
  if (archive.note !== undefined) ctx.log.info(`note: ${archive.note}`);
  const opts: ReplayTicketsOptions = { ...o, out: o.out, rawDir: archive.dir, signal: io.signal, stdout: io.stdout, onCommitStep: stepHooks(io.env) };
  return runReported(ctx, opts, 'tickets', o.out, replayTickets);
}
