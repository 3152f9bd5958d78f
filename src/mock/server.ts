import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mockOrganizations, mockTicketEvents, mockUsers, type SimpleRecord } from './other-streams.js';
import { ALL_FAULTS, answerEarlyFault, sendJson, writePage, type FaultKind } from './faults.js';
import { DEFAULT_CREDENTIALS, authenticate, type MockCredentials } from './auth.js';
import { cursorPage, simplePage, timePage, type PageBody, type PageSource } from './pages.js';
import { rateLimitWait, routeOf } from './router.js';
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
export type { MockCredentials } from './auth.js';

/**
 * The Zendesk stand-in: a real HTTP server that behaves like Zendesk's Incremental Ticket Export,
 * traps included. Tests, benchmarks, the README demo and users' own offline tests run against it.
 */

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

    const route = routeOf(path);
    const auth = authenticate(req.headers.authorization, this.credentials);
    if (route.kind === 'me' && auth !== 'unauthorized') {
      // An agent may read itself; only admins may use the incremental exports.
      const role = auth === 'ok' ? 'admin' : 'agent';
      return sendJson(res, 200, { user: { id: 1, url: `${this.#baseUrl}/api/v2/users/1.json`, name: 'Stand-in user', role, active: true } }, { 'x-rate-limit': '700', 'x-rate-limit-remaining': '699' });
    }
    if (auth !== 'ok') {
      record.status = auth === 'forbidden' ? 403 : 401;
      return sendJson(res, record.status, auth === 'forbidden' ? { error: 'Forbidden', description: 'You do not have access to this page. Please contact the account owner of this help desk for further help.' } : { error: "Couldn't authenticate you" });
    }
    if (route.kind === 'ticket-fields') {
      if (this.#fieldFaults > 0) {
        this.#fieldFaults--;
        record.status = 503;
        return sendJson(res, 503, { error: 'ServiceUnavailable' });
      }
      return sendJson(res, 200, { ticket_fields: this.#fields.map((f) => ({ ...f, url: `${this.#baseUrl}/api/v2/ticket_fields/${f.id}.json`, raw_title: f.title })), next_page: null, previous_page: null, count: this.#fields.length });
    }
    if (route.kind !== 'tickets' && route.kind !== 'other') {
      record.status = 404;
      return sendJson(res, 404, { error: 'InvalidEndpoint', description: 'Not found' });
    }

    this.#exportRequests++;
    const o = this.#opts;
    if (o.lateFieldAfterRequests !== undefined && this.#exportRequests > o.lateFieldAfterRequests) this.addLateField();
    if (o.updateEvery > 0 && this.#exportRequests % o.updateEvery === 0) this.updateTickets(o.updateCount);

    // Rate limit: a sliding window of export requests.
    if (o.rateLimit !== undefined) {
      const limited = rateLimitWait(this.#rateHits, Date.now(), o.rateLimit, o.rateWindowMs);
      this.#rateHits = limited.hits;
      if (limited.wait !== undefined) {
        record.status = 429;
        return sendJson(res, 429, { error: 'APIRateLimitExceeded', description: 'Number of allowed incremental export API requests per minute exceeded' }, { 'retry-after': String(limited.wait) });
      }
    }

    const queued = this.#queued.shift();
    const fault = queued === 'none' ? undefined : (queued ?? (o.faultRate > 0 && this.#rand() < o.faultRate ? o.faultKinds[Math.floor(this.#rand() * o.faultKinds.length)] : undefined));
    if (fault) record.fault = fault;
    const early = answerEarlyFault(fault, res, req, this.#opts.retryAfterSeconds);
    if (early !== undefined) {
      record.status = early;
      return;
    }

    const src = this.#pageSource();
    let page = route.kind === 'other' ? simplePage(src, route.stream, route.mode, query, res) : route.mode === 'time' ? timePage(src, query, res) : cursorPage(src, query, res);
    if (page === undefined) {
      record.status = res.statusCode;
      return;
    }
    if (route.kind === 'tickets' && o.repeatPreviousHead) page = this.#withPreviousHead(page);
    await writePage(req, res, page, fault, o, this.#rateHits.length, this.#rand, (tickets, include) => this.#sideloads(tickets, include));
  }

  /** What the pages read of this stand-in, as it is now. */
  #pageSource(): PageSource {
    return {
      store: this.#store,
      baseUrl: this.#baseUrl,
      cursorGeneration: this.#cursorGeneration,
      clumpBehaviour: this.#opts.clumpBehaviour,
      now: this.#opts.now,
      renderText: (t) => this.#renderText(t),
      records: (stream) => this.records(stream),
    };
  }

  /** `repeatPreviousHead`: the last ticket page's first ticket leads this page too. */
  #withPreviousHead(page: PageBody): PageBody {
    const head = this.#previousHead;
    this.#previousHead = page.tickets[0] ?? head;
    if (!head || page.tickets.length === 0 || page.tickets[0] === head) return page;
    return { ...page, items: [() => this.#renderText(head), ...page.items], tickets: [head, ...page.tickets] };
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
}

export async function startMockZendesk(options: MockZendeskOptions = {}, port = 0): Promise<MockZendesk> {
  const mock = new MockZendesk(options);
  await mock.start(port);
  return mock;
}
