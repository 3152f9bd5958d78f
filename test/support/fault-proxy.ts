/**
 * A fault-injecting HTTP proxy on loopback, in front of a real server (RGW): requests pass through
 * unchanged (the Host header too, so SigV4 signatures still verify), except those a rule picks, which
 * get an error status (a 503 on one UploadPart) or a connection reset part-way through their body.
 *
 *   const proxy = new FaultProxy({ port: s3Env().port });
 *   const url = await proxy.start();          // point AWS_ENDPOINT_URL at it
 *   proxy.inject({ name: '503 on part 2', when: (r) => isUploadPart(r) && r.query.get('partNumber') === '2', fault: { status: 503, code: 'SlowDown' } });
 *   ...
 *   proxy.fired   // which rules fired, on what
 *   proxy.log     // every request: method, path, query, status (or 'reset')
 */
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface ProxiedRequest {
  method: string;
  /** The path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

/**
 * Answer with this status and an S3 error body, after reading the request body; reset the connection
 * after this many body bytes; or pass the request on and reset the connection instead of answering
 * (the server did the work, the client never hears of it).
 */
export type Fault = { status: number; code: string } | { resetAfterBytes: number } | { dropResponse: true };

export interface FaultRule {
  name: string;
  when: (r: ProxiedRequest) => boolean;
  fault: Fault;
  /** How many matching requests get the fault. Default 1. */
  times?: number;
}

export interface ProxyLogEntry {
  method: string;
  path: string;
  query: string;
  /** The status sent back; 'reset' (mid-request); or 'dropped' (with the server's status, never sent). */
  outcome: number | 'reset' | `dropped ${number}`;
  /** The rule that fired, if any. */
  fault?: string;
  /** Sent with If-None-Match: * (a put-if-absent). */
  conditional: boolean;
}

/** UploadPart: `PUT /bucket/key?partNumber=N&uploadId=...`. */
export function isUploadPart(r: ProxiedRequest): boolean {
  return r.method === 'PUT' && r.query.has('partNumber') && r.query.has('uploadId');
}

/** A commit: a put-if-absent of a table log version. */
export function isCommitPut(r: ProxiedRequest): boolean {
  return r.method === 'PUT' && r.headers['if-none-match'] === '*' && /\/_delta_log\/\d{20}\.json$/.test(r.path);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect']);

function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export class FaultProxy {
  readonly #target: { host: string; port: number };
  readonly #rules: (FaultRule & { left: number })[] = [];
  readonly #agent = new Agent({ keepAlive: true });
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  readonly log: ProxyLogEntry[] = [];
  readonly fired: { rule: string; method: string; path: string; query: string }[] = [];

  constructor(target: { host?: string; port: number }) {
    this.#target = { host: target.host ?? '127.0.0.1', port: target.port };
  }

  /** Listen on 127.0.0.1 (a free port); resolves to `http://127.0.0.1:PORT`. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        req.socket.destroy();
      });
    });
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.#server = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  inject(rule: FaultRule): void {
    this.#rules.push({ ...rule, left: rule.times ?? 1 });
  }

  /** Rules that have not fired as often as asked. */
  get pending(): string[] {
    return this.#rules.filter((r) => r.left > 0).map((r) => r.name);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#agent.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const r: ProxiedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers };
    const rule = this.#rules.find((x) => x.left > 0 && x.when(r));
    const entry: ProxyLogEntry = { method: r.method, path: r.path, query: url.search, outcome: 0, conditional: req.headers['if-none-match'] === '*', ...(rule ? { fault: rule.name } : {}) };
    this.log.push(entry);
    if (rule) {
      rule.left--;
      this.fired.push({ rule: rule.name, method: r.method, path: r.path, query: url.search });
      if ('status' in rule.fault) return this.#reply(req, res, entry, rule.fault);
    }
    const fault = rule?.fault;
    await this.#forward(req, res, entry, fault && 'resetAfterBytes' in fault ? fault.resetAfterBytes : undefined, fault !== undefined && 'dropResponse' in fault);
  }

  /** Read the body, then answer with an S3 error. */
  async #reply(req: IncomingMessage, res: ServerResponse, entry: ProxyLogEntry, fault: { status: number; code: string }): Promise<void> {
    req.resume();
    await once(req, 'end');
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message><RequestId>fault-proxy</RequestId></Error>`;
    entry.outcome = fault.status;
    res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** Pass the request through; with `resetAfter`, reset the client's connection once that many body bytes went by. */
  async #forward(req: IncomingMessage, res: ServerResponse, entry: ProxyLogEntry, resetAfter: number | undefined, drop: boolean): Promise<void> {
    const upstream = httpRequest({ host: this.#target.host, port: this.#target.port, method: req.method, path: req.url, headers: forwardable(req.headers), agent: this.#agent });
    const response = once(upstream, 'response') as Promise<[IncomingMessage]>;
    let seen = 0;
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        seen += chunk.length;
        if (resetAfter !== undefined && seen >= resetAfter) {
          entry.outcome = 'reset';
          req.socket.resetAndDestroy();
          upstream.destroy();
          cb(new Error('reset by the fault proxy'));
          return;
        }
        cb(null, chunk);
      },
    });
    try {
      await pipeline(req, counter, upstream);
    } catch {
      if (entry.outcome !== 'reset') req.socket.destroy();
      response.catch(() => undefined);
      return;
    }
    const [up] = await response;
    if (drop) {
      up.resume();
      await once(up, 'end');
      entry.outcome = `dropped ${up.statusCode ?? 0}`;
      req.socket.resetAndDestroy();
      return;
    }
    const headers = forwardable(up.headers);
    entry.outcome = up.statusCode ?? 502;
    res.writeHead(up.statusCode ?? 502, headers);
    await pipeline(up, res);
  }
}
