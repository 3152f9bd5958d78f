import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ledger, frontier, isEmpty, type ExportRange, type Segment } from '../../src/core/delivery.js';
import { Paginator, rangeFrom, type ExportPosition, type PageMeta, type PageRequest, type PaginationMode } from '../../src/source/pagination.js';

/**
 * Model-based tests of the pagination core: random runs against a reference model of Zendesk's two
 * incremental endpoints (inclusive start_time, boundary duplicates, clumps sharing one timestamp,
 * opaque cursors), with connection resets and truncated bodies in the middle of pages, crashes that
 * lose what was not committed, and windows planned from what a table holds. Whatever happens, each
 * version of the stream is committed exactly once.
 */

type Version = { id: number; g: number };

/** Zendesk as a pure function of the stream: the page for a request. */
function serve(u: readonly Version[], req: PageRequest, perPage: number): { tickets: Version[]; meta: PageMeta } {
  if (req.endpoint === 'time') {
    const s = req.startTime ?? 0;
    const after = u.filter((v) => v.g >= s);
    const page = after.slice(0, perPage);
    // The documented behaviour for clumps: the page grows until the timestamp changes.
    while (page.length === perPage && page.length < after.length && after[page.length]!.g === page.at(-1)!.g) page.push(after[page.length]!);
    const last = page.at(-1);
    return { tickets: page, meta: { end_time: last ? last.g : s, end_of_stream: page.length === after.length, count: page.length } };
  }
  const i = req.cursor !== undefined ? Number(req.cursor) : u.findIndex((v) => v.g >= (req.startTime ?? 0));
  const from = i < 0 ? u.length : i;
  const page = u.slice(from, from + perPage);
  return { tickets: page, meta: { after_cursor: String(from + page.length), end_of_stream: from + page.length >= u.length } };
}

interface Step {
  /** Fail this attempt after delivering this many of the page's tickets (a reset mid-body). */
  failAfter?: number;
  /** Commit after this page. */
  commit: boolean;
  /** Crash after this page: what was not committed is lost, the run starts again from the table. */
  crash: boolean;
}

/** A table in memory: committed versions and segments, as the lake sink and the log keep them. */
class TableModel {
  readonly rows: string[] = [];
  segments: Segment[] = [];
  ledger(): Ledger {
    return new Ledger(this.segments);
  }
}

/** Export one range with random failures; commit at random points; return false on a crash. */
function exportRange(u: readonly Version[], range: ExportRange, mode: PaginationMode, perPage: number, steps: Step[], table: TableModel, at: { i: number; crashes: number }): boolean {
  const p = new Paginator({ mode, range, now: () => 1e12 });
  let pending: string[] = [];
  let committedTo = range.from;
  const commit = (pos: ExportPosition): void => {
    const seg = { from: committedTo, to: pos.reached, cursor: pos.cursor };
    expect(table.ledger().overlap(seg)).toBeUndefined();
    if (!isEmpty(seg)) table.segments.push(seg);
    table.rows.push(...pending);
    pending = [];
    committedTo = pos.reached;
  };
  let failures = 0;
  for (let guard = 0; !p.done && guard < 10_000; guard++) {
    const step = steps[at.i++ % steps.length]!;
    const req = p.nextRequest();
    const { tickets, meta } = serve(u, req, perPage);
    if (step.failAfter !== undefined && step.failAfter < tickets.length && failures < 3) {
      failures++;
      for (const t of tickets.slice(0, step.failAfter)) if (p.accept(t.id, t.g)) pending.push(`${t.id}:${t.g}`);
      continue; // the same request again
    }
    failures = 0;
    for (const t of tickets) if (p.accept(t.id, t.g)) pending.push(`${t.id}:${t.g}`);
    p.completePage(meta, perPage);
    if (step.crash && at.crashes++ < 6) return false;
    if (step.commit || p.done) commit(p.position());
  }
  expect(p.done).toBe(true);
  return true;
}

