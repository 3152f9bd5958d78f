/** Which of the stand-in's endpoints a request path names. */

export type OtherStream = 'users' | 'organizations' | 'ticket_events';

export type Route =
  | { kind: 'me' }
  | { kind: 'ticket-fields' }
  | { kind: 'tickets'; mode: 'time' | 'cursor' }
  | { kind: 'other'; stream: OtherStream; mode: 'time' | 'cursor' }
  | { kind: 'not-found' };

const OTHER_ROUTES: Record<string, { stream: OtherStream; kind: 'time' | 'cursor' }> = {
  '/api/v2/incremental/users': { stream: 'users', kind: 'time' },
  '/api/v2/incremental/users/cursor': { stream: 'users', kind: 'cursor' },
  '/api/v2/incremental/organizations': { stream: 'organizations', kind: 'time' },
  '/api/v2/incremental/ticket_events': { stream: 'ticket_events', kind: 'time' },
};

/** The route of a path (without `.json`). */
export function routeOf(path: string): Route {
  if (path === '/api/v2/users/me') return { kind: 'me' };
  if (path === '/api/v2/ticket_fields') return { kind: 'ticket-fields' };
  if (path === '/api/v2/incremental/tickets') return { kind: 'tickets', mode: 'time' };
  if (path === '/api/v2/incremental/tickets/cursor') return { kind: 'tickets', mode: 'cursor' };
  const other = OTHER_ROUTES[path];
  if (other) return { kind: 'other', stream: other.stream, mode: other.kind };
  return { kind: 'not-found' };
}

/** A sliding window of export requests: the seconds to wait when `hits` already fill it, else undefined (and `now` is counted). */
export function rateLimitWait(hits: number[], nowMs: number, limit: number, windowMs: number): { hits: number[]; wait: number | undefined } {
  const live = hits.filter((t) => t > nowMs - windowMs);
  if (live.length >= limit) return { hits: live, wait: Math.max(1, Math.ceil((live[0]! + windowMs - nowMs) / 1000)) };
  live.push(nowMs);
  return { hits: live, wait: undefined };
}
