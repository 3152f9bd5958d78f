/**
 * What was delivered: the one place that decides whether a record version was already delivered,
 * for the paginator, replay and the lake sink alike. Pure: no I/O.
 *
 * A stream's versions are ordered by their version timestamp `g` (a ticket's `generated_timestamp`).
 * Positions in that order are frontiers, and what a table holds is a set of segments between them:
 *
 *  - a Frontier `{ at, ids }` stands for every version with `g < at`, plus the versions `(id, at)`
 *    for each id in `ids` (the ids delivered at the boundary timestamp, which an inclusive
 *    `start_time` brings again);
 *  - a Segment `{ from, to }` holds the versions past `from` up to `to`: those in `to`'s set and
 *    not in `from`'s;
 *  - a Ledger is the union of a table's committed segments. It answers "was (id, g) delivered?",
 *    gives the gaps a window still needs, and refuses a commit that would overlap what is there.
 */

export interface Frontier {
  /** A version timestamp (Unix seconds). */
  at: number;
  /** Ids delivered at exactly `at`, ascending. */
  ids: number[];
}

/** A committed piece of a stream, with what is needed to go on from its end. */
export interface Segment {
  from: Frontier;
  to: Frontier;
  /** Cursor mode: the cursor that continues the stream right after `to` (opaque). */
  cursor?: string | undefined;
}

/** A range still to export: from a frontier to another, or open-ended. */
export interface ExportRange {
  from: Frontier;
  /** Exclusive end; undefined: up to now, and on at the next run. */
  to?: Frontier | undefined;
  /** A cursor that continues the stream right after `from`, when one is known. */
  cursor?: string | undefined;
}

/** A window of version timestamps: `[start, end)`, end undefined for open-ended. */
export interface Window {
  start: number;
  end?: number | undefined;
}

export function frontier(at: number, ids: Iterable<number> = []): Frontier {
  return { at, ids: [...new Set(ids)].sort((a, b) => a - b) };
}

/** True when `(id, g)` is at or before `f`. */
export function contains(f: Frontier, id: number, g: number): boolean {
  return g < f.at || (g === f.at && has(f.ids, id));
}

function has(sorted: readonly number[], id: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (v === id) return true;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

function subset(a: readonly number[], b: readonly number[]): boolean {
  if (a.length > b.length) return false;
  for (const id of a) if (!has(b, id)) return false;
  return true;
}

/** -1, 0 or 1 when one frontier's set holds the other's; NaN when neither does (same `at`, other ids). */
export function compare(a: Frontier, b: Frontier): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  const ab = subset(a.ids, b.ids);
  const ba = subset(b.ids, a.ids);
  if (ab && ba) return 0;
  if (ab) return -1;
  if (ba) return 1;
  return Number.NaN;
}

export function sameFrontier(a: Frontier, b: Frontier): boolean {
  return compare(a, b) === 0;
}

/** The frontier whose set is the union of both sets. */
export function union(a: Frontier, b: Frontier): Frontier {
  if (a.at !== b.at) return a.at > b.at ? a : b;
  return frontier(a.at, [...a.ids, ...b.ids]);
}

/** What a segment covers at one timestamp. */
type Cover = { kind: 'none' } | { kind: 'all' } | { kind: 'only'; ids: readonly number[] } | { kind: 'except'; ids: readonly number[] };

function coverAt(s: Segment, g: number): Cover {
  if (g < s.from.at || g > s.to.at) return { kind: 'none' };
  if (g > s.from.at && g < s.to.at) return { kind: 'all' };
  if (g > s.from.at) return s.to.ids.length > 0 ? { kind: 'only', ids: s.to.ids } : { kind: 'none' };
  if (g < s.to.at) return { kind: 'except', ids: s.from.ids };
  const ids = s.to.ids.filter((id) => !has(s.from.ids, id));
  return ids.length > 0 ? { kind: 'only', ids } : { kind: 'none' };
}

function meet(a: Cover, b: Cover): boolean {
  if (a.kind === 'none' || b.kind === 'none') return false;
  if (a.kind === 'all' || b.kind === 'all') return true;
  if (a.kind === 'except' && b.kind === 'except') return true; // ids are unbounded
  if (a.kind === 'only' && b.kind === 'only') return a.ids.some((id) => has(b.ids, id));
  const only = a.kind === 'only' ? a : (b as { ids: readonly number[] });
  const except = a.kind === 'except' ? a : (b as { ids: readonly number[] });
  return only.ids.some((id) => !has(except.ids, id));
}