const arbRun = fc.record({
  gs: fc.array(fc.integer({ min: 100, max: 160 }), { minLength: 1, maxLength: 120 }),
  perPage: fc.integer({ min: 2, max: 9 }),
  mode: fc.constantFrom<PaginationMode>('time', 'cursor'),
  steps: fc.array(fc.record({ failAfter: fc.option(fc.nat({ max: 9 }), { nil: undefined, freq: 3 }), commit: fc.boolean(), crash: fc.boolean().map((b) => b && Math.random() < 0.3) }), { minLength: 1, maxLength: 40 }),
  windows: fc.array(fc.tuple(fc.integer({ min: 90, max: 170 }), fc.option(fc.integer({ min: 90, max: 175 }), { nil: undefined })), { minLength: 1, maxLength: 4 }),
});

function versions(gs: number[]): Version[] {
  return [...gs].sort((a, b) => a - b).map((g, i) => ({ id: 1000 + ((i * 7919) % 1009), g }));
}

describe('the paginator against a model of Zendesk', () => {
  it('commits every version of a window once, through resets mid-page, crashes and overlapping windows', () => {
    fc.assert(
      fc.property(arbRun, ({ gs, perPage, mode, steps, windows }) => {
        const u = versions(gs).filter((v, i, all) => all.findIndex((w) => w.id === v.id) === i);
        const table = new TableModel();
        const at = { i: 0, crashes: 0 };
        for (const [start, end] of windows) {
          if (end !== undefined && end <= start) continue;
          // A window runs until it completes, crashing and resuming from what the table holds.
          for (let attempt = 0; attempt < 200; attempt++) {
            const ranges = table.ledger().gaps({ start, end });
            let crashed = false;
            for (const r of ranges) {
              if (!exportRange(u, r, mode, perPage, steps, table, at)) {
                crashed = true;
                break;
              }
            }
            if (!crashed) break;
          }
        }
        // Every version some window covers is there once; nothing outside the windows.
        const want = u.filter((v) => windows.some(([s, e]) => (e === undefined || e > s) && v.g >= s && (e === undefined || v.g < e))).map((v) => `${v.id}:${v.g}`);
        expect([...table.rows].sort()).toEqual(want.sort());
      }),
      { numRuns: 300 },
    );
  });

  it('a reset in the middle of a page that starts at the previous boundary does not deliver the boundary again', () => {
    // Three tickets at g=100 straddle the page boundary: the next time page starts at start_time=100.
    const u: Version[] = [
      { id: 1, g: 99 },
      { id: 2, g: 100 },
      { id: 3, g: 100 },
      { id: 4, g: 101 },
      { id: 5, g: 102 },
      { id: 6, g: 103 },
    ];
    const p = new Paginator({ mode: 'time', range: { from: frontier(0) }, now: () => 1e12 });
    const got: string[] = [];
    const page = (failAfter?: number): void => {
      const req = p.nextRequest();
      const { tickets, meta } = serve(u, req, 3);
      for (const t of failAfter === undefined ? tickets : tickets.slice(0, failAfter)) if (p.accept(t.id, t.g)) got.push(`${t.id}:${t.g}`);
      if (failAfter === undefined) p.completePage(meta, 3);
    };
    page(); // 1, 2, 3 (end_time 100)
    page(3); // 2 and 3 again (skipped), then 4; reset: 4 was delivered, the watermark moved to 101
    page(); // the retry: 2 and 3 again must still be skipped, and 4 too
    page();
    expect(got).toEqual(['1:99', '2:100', '3:100', '4:101', '5:102', '6:103']);
  });

  it('resumes from a checkpoint position with rangeFrom, and a finished window stays finished', () => {
    const u = versions([1, 2, 3, 4, 5, 6, 7, 8]);
    const p = new Paginator({ mode: 'cursor', range: { from: frontier(0), to: frontier(5) }, now: () => 1e12 });
    while (!p.done) {
      const req = p.nextRequest();
      const { tickets, meta } = serve(u, req, 3);
      for (const t of tickets) p.accept(t.id, t.g);
      p.completePage(meta, 3);
    }
    const pos = p.position();
    expect(pos.reached).toEqual(frontier(5)); // passed the end: closed
    const again = new Paginator({ mode: 'cursor', range: rangeFrom(pos), now: () => 1e12 });
    expect(again.done).toBe(true);
  });
});
