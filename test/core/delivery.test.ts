import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ledger, compare, contains, frontier, overlaps, type Frontier, type Segment } from '../../src/core/delivery.js';

/** A stream of versions, sorted by version timestamp (ties: several ids share one g). */
type Version = { id: number; g: number };

function stream(gs: number[]): Version[] {
  return [...gs].sort((a, b) => a - b).map((g, i) => ({ id: i + 1, g }));
}

/** The frontier holding exactly the first k versions of a sorted stream. */
function frontierAt(u: readonly Version[], k: number): Frontier {
  if (k >= u.length) return frontier((u.at(-1)?.g ?? 0) + 1);
  const g = u[k]!.g;
  return frontier(g, u.slice(0, k).filter((v) => v.g === g).map((v) => v.id));
}

const covered = (s: Segment, v: Version): boolean => contains(s.to, v.id, v.g) && !contains(s.from, v.id, v.g);

describe('frontiers', () => {
  it('hold every version before `at`, and the listed ids at it', () => {
    const f = frontier(10, [3, 1]);
    expect(f.ids).toEqual([1, 3]);
    expect(contains(f, 99, 9)).toBe(true);
    expect(contains(f, 1, 10)).toBe(true);
    expect(contains(f, 2, 10)).toBe(false);
    expect(contains(f, 1, 11)).toBe(false);
  });

  it('compare by `at`, then by inclusion of ids; NaN when neither holds the other', () => {
    expect(compare(frontier(1), frontier(2))).toBe(-1);
    expect(compare(frontier(2, [1]), frontier(2, [1, 2]))).toBe(-1);
    expect(compare(frontier(2, [1, 2]), frontier(2, [2, 1]))).toBe(0);
    expect(compare(frontier(2, [1]), frontier(2, [2]))).toBeNaN();
  });
});

describe('the ledger, against a stream of versions', () => {
  // Segments cut from one sorted stream at random positions: disjoint pieces of it, some adjacent.
  const arb = fc
    .record({
      gs: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 60 }),
      cuts: fc.array(fc.nat(), { minLength: 2, maxLength: 12 }),
      keep: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
      window: fc.tuple(fc.integer({ min: 0, max: 32 }), fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined })),
    })
    .map(({ gs, cuts, keep, window }) => {
      const u = stream(gs);
      const points = [...new Set(cuts.map((c) => c % (u.length + 1)))].sort((a, b) => a - b);
      const segments: Segment[] = [];
      for (let i = 0; i + 1 < points.length; i++) if (keep[i]) segments.push({ from: frontierAt(u, points[i]!), to: frontierAt(u, points[i + 1]!) });
      return { u, segments, window };
    });

  it('says a version was delivered exactly when a segment holds it', () => {
    fc.assert(
      fc.property(arb, ({ u, segments }) => {
        const ledger = new Ledger(segments);
        for (const v of u) expect(ledger.delivered(v.id, v.g)).toBe(segments.some((s) => covered(s, v)));
      }),
      { numRuns: 400 },
    );
  });

  it('plans gaps that hold exactly the versions of the window the segments lack', () => {
    fc.assert(
      fc.property(arb, ({ u, segments, window }) => {
        const [start, end] = window;
        if (end !== undefined && end <= start) return;
        const ledger = new Ledger(segments);
        const gaps = ledger.gaps({ start, end });
        for (const v of u) {
          const inWindow = v.g >= start && (end === undefined || v.g < end);
          const inGaps = gaps.filter((r) => !contains(r.from, v.id, v.g) && (r.to === undefined || contains(r.to, v.id, v.g))).length;
          expect(inGaps).toBe(inWindow && !ledger.delivered(v.id, v.g) ? 1 : 0);
        }
        // Gaps are ordered and never overlap what is held.
        for (let i = 1; i < gaps.length; i++) expect(gaps[i - 1]!.to && compare(gaps[i - 1]!.to!, gaps[i]!.from) <= 0).toBe(true);
        for (const g of gaps) if (g.to) expect(ledger.overlap({ from: g.from, to: g.to })).toBeUndefined();
      }),
      { numRuns: 400 },
    );
  });

  it('finds an overlap exactly when two pieces of the stream share a version', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { minLength: 4, maxLength: 4 }), (gs, c) => {
        const u = stream(gs);
        const [a0, a1, b0, b1] = c.map((x) => x % (u.length + 1)) as [number, number, number, number];
        const a = { from: frontierAt(u, Math.min(a0, a1)), to: frontierAt(u, Math.max(a0, a1)) };
        const b = { from: frontierAt(u, Math.min(b0, b1)), to: frontierAt(u, Math.max(b0, b1)) };
        const share = u.some((v) => covered(a, v) && covered(b, v));
        // Exact where both pieces hold something; an empty piece overlaps nothing.
        if (share) expect(overlaps(a, b)).toBe(true);
        const aLo = Math.min(a0, a1);
        const aHi = Math.max(a0, a1);
        const bLo = Math.min(b0, b1);
        const bHi = Math.max(b0, b1);
        if (aLo < aHi && bLo < bHi && (aHi <= bLo || bHi <= aLo)) expect(overlaps(a, b)).toBe(false);
      }),
      { numRuns: 600 },
    );
  });

  it('merges segments that meet, keeping the cursor of the further end', () => {
    const l = new Ledger([
      { from: frontier(0), to: frontier(10, [1]), cursor: 'a' },
      { from: frontier(10, [1]), to: frontier(20, [5]), cursor: 'b' },
      { from: frontier(30), to: frontier(40), cursor: 'c' },
    ]);
    expect(l.segments).toEqual([
      { from: frontier(0), to: frontier(20, [5]), cursor: 'b' },
      { from: frontier(30), to: frontier(40), cursor: 'c' },
    ]);
    expect(l.gaps({ start: 0 })).toEqual([
      { from: frontier(20, [5]), to: frontier(30), cursor: 'b' },
      { from: frontier(40), to: undefined, cursor: 'c' },
    ]);
    expect(l.gaps({ start: 5, end: 15 })).toEqual([]);
    expect(l.gaps({ start: 25, end: 35 })).toEqual([{ from: frontier(25), to: frontier(30), cursor: undefined }]);
  });
});
