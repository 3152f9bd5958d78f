import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { Storage } from '../storage/storage.js';
import { joinKey } from '../storage/storage.js';
import { readCheckpoint } from './checkpoint.js';
import { LOG_DIR, applyCommit, commitKey, decodeCommit, emptySnapshot, encodeCommit, versionOf, type Action, type CommitSummary, type Snapshot } from './delta-log.js';

/** Commit files read at once while a log is read. */
const READ_AHEAD = 32;

/**
 * A table's log in storage: read it into a snapshot, catch up with commits made since, and write
 * the next version only if no other writer did (put-if-absent).
 */
export class TableLog {
  readonly storage: Storage;
  /** The table's folder, relative to the lake root (`tickets`). */
  readonly table: string;
  #snapshot: Snapshot = emptySnapshot();

  constructor(storage: Storage, table: string) {
    this.storage = storage;
    this.table = table;
  }

  get snapshot(): Snapshot {
    return this.#snapshot;
  }

  /**
   * Read every commit after the snapshot's version. Returns what each did when `summaries` asks for
   * it (a writer that lost a race checks them for conflicts), else an empty list.
   */
  async refresh(opts: { summaries?: boolean } = {}): Promise<CommitSummary[]> {
    const out: CommitSummary[] = [];
    // A first read starts from the newest checkpoint, when there is a whole one (a writer checking
    // for conflicts reads every commit instead: it needs what each did).
    if (this.#snapshot.version < 0 && !opts.summaries) this.#snapshot = (await readCheckpoint(this.storage, this.table)) ?? this.#snapshot;
    const s = this.#snapshot;
    const prefix = `${joinKey(this.table, LOG_DIR)}/`;
    const startAfter = s.version >= 0 ? joinKey(this.table, commitKey(s.version)) : undefined;
    const versions: { version: number; key: string }[] = [];
    for await (const obj of this.storage.list(prefix, startAfter === undefined ? {} : { startAfter })) {
      const v = versionOf(obj.key);
      if (v !== undefined && v > s.version) versions.push({ version: v, key: obj.key });
    }
    versions.sort((a, b) => a.version - b.version);
    versions.forEach(({ version, key }, i) => {
      if (version !== s.version + 1 + i) {
        throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the table log ${this.storage.url}/${prefix} has no version ${s.version + 1 + i} before ${version}: it is incomplete`, { path: key });
      }
    });
    // Commits are read READ_AHEAD at a time (an object store answers each GET in tens of ms), and
    // applied in order as they arrive.
    const bodies: (Promise<Buffer | undefined> | undefined)[] = [];
    const readNext = (): void => {
      const next = versions[bodies.length];
      if (!next) return;
      const body = this.storage.get(next.key);
      body.catch(() => undefined); // awaited below, in order; never an unhandled rejection meanwhile
      bodies.push(body);
    };
    for (let i = 0; i < READ_AHEAD; i++) readNext();
    let read = 0;
    for (const { version, key } of versions) {
      const body = await bodies[read];
      bodies[read] = undefined; // a long log is never held whole
      readNext();
      if (!body) throw new ZendeskEtlError(ErrorCodes.STATE_INVALID, `the table log file ${key} disappeared while being read`, { path: key });
      const summary = applyCommit(s, version, decodeCommit(body.toString('utf8'), `${this.storage.url}/${key}`));
      if (opts.summaries) out.push(summary);
      read++;
    }
    return out;
  }

  /**
   * Write `actions` as the next version. False when another writer took that version first: the
   * caller refreshes, checks again, and retries at the next one.
   */
  async tryCommit(actions: readonly Action[]): Promise<boolean> {
    const version = this.#snapshot.version + 1;
    const key = joinKey(this.table, commitKey(version));
    const ok = await this.storage.putIfAbsent(key, encodeCommit(actions));
    if (ok) applyCommit(this.#snapshot, version, actions);
    return ok;
  }
}
