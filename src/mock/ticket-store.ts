/** A ticket as the stand-in keeps it: a few numbers; its JSON is rendered from them on demand. */
export interface StoredTicket {
  id: number;
  version: number;
  gts: number;
  createdAt: number;
  updatedAt: number;
  supportType: 'agent' | 'ai_agent';
  deleted: boolean;
  huge: boolean;
}

export interface StoreOptions {
  tickets: number;
  startEpoch: number;
  spacing: number;
  clumps: readonly (readonly [number, number])[];
  aiAgentEvery: number;
  deletedEvery: number;
  hugeEvery: number;
}

export interface Scope {
  scope: string;
  excludeDeleted: boolean;
}

/** The account's tickets, sorted by (generated_timestamp, id) as the export serves them. */
export class TicketStore {
  /** Every (id, generated_timestamp) that has ever existed, in order of creation. */
  readonly history: { id: number; generated_timestamp: number }[] = [];
  readonly #byId = new Map<number, StoredTicket>();
  readonly #order: StoredTicket[] = [];
  readonly #opts: StoreOptions;

  constructor(opts: StoreOptions) {
    this.#opts = opts;
    this.#populate();
  }

  get size(): number {
    return this.#order.length;
  }

  at(i: number): StoredTicket | undefined {
    return this.#order[i];
  }

  get(id: number): StoredTicket | undefined {
    return this.#byId.get(id);
  }

  #populate(): void {
    const o = this.#opts;
    const clumpAt = new Map(o.clumps.map(([start, size]) => [start, size]));
    let clumpLeft = 0;
    let clumpGts = 0;
    let last = 0;
    for (let i = 0; i < o.tickets; i++) {
      const id = i + 1;
      let gts = o.startEpoch + Math.floor(i * o.spacing);
      const size = clumpAt.get(i);
      if (size !== undefined) {
        clumpLeft = size;
        clumpGts = Math.max(gts, last);
      }
      if (clumpLeft > 0) {
        gts = clumpGts;
        clumpLeft--;
      }
      gts = Math.max(gts, last);
      last = gts;
      const t: StoredTicket = {
        id,
        version: 0,
        gts,
        createdAt: gts - 3600 * (1 + (id % 200)),
        updatedAt: id % 9 === 0 ? gts - 3600 * 2 : gts, // system updates move generated_timestamp only
        supportType: o.aiAgentEvery > 0 && id % o.aiAgentEvery === 0 ? 'ai_agent' : 'agent',
        deleted: o.deletedEvery > 0 && id % o.deletedEvery === 0,
        huge: o.hugeEvery > 0 && id % o.hugeEvery === 0,
      };
      this.#byId.set(id, t);
      this.#order.push(t);
      this.history.push({ id, generated_timestamp: gts });
    }
  }

  /** Update tickets now: each gets a new version at the end of the stream. */
  update(count: number, rand: () => number): void {
    for (let k = 0; k < count; k++) {
      const id = 1 + Math.floor(rand() * this.#opts.tickets);
      const t = this.#byId.get(id)!;
      const idx = this.indexOf(t);
      this.#order.splice(idx, 1);
      const maxGts = this.#order.length > 0 ? this.#order[this.#order.length - 1]!.gts : t.gts;
      t.version++;
      t.gts = Math.max(maxGts, t.gts) + 1;
      t.updatedAt = t.gts;
      this.#order.push(t);
      this.history.push({ id, generated_timestamp: t.gts });
    }
  }

  /**
   * The ticket versions a complete export with these parameters must deliver: the current version of
   * every ticket in scope. Sorted by id.
   */
  expected(scope: { supportTypeScope?: 'agent' | 'ai_agent' | 'all'; excludeDeleted?: boolean; startTime?: number; endTime?: number } = {}): { id: number; generated_timestamp: number }[] {
    const scopeName = scope.supportTypeScope ?? 'all';
    return this.#order
      .filter((t) => this.inScope(t, scopeName, scope.excludeDeleted ?? false))
      .filter((t) => t.gts >= (scope.startTime ?? 0) && (scope.endTime === undefined || t.gts < scope.endTime))
      .map((t) => ({ id: t.id, generated_timestamp: t.gts }))
      .sort((a, b) => a.id - b.id);
  }

  inScope(t: StoredTicket, scope: string, excludeDeleted: boolean): boolean {
    if (excludeDeleted && t.deleted) return false;
    if (scope === 'agent' && t.supportType !== 'agent') return false;
    if (scope === 'ai_agent' && t.supportType !== 'ai_agent') return false;
    return true;
  }

  indexOf(t: StoredTicket): number {
    const i = this.lowerBound(t.gts, t.id);
    if (this.#order[i] !== t) throw new Error('mock store out of order');
    return i;
  }

  /** First index whose (gts, id) >= (gts, id). */
  lowerBound(gts: number, id: number): number {
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.#order[mid]!;
      if (m.gts < gts || (m.gts === gts && m.id < id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  anyInScopeFrom(from: number, p: Scope): boolean {
    for (let i = from; i < this.#order.length; i++) if (this.inScope(this.#order[i]!, p.scope, p.excludeDeleted)) return true;
    return false;
  }

  collect(from: number, perPage: number, p: Scope, grow: boolean): StoredTicket[] {
    const out: StoredTicket[] = [];
    let i = from;
    for (; i < this.#order.length && out.length < perPage; i++) {
      const t = this.#order[i]!;
      if (this.inScope(t, p.scope, p.excludeDeleted)) out.push(t);
    }
    if (grow && out.length > 0) {
      // Zendesk's documented behaviour: a page never splits tickets that share the last timestamp.
      const lastGts = out[out.length - 1]!.gts;
      for (; i < this.#order.length && this.#order[i]!.gts === lastGts; i++) {
        const t = this.#order[i]!;
        if (this.inScope(t, p.scope, p.excludeDeleted)) out.push(t);
      }
    }
    return out;
  }

}
