import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import type { PageBody } from './pages.js';
import type { StoredTicket } from './ticket-store.js';

/** Faults the stand-in can inject into export requests, one kind per request. */
export type FaultKind =
  | 'status-500'
  | 'status-502'
  | 'status-503'
  | 'status-504'
  | 'status-502-html'
  | 'status-503-html'
  | 'rate-limit'
  | 'rate-limit-no-retry-after'
  | 'reset-before-headers'
  | 'reset-mid-body'
  | 'reset-late-body'
  | 'truncated'
  | 'html-200'
  | 'slow-drip'
  | 'stall'
  | 'missing-tickets'
  | 'ticket-not-object'
  /** No fault for this request (a placeholder in a queue of faults). */
  | 'none';

export const ALL_FAULTS: readonly FaultKind[] = [
  'status-500', 'status-502', 'status-503', 'status-504', 'status-502-html', 'status-503-html',
  'rate-limit', 'rate-limit-no-retry-after', 'reset-before-headers', 'reset-mid-body', 'reset-late-body', 'truncated',
  'html-200', 'slow-drip', 'stall', 'missing-tickets', 'ticket-not-object',
];


export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Answer a fault that replaces the whole response (an error status, a reset, an HTML page).
 * Returns the status sent (0 for a reset), or undefined when the fault plays out in the body.
 */
export function answerEarlyFault(fault: FaultKind | undefined, res: ServerResponse, req: IncomingMessage, retryAfterSeconds: number): number | undefined {
  switch (fault) {
    case 'status-500':
    case 'status-502':
    case 'status-503':
    case 'status-504': {
      const status = Number(fault.slice(7));
      sendJson(res, status, { error: 'InternalError', description: 'Something went wrong' });
      return status;
    }
    case 'status-502-html':
    case 'status-503-html': {
      const status = Number(fault.slice(7, 10));
      const html = `<html><head><title>${status} Bad Gateway</title></head><body><center><h1>${status}</h1></center><hr><center>nginx</center></body></html>`;
      res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(html) });
      res.end(html);
      return status;
    }
    case 'rate-limit':
      sendJson(res, 429, { error: 'APIRateLimitExceeded', description: 'Rate limit exceeded' }, { 'retry-after': String(retryAfterSeconds) });
      return 429;
    case 'rate-limit-no-retry-after':
      sendJson(res, 429, { error: 'APIRateLimitExceeded', description: 'Rate limit exceeded' });
      return 429;
    case 'reset-before-headers':
      req.socket.destroy();
      return 0;
    case 'html-200': {
      const html = '<!DOCTYPE html><html><body><h1>Help Center is under maintenance</h1></body></html>';
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(html) });
      res.end(html);
      return 200;
    }
    default:
      return undefined;
  }
}

/** What of the stand-in's options shapes a page's body and headers. */
export interface PageWriteOptions {
  gzip: boolean;
  rateLimit?: number | undefined;
  rateWindowMs: number;
  dripMs: number;
  envelopeOrder: 'tickets-first' | 'tickets-last' | 'random';
}

/**
 * Stream a page's body, the envelope in the order asked for, with the fault that plays out in the body
 * (a reset mid-body or late, a stall, a slow drip, a truncated body, a missing or broken tickets array).
 */
export async function writePage(req: IncomingMessage, res: ServerResponse, page: PageBody, fault: FaultKind | undefined, o: PageWriteOptions, rateHits: number, rand: () => number, sideloads: (tickets: StoredTicket[], include: string[]) => [string, unknown[]][]): Promise<void> {
  const gzip = o.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && fault !== 'reset-mid-body' && fault !== 'reset-late-body' && fault !== 'stall';
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'x-rate-limit': String(o.rateLimit ?? 700),
    'x-rate-limit-remaining': String(o.rateLimit === undefined ? 699 : Math.max(0, o.rateLimit - rateHits)),
    'zendesk-ratelimit-incremental-exports': `total=${o.rateLimit ?? 10}; remaining=${o.rateLimit === undefined ? 9 : Math.max(0, o.rateLimit - rateHits)}; resets=${Math.ceil(o.rateWindowMs / 1000)}`,
  };
  if (gzip) headers['content-encoding'] = 'gzip';
  res.writeHead(200, headers);
  const gz = gzip ? createGzip({ flush: zlibConstants.Z_NO_FLUSH }) : undefined;
  if (gz) pipeline(gz, res).catch(() => undefined);
  const out = gz ?? res;
  let chunkNo = 0;
  const write = async (text: string): Promise<boolean> => {
    if (res.destroyed) return false;
    chunkNo++;
    if (fault === 'reset-mid-body' && chunkNo === 3) {
      res.socket?.destroy();
      return false;
    }
    if (fault === 'stall' && chunkNo === 3) {
      // Stop sending and hold the connection open: the client's idle timeout must fire.
      await once(res, 'close');
      return false;
    }
    if (fault === 'slow-drip') {
      for (let k = 0; k < text.length; k += 4096) {
        if (res.destroyed) return false;
        if (!out.write(text.slice(k, k + 4096))) await drainOrClose(out, res);
        await new Promise((r) => setTimeout(r, o.dripMs));
      }
      return true;
    }
    if (!out.write(text)) await drainOrClose(out, res);
    return !res.destroyed;
  };
  const metaEntries = Object.entries(page.meta);
  const order = o.envelopeOrder === 'random' ? (rand() < 0.5 ? 'tickets-first' : 'tickets-last') : o.envelopeOrder;
  let first = true;
  const sep = (): string => {
    const s = first ? '' : ',';
    first = false;
    return s;
  };
  const writeMeta = async (): Promise<boolean> => {
    for (const [k, v] of metaEntries) if (!(await write(`${sep()}${JSON.stringify(k)}:${JSON.stringify(v)}`))) return false;
    return true;
  };
  if (!(await write('{'))) return;
  if (order === 'tickets-last' && !(await writeMeta())) return;
  if (fault !== 'missing-tickets') {
    if (!(await write(`${sep()}${JSON.stringify(page.key)}:[`))) return;
    let n = 0;
    for (const item of page.items) {
      const body = fault === 'ticket-not-object' && n === 1 ? '"not a ticket"' : item();
      if (!(await write(`${n === 0 ? '' : ','}${body}`))) return;
      n++;
      if (fault === 'reset-late-body' && n === Math.max(1, Math.ceil(page.items.length * 0.6))) {
        // A reset well into the body: most of the page was already read.
        res.socket?.destroy();
        return;
      }
      if (fault === 'truncated' && n === Math.max(1, Math.floor(page.items.length / 2))) {
        // A complete HTTP response whose JSON stops in the middle.
        out.end();
        return;
      }
    }
    if (!(await write(']'))) return;
  }
  for (const [name, rows] of sideloads(page.tickets, page.include)) {
    if (!(await write(`${sep()}${JSON.stringify(name)}:${JSON.stringify(rows)}`))) return;
  }
  if (order === 'tickets-first' && !(await writeMeta())) return;
  await write('}');
  out.end();
}

/** Wait until `out` drains or the response closes, leaving no listener behind. */
function drainOrClose(out: NodeJS.WritableStream, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.removeListener('drain', done);
      res.removeListener('close', done);
      resolve();
    };
    out.once('drain', done);
    res.once('close', done);
  });
}
