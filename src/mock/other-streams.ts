/**
 * The stand-in's other incremental streams: users (time and cursor), organizations (time) and
 * ticket_events (time, with include=comment_events). Each is a list of records sorted by version
 * (Unix seconds) then id, paged the way Zendesk pages them.
 */
export interface SimpleRecord {
  id: number;
  version: number;
  render(includeComments: boolean): Record<string, unknown>;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export function mockUsers(count: number, startEpoch: number): SimpleRecord[] {
  const out: SimpleRecord[] = [];
  for (let k = 0; k < count; k++) {
    const id = 360000000000 + k;
    const version = startEpoch + Math.floor(k * 1.5);
    out.push({
      id,
      version,
      render: () => ({
        id,
        url: `https://example.zendesk.com/api/v2/users/${id}.json`,
        name: `User ${k}`,
        email: `user${k}@example.com`,
        created_at: iso(version - 86400),
        updated_at: iso(version),
        role: k % 20 === 0 ? 'agent' : 'end-user',
        role_type: k % 20 === 0 ? 0 : null,
        organization_id: k % 3 === 0 ? null : 360200000000 + (k % 300),
        active: true,
        suspended: k % 97 === 0,
        verified: k % 2 === 0,
        time_zone: 'Europe/Paris',
        locale: 'fr',
        phone: k % 5 === 0 ? `+33 1 23 45 ${String(k % 100).padStart(2, '0')}` : null,
        tags: k % 4 === 0 ? ['vip'] : [],
        user_fields: { plan: k % 2 ? 'pro' : 'free', seats: k % 50 },
      }),
    });
  }
  return out;
}

export function mockOrganizations(count: number, startEpoch: number): SimpleRecord[] {
  const out: SimpleRecord[] = [];
  for (let k = 0; k < count; k++) {
    const id = 360200000000 + k;
    const version = startEpoch + k * 7;
    out.push({
      id,
      version,
      render: () => ({
        id,
        url: `https://example.zendesk.com/api/v2/organizations/${id}.json`,
        name: `Org ${k}`,
        created_at: iso(version - 3600),
        updated_at: iso(version),
        domain_names: [`org${k}.example.com`],
        group_id: k % 2 ? 360300000000 + (k % 12) : null,
        shared_tickets: k % 2 === 0,
        shared_comments: false,
        tags: [],
        organization_fields: { tier: k % 3 ? 'gold' : 'silver' },
      }),
    });
  }
  return out;
}

/** One audit event per ticket version, with a change and (when asked for) a comment child event. */
export function mockTicketEvents(history: readonly { id: number; generated_timestamp: number }[]): SimpleRecord[] {
  return history.map((h, i) => {
    const id = 900000000 + i;
    return {
      id,
      version: h.generated_timestamp,
      render: (includeComments: boolean) => ({
        id,
        ticket_id: h.id,
        timestamp: h.generated_timestamp,
        created_at: iso(h.generated_timestamp),
        updater_id: 360100000000 + (h.id % 40),
        via: i % 3 ? 'Web form' : 'Mail',
        system: { client: 'Mozilla/5.0', ip_address: '203.0.113.7', location: 'Paris, France' },
        event_type: 'Audit',
        merged_ticket_ids: [],
        child_events: [
          { id: id * 10 + 1, via: 'Web form', event_type: 'Change', field_name: 'status', value: 'open', previous_value: 'new' },
          ...(includeComments ? [{ id: id * 10 + 2, event_type: 'Comment', body: `Comment on ticket ${h.id} — merci 🙂`, public: true, attachments: [] }] : []),
        ],
      }),
    };
  });
}

/** First index whose (version, id) >= (version, id). */
export function lowerBound(list: readonly SimpleRecord[], version: number, id: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const m = list[mid]!;
    if (m.version < version || (m.version === version && m.id < id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
