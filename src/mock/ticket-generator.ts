/**
 * Deterministic, realistic Zendesk tickets for the stand-in. A ticket is a pure function of
 * (seed, id, version), so the stand-in keeps only a few numbers per ticket and can serve millions.
 */

export interface MockCustomField {
  id: number;
  type: 'text' | 'textarea' | 'checkbox' | 'date' | 'integer' | 'decimal' | 'regexp' | 'tagger' | 'multiselect' | 'partialcreditcard' | 'lookup';
  title: string;
  active: boolean;
}

/** The custom fields every stand-in account starts with: one of each type Zendesk has. */
export const BASE_CUSTOM_FIELDS: readonly MockCustomField[] = [
  { id: 360001, type: 'text', title: 'Order number', active: true },
  { id: 360002, type: 'textarea', title: 'Steps to reproduce', active: true },
  { id: 360003, type: 'checkbox', title: 'VIP customer', active: true },
  { id: 360004, type: 'date', title: 'Renewal date', active: true },
  { id: 360005, type: 'integer', title: 'Seats', active: true },
  { id: 360006, type: 'decimal', title: 'Refund amount (€)', active: true },
  { id: 360007, type: 'regexp', title: 'SKU', active: true },
  { id: 360008, type: 'tagger', title: 'Product area', active: true },
  { id: 360009, type: 'multiselect', title: 'Affected platforms', active: true },
  { id: 360010, type: 'partialcreditcard', title: 'Card', active: true },
  { id: 360011, type: 'lookup', title: 'Linked account', active: true },
];

/** The field the stand-in can create in the middle of a run (schema drift). */
export const LATE_CUSTOM_FIELD: MockCustomField = { id: 360099, type: 'integer', title: 'Escalation level', active: true };

/** mulberry32: a tiny seeded PRNG, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'order', 'refund', 'login', 'password', 'invoice', 'shipping', 'delay', 'broken', 'screen', 'update',
  'account', 'billing', 'export', 'api', 'timeout', 'cannot', 'please', 'help', 'urgent', 'thanks',
  'café', 'naïve', 'façade', 'Größe', 'Ærø', 'smörgåsbord', '東京', '注文', '환불', 'доставка',
  'مرحبا', 'שלום', '🙂', '🚚', '👩🏽‍💻', '🇫🇷', 'e\u0301', 'quote"inside', 'back\\slash', 'tab\there',
  'line\nbreak', '\u2028sep', 'null\u0000byte', '<b>html</b>', "it's", '{"json":"looking"}', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
];
const CHANNELS: (string | number)[] = ['email', 'web', 'api', 'chat', 'voice', 'mobile', 'messaging', 'sms', 'native_messaging', 4, 0];
const STATUSES = ['new', 'open', 'pending', 'hold', 'solved', 'closed'];
const PRIORITIES = ['urgent', 'high', 'normal', 'low', null];
const TYPES = ['problem', 'incident', 'question', 'task', null];
const PLATFORMS = ['ios', 'android', 'web', 'windows', 'macos', 'linux'];
const AREAS = ['billing', 'onboarding', 'integrations', 'reporting', 'mobile_app'];

export interface TicketShape {
  /** Extra bytes of description for this ticket (0 for a typical ticket). */
  descriptionBytes: number;
  /** Top-level keys to add (schema drift): added to tickets at or past a point in the stream. */
  extraTopLevel: boolean;
}

export interface TicketIdentity {
  id: number;
  version: number;
  generatedTimestamp: number;
  createdAt: number; // Unix seconds
  updatedAt: number; // Unix seconds
  supportType: 'agent' | 'ai_agent';
  deleted: boolean;
}

function sentence(rand: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)]!);
  return out.join(' ');
}

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

function maybe<T>(rand: () => number, p: number, value: T): T | null {
  return rand() < p ? null : value;
}

function ids(rand: () => number, max: number): number[] {
  const n = Math.floor(rand() * (max + 1));
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(360000000000 + Math.floor(rand() * 1e9));
  return out;
}

function customValue(rand: () => number, field: MockCustomField, id: number): unknown {
  if (rand() < 0.15) return null;
  switch (field.type) {
    case 'checkbox':
      return rand() < 0.5;
    case 'integer':
      // Zendesk sends integer fields as strings; one in a few hundred is junk a user typed long ago,
      // and now and then one holds an int64 beyond 2^53 (an order number, a phone number).
      return id % 397 === 0 ? 'abc' : id % 499 === 0 ? String(9007199254740993n + BigInt(id)) : String(Math.floor(rand() * 5000) - 100);
    case 'decimal':
      return (Math.round(rand() * 1e6) / 100).toFixed(2);
    case 'date':
      return iso(1_500_000_000 + Math.floor(rand() * 300_000_000)).slice(0, 10);
    case 'multiselect': {
      const n = Math.floor(rand() * 3);
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(pick(rand, PLATFORMS));
      return [...new Set(out)];
    }
    case 'tagger':
      return pick(rand, AREAS);
    case 'partialcreditcard':
      return `XXXXXXXXXXXX${String(1000 + Math.floor(rand() * 8999))}`;
    case 'lookup':
      return 900000 + Math.floor(rand() * 1000);
    default:
      return sentence(rand, 1 + Math.floor(rand() * 4));
  }
}

