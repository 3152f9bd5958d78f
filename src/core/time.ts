import { invalidOption } from './errors.js';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Parse a point in time given as Unix seconds (`1714521600`) or ISO-8601 (`2024-05-01`,
 * `2024-05-01T12:00:00Z`, `2024-05-01T14:00:00+02:00`). A date alone means midnight UTC. A date-time
 * must say its zone: the local zone of whatever machine runs the export is never guessed.
 */
export function parseTime(value: string | number, option: string): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0) return value;
    throw invalidOption(option, 'Unix seconds (a whole number >= 0) or an ISO-8601 time', value);
  }
  const text = value.trim();
  if (/^-\d+$/.test(text)) throw invalidOption(option, 'Unix seconds from 0 (1970-01-01T00:00:00Z) on, or an ISO-8601 time', value);
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (Number.isSafeInteger(n)) {
      if (n > 1e11) throw invalidOption(option, 'Unix seconds, not milliseconds', value);
      return n;
    }
  }
  const m = ISO.exec(text);
  if (m) {
    if (m[4] !== undefined && m[7] === undefined) {
      throw invalidOption(option, 'an ISO-8601 time with a zone (Z or +hh:mm), since a local time is ambiguous', value);
    }
    const zone = m[7] === undefined ? 'Z' : m[7].length === 5 && m[7] !== 'Z' ? `${m[7].slice(0, 3)}:${m[7].slice(3)}` : m[7];
    const ms = Date.parse(m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}${zone}`);
    if (!Number.isNaN(ms) && ms >= 0) return Math.floor(ms / 1000);
  }
  throw invalidOption(option, 'Unix seconds or an ISO-8601 time such as 2024-05-01T00:00:00Z', value);
}

export function formatTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
