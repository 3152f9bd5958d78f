import type { IncomingMessage, ServerResponse } from 'node:http';

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
