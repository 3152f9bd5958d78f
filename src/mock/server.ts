import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import { lowerBound, mockOrganizations, mockTicketEvents, mockUsers, type SimpleRecord } from './other-streams.js';
import { ALL_FAULTS, answerEarlyFault, sendJson, type FaultKind } from './faults.js';
import { TicketStore, type StoredTicket } from './ticket-store.js';
import {
  BASE_CUSTOM_FIELDS,
  LATE_CUSTOM_FIELD,
  generateTicket,
  prng,
  type MockCustomField,
  type TicketIdentity,
} from './ticket-generator.js';

export { ALL_FAULTS, type FaultKind } from './faults.js';

/**
 * The Zendesk stand-in: a real HTTP server that behaves like Zendesk's Incremental Ticket Export,
 * traps included. Tests, benchmarks, the README demo and users' own offline tests run against it.
 */

export interface MockCredentials {
  email: string;
  apiToken: string;
  oauthToken: string;
  password: string;
}

export interface MockZendeskOptions {
  /** How many tickets the account holds. Default 5,000. */
  tickets?: number;
  seed?: number;
  /** generated_timestamp of the first ticket. Default 2021-01-01 (or what `endEpoch` makes it). */
  startEpoch?: number;
  /** generated_timestamp of the last ticket, instead of `startEpoch`: an account whose history ends then (near now, for the demo). */
  endEpoch?: number;
  /** Seconds between consecutive tickets' generated_timestamp (fractions make ties). Default 0.6. */
  spacing?: number;
  /** Groups of tickets sharing one generated_timestamp: [index of the first, size]. */
  clumps?: readonly (readonly [number, number])[];
  /** What a time-based page does when a clump is larger than per_page. Default 'grow' (documented). */
  clumpBehaviour?: 'grow' | 'stuck';
  /** One ticket in this many is handled by an AI agent. Default 25. */
  aiAgentEvery?: number;
  /** One ticket in this many is deleted. Default 40. */
  deletedEvery?: number;
  /** One ticket in this many has a description of `hugeDescriptionBytes`. Default 0 (none). */
  hugeEvery?: number;
  hugeDescriptionBytes?: number;
  /** Tickets at or past this index carry new top-level keys (schema drift). Default: 60% of tickets. */
  newKeysFromIndex?: number;
  /** Create a new custom field after this many export requests. Default: never. */
  lateFieldAfterRequests?: number;
  /** Update this many tickets after every `updateEvery` export requests (changes during a run). */
  updateEvery?: number;
  updateCount?: number;
  /** Export requests allowed per rate window (sliding). Default, or 0: unlimited (as `--rate-limit 0` of the exporter). */
  rateLimit?: number;
  rateWindowMs?: number;
  /** Retry-After (seconds) on injected 429s. Default 1. */
  retryAfterSeconds?: number;
  /** Order of the envelope keys. Default 'tickets-first', as Zendesk usually sends them. */
  envelopeOrder?: 'tickets-first' | 'tickets-last' | 'random';
  /** Gzip the body when the client accepts it. Default true. */
  gzip?: boolean;
  /** Random faults on export requests. */
  faultRate?: number;
  faultKinds?: readonly FaultKind[];
  /** Time between pieces of a slow-drip body, ms. Default 5. */
  dripMs?: number;
  credentials?: Partial<MockCredentials>;
  /** Clock for the 1-minute floor on start_time, in Unix seconds. Default: the real clock. */
  now?: () => number;
  /** Keep each ticket's JSON once rendered (benchmarks: the stand-in then costs little CPU). */
  cacheRendered?: boolean;
  /**
   * Send the previous ticket page's first ticket again at the head of the next page: a version behind
   * the frontier, sent again. Zendesk's contract does not promise that it never happens. Default false.
   */
  repeatPreviousHead?: boolean;
}

export interface MockRequestRecord {
  path: string;
  query: Record<string, string>;
  status: number;
  fault?: FaultKind;
  at: number;
}