/** Build one ticket version as Zendesk's export would send it. */
export function generateTicket(
  seed: number,
  identity: TicketIdentity,
  shape: TicketShape,
  fields: readonly MockCustomField[],
  subdomainUrl: string,
): Record<string, unknown> {
  const { id, version } = identity;
  const rand = prng((seed ^ Math.imul(id, 2654435761) ^ Math.imul(version + 1, 40503)) >>> 0);
  const channel = pick(rand, CHANNELS);
  let description = `${sentence(rand, 220 + Math.floor(rand() * 220))}\n\n${sentence(rand, 30)}`;
  if (shape.descriptionBytes > 0) {
    const block = `${sentence(rand, 50)}\n`;
    description += block.repeat(Math.ceil(shape.descriptionBytes / Buffer.byteLength(block)));
  }
  const subject = sentence(rand, 3 + Math.floor(rand() * 6));
  const satisfaction =
    rand() < 0.3
      ? null
      : rand() < 0.5
        ? { score: 'unoffered' }
        : {
            id: 5000000 + id,
            score: pick(rand, ['good', 'bad', 'offered']),
            comment: maybe(rand, 0.5, sentence(rand, 6)),
            ...(rand() < 0.5 ? { reason: 'Issue took too long', reason_id: 1000 + Math.floor(rand() * 5) } : {}),
          };
  const from: Record<string, unknown> =
    channel === 'email'
      ? { address: `customer${id % 1000}@example.com`, name: `Customer ${id % 1000}` }
      : rand() < 0.2
        ? { ticket_id: id - 1, subject: 'Follow-up', channel: 'web' }
        : {};
  const to: Record<string, unknown> = channel === 'email' ? { address: 'support@example.zendesk.com', name: 'Support' } : {};
  const customFields = fields.map((f) => ({ id: f.id, value: customValue(rand, f, id) }));
  const status = identity.deleted ? 'deleted' : pick(rand, STATUSES);
  const ticket: Record<string, unknown> = {
    url: `${subdomainUrl}/api/v2/tickets/${id}.json`,
    id,
    external_id: maybe(rand, 0.7, `ext-${id}`),
    via: { channel, source: { from, to, rel: maybe(rand, 0.6, pick(rand, ['follow_up', 'zendesk', 'mobile'])) } },
    created_at: iso(identity.createdAt),
    updated_at: iso(identity.updatedAt),
    generated_timestamp: identity.generatedTimestamp,
    type: pick(rand, TYPES),
    subject: maybe(rand, 0.05, subject),
    raw_subject: subject,
    description,
    priority: pick(rand, PRIORITIES),
    status,
    recipient: maybe(rand, 0.5, 'support@example.zendesk.com'),
    requester_id: 360000000000 + (id % 50000),
    submitter_id: 360000000000 + (id % 50000),
    assignee_id: maybe(rand, 0.3, 360100000000 + (id % 40)),
    organization_id: maybe(rand, 0.4, 360200000000 + (id % 300)),
    group_id: maybe(rand, 0.2, 360300000000 + (id % 12)),
    collaborator_ids: ids(rand, 3),
    follower_ids: ids(rand, 2),
    email_cc_ids: ids(rand, 2),
    forum_topic_id: null,
    problem_id: maybe(rand, 0.9, Math.max(1, id - 7)),
    has_incidents: rand() < 0.1,
    is_public: rand() < 0.9,
    due_at: maybe(rand, 0.8, iso(identity.createdAt + 86400 * 3)),
    tags: [...new Set([pick(rand, AREAS), pick(rand, ['vip', 'churn_risk', 'beta', 'läuft', '中文'])])],
    custom_fields: customFields,
    satisfaction_rating: satisfaction,
    sharing_agreement_ids: [],
    custom_status_id: 30000000 + STATUSES.indexOf(status === 'deleted' ? 'closed' : status),
    fields: customFields,
    followup_ids: id % 11 === 0 ? [id + 1] : [],
    ticket_form_id: maybe(rand, 0.3, 360400000000 + (id % 3)),
    brand_id: 360500000000 + (id % 2),
    allow_channelback: false,
    allow_attachments: true,
    from_messaging_channel: channel === 'messaging',
    support_type: identity.supportType,
    encoded_id: `${id.toString(36).toUpperCase()}-${(id * 7).toString(36).toUpperCase()}`,
  };
  if (shape.extraTopLevel) {
    ticket.ai_summary = { text: sentence(rand, 8), model: 'zd-2026' };
    ticket.sentiment_score = Math.round(rand() * 100) / 100;
  }
  return ticket;
}