/** True when two segments could both hold one version. */
export function overlaps(a: Segment, b: Segment): boolean {
  const lo = Math.max(a.from.at, b.from.at);
  const hi = Math.min(a.to.at, b.to.at);
  if (lo > hi) return false;
  const points = hi - lo >= 2 ? [lo, lo + 1, hi] : [lo, hi];
  return points.some((g) => meet(coverAt(a, g), coverAt(b, g)));
}

/** True when the segment holds nothing. */
export function isEmpty(s: Segment): boolean {
  const c = compare(s.to, s.from);
  return c === 0 || c === -1;
}

export function describeFrontier(f: Frontier): string {
  return f.ids.length === 0 ? `${f.at}` : `${f.at} (+${f.ids.length} ids at it)`;
}

export function describeSegment(s: { from: Frontier; to?: Frontier | undefined }): string {
  return `[${describeFrontier(s.from)}, ${s.to ? describeFrontier(s.to) : 'open'})`;
}

/**
 * The segments a table holds, merged where they meet. Answers "was this version delivered?",
 * plans what a window still needs, and finds overlaps before a commit.
 */
export class Ledger {
  readonly #segments: Segment[];

  constructor(segments: Iterable<Segment> = []) {
    this.#segments = mergeSegments([...segments].filter((s) => !isEmpty(s)));
  }

  /** The merged segments, ordered. */
  get segments(): readonly Segment[] {
    return this.#segments;
  }

  /** A ledger with more segments. */
  with(segments: Iterable<Segment>): Ledger {
    return new Ledger([...this.#segments, ...segments]);
  }

  /** Was the version `(id, g)` delivered? */
  delivered(id: number, g: number): boolean {
    // Segments are ordered by `from.at` and disjoint; look at those that can hold g.
    const list = this.#segments;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.to.at < g) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < list.length && list[i]!.from.at <= g; i++) {
      const s = list[i]!;
      if (contains(s.to, id, g) && !contains(s.from, id, g)) return true;
    }
    return false;
  }

  /** The first committed segment that `s` would overlap, if any. */
  overlap(s: Segment): Segment | undefined {
    if (isEmpty(s)) return undefined;
    return this.#segments.find((t) => overlaps(s, t));
  }

  /**
   * What a window still needs: the ranges of `[start, end)` no segment holds, in order. Each range
   * carries the cursor of the segment it continues, when that segment recorded one.
   */
  gaps(window: Window): ExportRange[] {
    return this.gapsBetween(frontier(window.start), window.end === undefined ? undefined : frontier(window.end));
  }

  /** The parts between two frontiers (the second undefined: open-ended) that no segment holds. */
  gapsBetween(from: Frontier, end: Frontier | undefined): ExportRange[] {
    let at: Frontier = from;
    let cursor: string | undefined;
    const out: ExportRange[] = [];
    for (const s of this.#segments) {
      if (end && !(compare(s.from, end) < 0)) break; // starts at or after the end
      const c = compare(s.to, at);
      if (c === 0 || c === -1) continue; // wholly before
      const before = compare(at, s.from);
      if (before === -1 || Number.isNaN(before)) {
        const to = end && compare(end, s.from) < 0 ? end : s.from;
        out.push({ from: at, to, cursor });
      }
      at = union(at, s.to);
      cursor = s.cursor;
      if (end && !(compare(at, end) < 0)) return out;
    }
    if (!end || compare(at, end) < 0) out.push({ from: at, to: end, cursor });
    return out;
  }
}

function mergeSegments(list: Segment[]): Segment[] {
  const sorted = [...list].sort((a, b) => a.from.at - b.from.at || a.from.ids.length - b.from.ids.length);
  const out: Segment[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last) {
      const c = compare(s.from, last.to);
      if (c === 0 || c === -1) {
        // Meets or starts inside the last one: one segment. Keep the cursor of the further end.
        const further = compare(s.to, last.to) === 1;
        const to = union(last.to, s.to);
        out[out.length - 1] = { from: last.from, to, cursor: further ? s.cursor : last.cursor };
        continue;
      }
    }
    out.push({ from: s.from, to: s.to, cursor: s.cursor });
  }
  return out;
}