const DEFAULT_CREDENTIALS: MockCredentials = {
  email: 'admin@example.com',
  apiToken: 'mock-api-token-0123456789',
  oauthToken: 'mock-oauth-token-abcdef',
  password: 'mock-password',
};

export class MockZendesk {
  readonly credentials: MockCredentials;
  readonly requests: MockRequestRecord[] = [];
  #cache: Map<string, string> | undefined;
  #opts: Required<Omit<MockZendeskOptions, 'credentials' | 'clumps' | 'faultKinds' | 'now' | 'lateFieldAfterRequests' | 'rateLimit' | 'cacheRendered' | 'endEpoch'>> & {
    clumps: readonly (readonly [number, number])[];
    faultKinds: readonly FaultKind[];
    lateFieldAfterRequests?: number;
    rateLimit?: number;
    now: () => number;
  };
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #store: TicketStore;
  #fields: MockCustomField[] = [...BASE_CUSTOM_FIELDS];
  #exportRequests = 0;
  #rateHits: number[] = [];
  #queued: FaultKind[] = [];
  /** The first ticket of the last ticket page served (`repeatPreviousHead`). */
  #previousHead: StoredTicket | undefined;
  #rand: () => number;
  #cursorGeneration = 0;
  #fieldFaults = 0;
  #baseUrl = '';
  #users: SimpleRecord[] | undefined;
  #orgs: SimpleRecord[] | undefined;
  #events: SimpleRecord[] | undefined;

  constructor(options: MockZendeskOptions = {}) {
    const tickets = options.tickets ?? 5000;
    const spacing = options.spacing ?? 0.6;
    this.credentials = { ...DEFAULT_CREDENTIALS, ...options.credentials };
    this.#opts = {
      tickets,
      seed: options.seed ?? 42,
      startEpoch: options.startEpoch ?? (options.endEpoch === undefined ? 1_609_459_200 : options.endEpoch - Math.floor(Math.max(0, tickets - 1) * spacing)),
      spacing,
      clumps: options.clumps ?? [],
      clumpBehaviour: options.clumpBehaviour ?? 'grow',
      aiAgentEvery: options.aiAgentEvery ?? 25,
      deletedEvery: options.deletedEvery ?? 40,
      hugeEvery: options.hugeEvery ?? 0,
      hugeDescriptionBytes: options.hugeDescriptionBytes ?? 1024 * 1024,
      newKeysFromIndex: options.newKeysFromIndex ?? Math.floor(tickets * 0.6),
      lateFieldAfterRequests: options.lateFieldAfterRequests,
      updateEvery: options.updateEvery ?? 0,
      updateCount: options.updateCount ?? 0,
      rateLimit: options.rateLimit === 0 ? undefined : options.rateLimit,
      rateWindowMs: options.rateWindowMs ?? 60_000,
      retryAfterSeconds: options.retryAfterSeconds ?? 1,
      envelopeOrder: options.envelopeOrder ?? 'tickets-first',
      gzip: options.gzip ?? true,
      faultRate: options.faultRate ?? 0,
      faultKinds: options.faultKinds ?? ALL_FAULTS,
      dripMs: options.dripMs ?? 5,
      now: options.now ?? (() => Math.floor(Date.now() / 1000)),
      repeatPreviousHead: options.repeatPreviousHead ?? false,
    };
    this.#rand = prng(this.#opts.seed ^ 0x5eed);
    if (options.cacheRendered) this.#cache = new Map();
    this.#store = new TicketStore(this.#opts);
  }

  /** Every (id, generated_timestamp) that has ever existed, in order of creation. */
  get history(): readonly { id: number; generated_timestamp: number }[] {
    return this.#store.history;
  }

  /** Update tickets now: each gets a new version at the end of the stream. */
  updateTickets(count: number): void {
    this.#store.update(count, this.#rand);
  }

  /**
   * The ticket versions a complete export with these parameters must deliver: the current version of
   * every ticket in scope. Sorted by id.
   */
  expectedTickets(scope: Parameters<TicketStore['expected']>[0] = {}): { id: number; generated_timestamp: number }[] {
    return this.#store.expected(scope);
  }

  /** The base URL to point the exporter at (after `start()`). */
  get url(): string {
    return this.#baseUrl;
  }

  /** The custom fields the account has now. */
  get fields(): readonly MockCustomField[] {
    return this.#fields;
  }

  /** Export requests served (all statuses). */
  get exportRequests(): number {
    return this.#exportRequests;
  }

  /** Queue faults for the next export requests, in order. */
  injectFaults(...kinds: FaultKind[]): void {
    this.#queued.push(...kinds);
  }

  /** Answer the next `count` ticket_fields requests with 503. */
  injectFieldFaults(count: number): void {
    this.#fieldFaults += count;
  }

  /** Make every cursor handed out so far invalid (answers 400 InvalidCursor). */
  expireCursors(): void {
    this.#cursorGeneration++;
  }

  /** Change a custom field as an admin would (a new title, or another type). */
  updateField(id: number, change: Partial<Pick<MockCustomField, 'title' | 'type'>>): void {
    this.#fields = this.#fields.map((f) => (f.id === id ? { ...f, ...change } : f));
  }

  /** Create the late custom field now (schema drift). */
  addLateField(): void {
    if (!this.#fields.some((f) => f.id === LATE_CUSTOM_FIELD.id)) this.#fields.push(LATE_CUSTOM_FIELD);
  }

  /** The full JSON of a ticket's current version, as the export serves it. */
  ticketJson(id: number): Record<string, unknown> {
    const t = this.#store.get(id);
    if (!t) throw new Error(`no ticket ${id}`);
    return this.#render(t);
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'MockError', description: String(err) }));
        } else res.destroy();
      });
    });
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.listen(port, host);
    await once(server, 'listening');
    this.#server = server;
    const addr = server.address() as AddressInfo;
    this.#baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
    return this.#baseUrl;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---------------------------------------------------------------- requests

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const path = url.pathname.replace(/\.json$/, '');
    const query = Object.fromEntries(url.searchParams);
    const record: MockRequestRecord = { path, query, status: 200, at: Date.now() };
    this.requests.push(record);

    const auth = this.#authenticate(req.headers.authorization);
    if (path === '/api/v2/users/me' && auth !== 'unauthorized') {
      // An agent may read itself; only admins may use the incremental exports.
      const role = auth === 'ok' ? 'admin' : 'agent';
      return sendJson(res, 200, { user: { id: 1, url: `${this.#baseUrl}/api/v2/users/1.json`, name: 'Stand-in user', role, active: true } }, { 'x-rate-limit': '700', 'x-rate-limit-remaining': '699' });
    }
    if (auth !== 'ok') {
      record.status = auth === 'forbidden' ? 403 : 401;
      return sendJson(res, record.status, auth === 'forbidden' ? { error: 'Forbidden', description: 'You do not have access to this page. Please contact the account owner of this help desk for further help.' } : { error: "Couldn't authenticate you" });
    }
    if (path === '/api/v2/ticket_fields') {
      if (this.#fieldFaults > 0) {
        this.#fieldFaults--;
        record.status = 503;
        return sendJson(res, 503, { error: 'ServiceUnavailable' });
      }
      return sendJson(res, 200, { ticket_fields: this.#fields.map((f) => ({ ...f, url: `${this.#baseUrl}/api/v2/ticket_fields/${f.id}.json`, raw_title: f.title })), next_page: null, previous_page: null, count: this.#fields.length });
    }
    const timeBased = path === '/api/v2/incremental/tickets';
    const cursorBased = path === '/api/v2/incremental/tickets/cursor';
    const other = OTHER_ROUTES[path];
    if (!timeBased && !cursorBased && !other) {
      record.status = 404;
      return sendJson(res, 404, { error: 'InvalidEndpoint', description: 'Not found' });
    }

    this.#exportRequests++;
    const o = this.#opts;
    if (o.lateFieldAfterRequests !== undefined && this.#exportRequests > o.lateFieldAfterRequests) this.addLateField();
    if (o.updateEvery > 0 && this.#exportRequests % o.updateEvery === 0) this.updateTickets(o.updateCount);

    // Rate limit: a sliding window of export requests.
    const nowMs = Date.now();
    if (o.rateLimit !== undefined) {
      this.#rateHits = this.#rateHits.filter((t) => t > nowMs - o.rateWindowMs);
      if (this.#rateHits.length >= o.rateLimit) {
        const wait = Math.max(1, Math.ceil((this.#rateHits[0]! + o.rateWindowMs - nowMs) / 1000));
        record.status = 429;
        return sendJson(res, 429, { error: 'APIRateLimitExceeded', description: 'Number of allowed incremental export API requests per minute exceeded' }, { 'retry-after': String(wait) });
      }
      this.#rateHits.push(nowMs);
    }

    const queued = this.#queued.shift();
    const fault = queued === 'none' ? undefined : (queued ?? (o.faultRate > 0 && this.#rand() < o.faultRate ? o.faultKinds[Math.floor(this.#rand() * o.faultKinds.length)] : undefined));
    if (fault) record.fault = fault;
    const early = answerEarlyFault(fault, res, req, this.#opts.retryAfterSeconds);
    if (early !== undefined) {
      record.status = early;
      return;
    }

    let page = other ? this.#simplePage(other.stream, other.kind, query, res) : timeBased ? this.#timePage(query, res) : this.#cursorPage(query, res);
    if (page === undefined) {
      record.status = res.statusCode;
      return;
    }
    if (!other && o.repeatPreviousHead) page = this.#withPreviousHead(page);
    await this.#send(req, res, page, fault);
  }

  /** `repeatPreviousHead`: the last ticket page's first ticket leads this page too. */
  #withPreviousHead(page: PageBody): PageBody {
    const head = this.#previousHead;
    this.#previousHead = page.tickets[0] ?? head;
    if (!head || page.tickets.length === 0 || page.tickets[0] === head) return page;
    return { ...page, items: [() => this.#renderText(head), ...page.items], tickets: [head, ...page.tickets] };
  }

  #authenticate(header: string | undefined): 'ok' | 'unauthorized' | 'forbidden' {
    if (!header) return 'unauthorized';
    const c = this.credentials;
    if (header === `Bearer ${c.oauthToken}`) return 'ok';
    if (header.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      if (decoded === `${c.email}/token:${c.apiToken}` || decoded === `${c.email}:${c.password}`) return 'ok';
      if (decoded.startsWith('agent@')) return 'forbidden';
    }
    return 'unauthorized';
  }

  #params(query: Record<string, string>, res: ServerResponse): { perPage: number; scope: string; excludeDeleted: boolean; include: string[] } | undefined {
    const perPage = query.per_page === undefined ? 1000 : Number(query.per_page);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 1000) {
      sendJson(res, 400, { error: 'InvalidValue', description: 'per_page must be between 1 and 1000' });
      return undefined;
    }
    const scope = query.support_type_scope ?? 'agent';
    if (!['agent', 'ai_agent', 'all'].includes(scope)) {
      sendJson(res, 400, { error: 'InvalidValue', description: `Invalid support_type_scope ${scope}` });
      return undefined;
    }
    return { perPage, scope, excludeDeleted: query.exclude_deleted === 'true', include: (query.include ?? '').split(',').filter(Boolean) };
  }

  #startTime(query: Record<string, string>, res: ServerResponse): number | undefined {
    const raw = query.start_time;
    const start = Number(raw);
    if (raw === undefined || raw === '' || !Number.isInteger(start) || start < 0) {
      sendJson(res, 400, { error: 'InvalidValue', description: 'start_time is required and must be a Unix epoch time in seconds' });
      return undefined;
    }
    if (start > this.#opts.now() - 60) {
      sendJson(res, 422, { error: 'InvalidValue', description: 'Too recent start_time. Use a start_time older than 1 minute' });
      return undefined;
    }
    return start;
  }

  #timePage(query: Record<string, string>, res: ServerResponse): PageBody | undefined {
    const p = this.#params(query, res);
    if (!p) return undefined;
    const start = this.#startTime(query, res);
    if (start === undefined) return undefined;
    const from = this.#store.lowerBound(start, 0);
    const tickets = this.#store.collect(from, p.perPage, p, this.#opts.clumpBehaviour === 'grow');
    const last = tickets.length > 0 ? tickets[tickets.length - 1]! : undefined;
    const afterIdx = last ? this.#store.indexOf(last) + 1 : from;
    const endOfStream = !this.#store.anyInScopeFrom(afterIdx, p);
    let endTime = last ? last.gts : start;
    // When a whole (grown) page shares one timestamp, move past it so the export progresses.
    if (this.#opts.clumpBehaviour === 'grow' && last && tickets[0]!.gts === last.gts && last.gts === start && !endOfStream) endTime = start + 1;
    const q = new URLSearchParams({ ...query, start_time: String(endTime) });
    return {
      key: 'tickets',
      items: tickets.map((t) => () => this.#renderText(t)),
      tickets,
      include: p.include,
      meta: {
        count: tickets.length,
        end_time: endTime,
        next_page: `${this.#baseUrl}/api/v2/incremental/tickets.json?${q.toString()}`,
        end_of_stream: endOfStream,
      },
    };
  }

  #cursorPage(query: Record<string, string>, res: ServerResponse): PageBody | undefined {
    const p = this.#params(query, res);
    if (!p) return undefined;
    let from: number;
    if (query.cursor !== undefined) {
      const pos = this.#decodeCursor(query.cursor);
      if (!pos) {
        sendJson(res, 400, { errors: [{ code: 'InvalidCursor', title: 'Invalid cursor', detail: 'The cursor is invalid or has expired' }] });
        return undefined;
      }
      from = this.#store.lowerBound(pos.gts, pos.id + 1);
    } else {
      const start = this.#startTime(query, res);
      if (start === undefined) return undefined;
      from = this.#store.lowerBound(start, 0);
    }
    const tickets = this.#store.collect(from, p.perPage, p, false);
    const last = tickets.length > 0 ? tickets[tickets.length - 1]! : undefined;
    const afterIdx = last ? this.#store.indexOf(last) + 1 : from;
    const endOfStream = !this.#store.anyInScopeFrom(afterIdx, p);
    const position = last ? { gts: last.gts, id: last.id } : afterIdx > 0 ? { gts: this.#store.at(afterIdx - 1)!.gts, id: this.#store.at(afterIdx - 1)!.id } : { gts: 0, id: 0 };
    const afterCursor = this.#encodeCursor(position);
    const beforeCursor = this.#encodeCursor(tickets[0] ? { gts: tickets[0].gts, id: tickets[0].id - 1 } : position);
    const base = { ...query };
    delete base.start_time;
    const link = (cursor: string): string => `${this.#baseUrl}/api/v2/incremental/tickets/cursor.json?${new URLSearchParams({ ...base, cursor }).toString()}`;
    return {
      key: 'tickets',
      items: tickets.map((t) => () => this.#renderText(t)),
      tickets,
      include: p.include,
      meta: {
        after_url: link(afterCursor),
        after_cursor: afterCursor,
        before_url: link(beforeCursor),
        before_cursor: beforeCursor,
        end_of_stream: endOfStream,
      },
    };
  }

  /** The other streams' records, built from the account as it is now. */
  records(stream: 'users' | 'organizations' | 'ticket_events'): SimpleRecord[] {
    const o = this.#opts;
    if (stream === 'users') return (this.#users ??= mockUsers(Math.max(50, Math.floor(o.tickets / 10)), o.startEpoch));
    if (stream === 'organizations') return (this.#orgs ??= mockOrganizations(Math.max(20, Math.floor(o.tickets / 100)), o.startEpoch));
    if (this.#events?.length !== this.history.length) {
      this.#events = mockTicketEvents([...this.history].sort((a, b) => a.generated_timestamp - b.generated_timestamp));
    }
    return this.#events;
  }

  /** What a complete export of another stream must deliver: (id, version) of every record. */
  expectedRecords(stream: 'users' | 'organizations' | 'ticket_events'): { id: number; version: number }[] {
    return this.records(stream).map((r) => ({ id: r.id, version: r.version }));
  }

  #simplePage(stream: 'users' | 'organizations' | 'ticket_events', kind: 'time' | 'cursor', query: Record<string, string>, res: ServerResponse): PageBody | undefined {
    const list = this.records(stream);
    const perPage = query.per_page === undefined ? 1000 : Number(query.per_page);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 1000) {
      sendJson(res, 400, { error: 'InvalidValue', description: 'per_page must be between 1 and 1000' });
      return undefined;
    }
    let from: number;
    if (kind === 'cursor' && query.cursor !== undefined) {
      const pos = this.#decodeCursor(query.cursor);
      if (!pos) {
        sendJson(res, 400, { errors: [{ code: 'InvalidCursor', title: 'Invalid cursor' }] });
        return undefined;
      }
      from = lowerBound(list, pos.gts, pos.id + 1);
    } else {
      const start = this.#startTime(query, res);
      if (start === undefined) return undefined;
      from = lowerBound(list, start, 0);
    }
    let to = Math.min(list.length, from + perPage);
    // As for tickets: a time-based page never splits records that share its last timestamp.
    if (kind === 'time') while (to < list.length && to > from && list[to]!.version === list[to - 1]!.version) to++;
    const page = list.slice(from, to);
    const includeComments = (query.include ?? '').split(',').includes('comment_events');
    const items = page.map((r) => () => JSON.stringify(r.render(includeComments)));
    const endOfStream = to >= list.length;
    const last = page.at(-1);
    if (kind === 'cursor') {
      const pos = last ? { gts: last.version, id: last.id } : from > 0 ? { gts: list[from - 1]!.version, id: list[from - 1]!.id } : { gts: 0, id: 0 };
      const cursor = this.#encodeCursor(pos);
      return { key: stream, items, tickets: [], include: [], meta: { after_cursor: cursor, after_url: `${this.#baseUrl}/api/v2/incremental/${stream}/cursor.json?cursor=${cursor}`, before_cursor: null, before_url: null, end_of_stream: endOfStream } };
    }
    const start = Number(query.start_time);
    let endTime = last ? last.version : start;
    if (last && page[0]!.version === last.version && last.version === start && !endOfStream) endTime = start + 1;
    return { key: stream, items, tickets: [], include: [], meta: { count: page.length, end_time: endTime, next_page: `${this.#baseUrl}/api/v2/incremental/${stream}.json?start_time=${endTime}`, end_of_stream: endOfStream } };
  }

  #encodeCursor(pos: { gts: number; id: number }): string {
    return Buffer.from(JSON.stringify([this.#cursorGeneration, pos.gts, pos.id])).toString('base64url');
  }

  #decodeCursor(cursor: string): { gts: number; id: number } | undefined {
    try {
      const [gen, gts, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [number, number, number];
      if (gen !== this.#cursorGeneration || !Number.isInteger(gts) || !Number.isInteger(id)) return undefined;
      return { gts, id };
    } catch {
      return undefined;
    }
  }

  #renderText(t: StoredTicket): string {
    if (!this.#cache) return JSON.stringify(this.#render(t));
    const key = `${t.id}:${t.version}:${this.#fields.length}`;
    let text = this.#cache.get(key);
    if (text === undefined) {
      text = JSON.stringify(this.#render(t));
      this.#cache.set(key, text);
    }
    return text;
  }

  #render(t: StoredTicket): Record<string, unknown> {
    const identity: TicketIdentity = {
      id: t.id,
      version: t.version,
      generatedTimestamp: t.gts,
      createdAt: t.createdAt,
      updatedAt: t.updatedAt,
      supportType: t.supportType,
      deleted: t.deleted,
    };
    return generateTicket(
      this.#opts.seed,
      identity,
      { descriptionBytes: t.huge ? this.#opts.hugeDescriptionBytes : 0, extraTopLevel: t.id > this.#opts.newKeysFromIndex },
      this.#fields,
      this.#baseUrl,
    );
  }

  #sideloads(tickets: StoredTicket[], include: string[]): [string, unknown[]][] {
    const out: [string, unknown[]][] = [];
    const rendered = include.length > 0 ? tickets.map((t) => this.#render(t)) : [];
    const unique = (key: string): number[] => [...new Set(rendered.map((r) => r[key]).filter((v): v is number => typeof v === 'number'))];
    for (const name of include) {
      if (name === 'users') out.push(['users', unique('requester_id').map((id) => ({ id, name: `User ${id % 100000}`, email: `user${id % 100000}@example.com`, role: 'end-user' }))]);
      else if (name === 'groups') out.push(['groups', unique('group_id').map((id) => ({ id, name: `Group ${id % 100}` }))]);
      else if (name === 'organizations') out.push(['organizations', unique('organization_id').map((id) => ({ id, name: `Org ${id % 1000}` }))]);
      else if (name === 'brands') out.push(['brands', unique('brand_id').map((id) => ({ id, name: `Brand ${id % 10}` }))]);
      else if (name === 'metric_sets') out.push(['metric_sets', rendered.map((r) => ({ ticket_id: r.id, reopens: Number(r.id) % 3, replies: Number(r.id) % 5 }))]);
    }
    return out;
  }

  async #send(req: IncomingMessage, res: ServerResponse, page: PageBody, fault: FaultKind | undefined): Promise<void> {
    const o = this.#opts;
    const gzip = o.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && fault !== 'reset-mid-body' && fault !== 'reset-late-body' && fault !== 'stall';
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'x-rate-limit': String(o.rateLimit ?? 700),
      'x-rate-limit-remaining': String(o.rateLimit === undefined ? 699 : Math.max(0, o.rateLimit - this.#rateHits.length)),
      'zendesk-ratelimit-incremental-exports': `total=${o.rateLimit ?? 10}; remaining=${o.rateLimit === undefined ? 9 : Math.max(0, o.rateLimit - this.#rateHits.length)}; resets=${Math.ceil(o.rateWindowMs / 1000)}`,
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
    const order = o.envelopeOrder === 'random' ? (this.#rand() < 0.5 ? 'tickets-first' : 'tickets-last') : o.envelopeOrder;
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
    for (const [name, rows] of this.#sideloads(page.tickets, page.include)) {
      if (!(await write(`${sep()}${JSON.stringify(name)}:${JSON.stringify(rows)}`))) return;
    }
    if (order === 'tickets-first' && !(await writeMeta())) return;
    await write('}');
    out.end();
  }
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

interface PageBody {
  /** The envelope key of the records. */
  key: string;
  /** The records, rendered lazily while the body streams. */
  items: readonly (() => string)[];
  /** Tickets on the page (for sideloads). */
  tickets: StoredTicket[];
  include: string[];
  meta: Record<string, unknown>;
}

const OTHER_ROUTES: Record<string, { stream: 'users' | 'organizations' | 'ticket_events'; kind: 'time' | 'cursor' }> = {
  '/api/v2/incremental/users': { stream: 'users', kind: 'time' },
  '/api/v2/incremental/users/cursor': { stream: 'users', kind: 'cursor' },
  '/api/v2/incremental/organizations': { stream: 'organizations', kind: 'time' },
  '/api/v2/incremental/ticket_events': { stream: 'ticket_events', kind: 'time' },
};

export async function startMockZendesk(options: MockZendeskOptions = {}, port = 0): Promise<MockZendesk> {
  const mock = new MockZendesk(options);
  await mock.start(port);
  return mock;
}
