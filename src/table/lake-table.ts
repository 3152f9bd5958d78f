import { randomBytes } from 'node:crypto';
import { Ledger, type ExportRange, type Segment, type Window } from '../core/delivery.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import { EXTRA_COLUMN, type Column } from '../schema/ticket-schema.js';
import type { RowFileWriter, RowFormat } from '../format/file-writers.js';
import { formatFor, type TableWriterOptions } from '../format/format-for.js';
import { parsePartitionSpec, partitionColumn, partitionFolder, type PartitionSpec } from './partition.js';
import type { PendingFile, Storage } from '../storage/storage.js';
import { joinKey } from '../storage/storage.js';
import { silentLogger, type Logger } from '../core/log.js';
import { checkpointInterval, writeCheckpoint } from './checkpoint.js';
import { commitActions, type CommitRequest, type Committer } from './commit-actions.js';
import { conflictError, findConflict, type ProposedChange, type TableView } from './conflicts.js';
import { DataFile } from './data-file.js';
import { columnsOf, type CommitSummary, type Snapshot } from './delta-log.js';
import { LEASE_DIR, Lease, readLeases, type LeaseRecord, type StoredLease } from './lease.js';
import { cleanUpAfter, planRecovery, refuseForeignFolder } from './recovery.js';
import { DEFAULT_TABLE_SETTINGS, resolveSettings, settingsConfiguration, type TableSettings } from './settings.js';
import { TableLog } from './table-log.js';

export { DEFAULT_TABLE_SETTINGS, type TableSettings, type TableWriterOptions };
export { isDataFilePath, runOfDataFile } from './recovery.js';

/**
 * The steps of a commit, for crash-injection and pause tests and for tracing: the lease names the
 * files, each file is made visible, the log entry is about to be written, it is written, and each
 * file the commit removed is deleted.
 */
export type TableStep = 'lease-noted' | 'file-promoted' | 'before-commit' | 'committed' | 'file-retired';

export interface OpenTableOptions {
  storage: Storage;
  /** The table's folder in the lake: a stream (`tickets`), or a sideload table (`tickets__users`). */
  name: string;
  /** The stream whose versions the table holds, for its ledger; undefined for sideload tables. */
  stream?: string | undefined;
  /** What this run asks for; a setting left undefined takes the table's (or the default for a new table). */
  settings?: Partial<TableSettings> | undefined;
  writer?: TableWriterOptions | undefined;
  /** The run's id (shared by the tables one run writes). */
  run?: string | undefined;
  onStep?: ((step: TableStep) => void) | undefined;
  /** Where commits and cleanups are told (at info). Default: silent. */
  log?: Logger | undefined;
}

/** A change to commit: files in and out, and what of the stream they make durable. */
export interface TableChange {
  /** Delta's operation name: WRITE, OPTIMIZE, DELETE. */
  operation: string;
  adds?: readonly DataFile[];
  /** Paths (in the table) of files to remove. */
  removes?: readonly string[];
  segments?: readonly Segment[];
  window?: Window | undefined;
  /** Forget every segment before this commit (`state reset`). */
  reset?: boolean;
  /** False when the rows do not change (compaction). Default true. */
  dataChange?: boolean;
  parameters?: Record<string, string>;
  /**
   * Build the change again against a newer table, when the one built first no longer fits it (a
   * reset that raced a write removes what the table holds now). Without it, such a change gives up.
   */
  rederive?: ((table: Snapshot) => TableChange) | undefined;
}

/** A new run id: a UTC timestamp and 6 random hex digits (also in its data files' names). */
export function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

/**
 * The write side of one table, and the only one: every export, replay, compaction, reset and
 * vacuum goes through it, so none can skip a rule. It owns the table's log (what the table holds,
 * the settings it pinned, its schema), its lease, its data files from staging to commit, and the
 * recovery from runs that stopped.
 *
 * A commit: note the files in the lease, make them visible (rename into place, or already uploaded),
 * then write the next log version if absent. A loser of that race reads the winners' commits and
 * asks `conflicts.ts` whether its change still holds: if so it tries the next version, if not it
 * gives up (or, for a reset, builds its change again). Files a commit removes leave afterwards.
 *
 * Fencing: a run that finds another run's lease no longer live fences it in the log (a commit of
 * its own) before it deletes anything of that run, and a fenced run never commits. So a run paused
 * past its lease (a GC or VM pause, a clock minutes off) either committed before the fence, and its
 * files are kept, or commits nothing, and its files go: the log decides, never the lease's age.
 */
export class LakeTable {
  readonly storage: Storage;
  readonly name: string;
  readonly stream: string | undefined;
  readonly run: string;
  readonly settings: Readonly<TableSettings>;
  readonly format: RowFormat;
  readonly partition: PartitionSpec | undefined;
  readonly #log: TableLog;
  readonly #onStep: ((step: TableStep) => void) | undefined;
  readonly #logger: Logger;
  #lease: Lease | undefined;
  #seq = 0;
  #commits = 0;
  #ledger: { version: number; ledger: Ledger } | undefined;
  /** Columns this run's files use, beyond the table's schema (committed with the first such file). */
  #wanted: Column[] = [];
  /** What other writers committed since this run last read the table for a change (its winners). */
  #winners: CommitSummary[] = [];
  /** Runs to fence with this run's first commit (a table with no log yet), and their leases to clean up after. */
  #pendingFences: { runs: string[]; leases: StoredLease[] } | undefined;

  private constructor(o: OpenTableOptions, log: TableLog, settings: TableSettings) {
    this.storage = o.storage;
    this.name = o.name;
    this.stream = o.stream;
    this.run = o.run ?? newRunId();
    this.settings = settings;
    this.#log = log;
    this.#onStep = o.onStep;
    this.#logger = o.log ?? silentLogger;
    this.partition = settings.partitionBy === undefined ? undefined : parsePartitionSpec(settings.partitionBy);
    this.format = formatFor(settings, o.writer);
  }

  /**
   * Open a table (it need not exist yet): read its log, check this run's settings against the
   * pinned ones, and recover from runs that stopped: fence them, then delete what they left.
   */
  static async open(o: OpenTableOptions): Promise<LakeTable> {
    const log = new TableLog(o.storage, o.name);
    await log.refresh();
    const settings = resolveSettings(`${o.storage.url}/${o.name}`, log.snapshot, o.settings ?? {});
    const table = new LakeTable(o, log, settings);
    const leases = await readLeases(o.storage, o.name);
    if (!log.snapshot.metaData) await refuseForeignFolder(o.storage, o.name, leases);
    await table.#recover(leases);
    return table;
  }

  /** The table as last read or committed. */
  get snapshot(): Snapshot {
    return this.#log.snapshot;
  }

  get version(): number {
    return this.#log.snapshot.version;
  }

  /** What the table holds of its stream. */
  ledger(): Ledger {
    const s = this.#log.snapshot;
    if (this.#ledger?.version !== s.version) this.#ledger = { version: s.version, ledger: new Ledger(s.segments) };
    return this.#ledger.ledger;
  }

  /** Read commits other writers made since. */
  async refresh(): Promise<void> {
    this.#winners.push(...(await this.#log.refresh({ summaries: true })));
  }

  /** What a window still needs, given what the table holds. */
  plan(window: Window): ExportRange[] {
    return this.ledger().gaps(window);
  }

  /** The table's columns (partition columns left out), as pinned in its log. */
  columns(): Column[] {
    const meta = this.#log.snapshot.metaData;
    return meta ? columnsOf(meta) : [];
  }

  /**
   * The columns a new file gets: the table's, with their pinned types, then any of `candidate` the
   * table does not have yet (a schema change, committed with the file).
   */
  schemaFor(candidate: readonly Column[]): Column[] {
    const pinned = this.columns();
    const have = new Set(pinned.map((c) => c.name));
    const out = [...pinned, ...candidate.filter((c) => !have.has(c.name))];
    if (this.settings.format === 'parquet' && !out.some((c) => c.name === EXTRA_COLUMN.name)) out.push(EXTRA_COLUMN);
    for (const c of out) if (!this.#wanted.some((w) => w.name === c.name)) this.#wanted.push(c);
    return out;
  }

  /** Take the table's lease for this run (refused while a conflicting run holds one). */
  async begin(purpose: LeaseRecord['purpose'], window?: Window): Promise<void> {
    if (this.#lease) return;
    this.#lease = await Lease.acquire(this.storage, this.name, { run: this.run, purpose, window });
  }

  /**
   * A new data file of this run, in a partition (or the table's root), encoded by the table's format
   * (or by `open`, for a file another engine writes whole).
   */
  async newFile(partitionValue: string | null | undefined, columns: readonly Column[], open?: (file: PendingFile) => Promise<RowFileWriter>): Promise<DataFile> {
    this.#requireLease();
    if (this.partition && partitionValue === undefined) throw new Error(`${this.name} is partitioned by ${this.settings.partitionBy}: a new file needs its partition value`);
    const seq = String(this.#seq++).padStart(5, '0');
    const name = `part-${this.run}-${seq}.${this.format.extension}`;
    const folder = this.partition ? partitionFolder(this.partition, partitionValue ?? null) : '';
    const path = joinKey(folder, name);
    const pending = await this.storage.create(joinKey(this.name, path), joinKey('_staging', this.name, this.run, `${seq}.${this.format.extension}.inprogress`));
    const partitionValues: Record<string, string | null> = this.partition ? { [partitionColumn(this.partition)]: partitionValue ?? null } : {};
    try {
      const writer = open ? await open(pending) : await this.format.open(pending, columns);
      return new DataFile(path, partitionValues, columns, pending, writer);
    } catch (err) {
      await pending.abort();
      throw err;
    }
  }

  /**
   * Commit a change as the next version of the table. Files are made visible first, then the log
   * entry is written if absent; on a lost race the winners are read and checked for conflicts
   * (`conflicts.ts`), and the next version tried. Returns the version committed.
   */
  async commit(change: TableChange): Promise<number> {
    const lease = this.#requireLease();
    const adds = change.adds ?? [];
    if (adds.length > 0 || (change.removes?.length ?? 0) > 0) {
      await lease.note({ promoting: adds.map((f) => f.path), retiring: [...(change.removes ?? [])] });
      this.#onStep?.('lease-noted');
    }
    /** The log could not say whether the put landed: its files must wait for the next run's cleanup. */
    let unknown = false;
    let committed: TableChange;
    try {
      for (const f of adds) {
        await f.pending.promote().catch(async (err: unknown) => {
          // A run that fenced this one may have deleted its staging already: say so, if so.
          await this.refresh();
          const fenced = findConflict(this.#view(), this.#winners, this.#proposed({ operation: 'WRITE' }));
          throw fenced?.name === 'fenced' ? conflictError(this.#view(), fenced) : err;
        });
        this.#onStep?.('file-promoted');
      }
      committed = await this.#commitLoop(change, lease, (u) => (unknown = u));
    } catch (err) {
      // Not committed: what this commit made visible goes again (its own files: a fence, if there
      // is one, keeps the log from ever adding them). When that is not known, the lease still
      // names the files, and the cleanup after this run keeps those the log holds.
      if (!unknown) {
        for (const f of adds) await this.storage.delete(joinKey(this.name, f.path)).catch(() => undefined);
        await lease.note({}).catch(() => undefined);
      }
      throw err;
    }
    this.#onStep?.('committed');
    const removes = committed.removes ?? [];
    this.#logger.info('committed', { table: `${this.storage.url}/${this.name}`, version: this.version, operation: committed.operation, files_added: adds.length, rows_added: adds.reduce((n, f) => n + f.rows, 0), files_removed: removes.length });
    if (removes.length > 0 && this.storage.publishes === 'rename') {
      // A folder's glob readers see only what the table holds; object storage keeps them for vacuum.
      for (const p of removes) {
        await this.storage.delete(joinKey(this.name, p));
        this.#onStep?.('file-retired');
      }
    }
    if (adds.length > 0 || removes.length > 0) await lease.note({});
    await this.#afterFirstCommit();
    return this.version;
  }

  /**
   * Fence runs in the log (one commit), then delete what they left that the log does not hold.
   * For `vacuum`, before it deletes files of runs that might otherwise still commit them.
   * Runs already fenced are left out; with none left, nothing is committed. A table with no log yet
   * takes no fence (its first version holds the table's settings): nothing is fenced then.
   */
  async fence(runs: readonly string[]): Promise<void> {
    await this.refresh();
    const todo = [...new Set(runs)].filter((r) => r !== this.run && !this.snapshot.fenced.has(r));
    if (todo.length === 0 || this.version < 0) return;
    await this.#commitLoop({ operation: 'FENCE', parameters: { runs: todo.join(',') }, dataChange: false }, undefined, () => undefined, todo);
    this.#onStep?.('committed');
    const leases = (await readLeases(this.storage, this.name)).filter((l) => todo.includes(l.record.run));
    await cleanUpAfter(this.storage, this.name, this.snapshot, leases, this.#logger);
  }

  /**
   * Release the lease. Staged files not committed are dropped by their writers (or by cleanup). A
   * table that still has no log leaves no folder behind: a run that committed nothing leaves a new
   * lake as it found it.
   */
  async close(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    if (!lease) return;
    if (this.storage.publishes === 'rename') await this.storage.delete(joinKey('_staging', this.name, this.run)).catch(() => undefined);
    await lease.release();
    if (this.version < 0) {
      await this.storage.pruneEmpty?.(joinKey(this.name, LEASE_DIR)).catch(() => undefined);
      await this.storage.pruneEmpty?.(joinKey('_staging', this.name)).catch(() => undefined);
    }
  }

  /**
   * Write `change` as the next version, trying version after version while other writers take
   * them, as long as no conflict forbids it. Fences pending for a new table ride along (and any
   * `fences` asked for). Returns the change as committed (rebuilt, for a reset that raced a write).
   */
  async #commitLoop(change: TableChange, lease: Lease | undefined, setUnknown: (u: boolean) => void, fences: readonly string[] = []): Promise<TableChange> {
    const id = `${this.run}.${this.#commits++}`;
    for (let attempt = 0; ; attempt++) {
      const s = this.#log.snapshot;
      const conflict = findConflict(this.#view(), this.#winners, this.#proposed(change));
      if (conflict?.name === 'reset-raced-write' && change.rederive) {
        change = change.rederive(s);
        this.#winners = [];
        await lease?.note({ retiring: [...(change.removes ?? [])] });
        continue;
      }
      if (conflict) throw conflictError(this.#view(), conflict);
      const pending = this.#pendingFences?.runs ?? [];
      const fencing = [...new Set([...fences, ...pending])].filter((r) => !s.fenced.has(r));
      if (fences.length > 0 && fencing.length === 0 && (change.adds?.length ?? 0) === 0) return change; // fenced by another run meanwhile
      const actions = commitActions(s, this.#committer(id), this.#request(change, fencing));
      this.#onStep?.('before-commit');
      let written: boolean;
      try {
        written = await this.#log.tryCommit(actions);
      } catch (err) {
        // The put may have landed although its answer was lost: the log says.
        setUnknown(true);
        await this.refresh();
        setUnknown(false);
        if (this.#landed(id)) break;
        throw err;
      }
      if (written) {
        await this.#checkpoint();
        break;
      }
      if (attempt > 1000) throw new ZendeskEtlError(ErrorCodes.COMMIT_CONFLICT, `gave up committing to ${this.storage.url}/${this.name} after ${attempt} versions taken by other writers`, { path: this.name });
      await this.refresh();
      if (this.#landed(id)) break; // a retried put found its own first try in place
    }
    this.#winners = [];
    return change;
  }

  /**
   * The writer of every `delta.checkpointInterval`-th version (10 by default) checkpoints the table
   * there. A checkpoint only saves readers work: one that fails is told, and the commit stands.
   */
  async #checkpoint(): Promise<void> {
    const s = this.#log.snapshot;
    if (s.version <= 0 || s.version % checkpointInterval(s.metaData) !== 0) return;
    try {
      await writeCheckpoint(this.storage, this.name, s);
    } catch (err) {
      this.#logger.warn('could not write a checkpoint; readers read the commits instead', { table: `${this.storage.url}/${this.name}`, version: s.version, error: (err as Error).message });
    }
  }

  /** After the commit that made a new table: the runs it fenced on the way can be cleaned up after. */
  async #afterFirstCommit(): Promise<void> {
    const pending = this.#pendingFences;
    if (!pending || !pending.runs.every((r) => this.snapshot.fenced.has(r))) return;
    this.#pendingFences = undefined;
    await cleanUpAfter(this.storage, this.name, this.snapshot, pending.leases, this.#logger);
  }

  /** A change as the conflict checks see it. */
  #proposed(change: TableChange): ProposedChange {
    return {
      run: this.run,
      segments: change.segments ?? [],
      removes: change.removes ?? [],
      addColumns: (change.adds ?? []).map((f) => f.columns),
      reset: change.reset === true,
      configuration: settingsConfiguration(this.settings, this.stream),
      partitionColumns: this.partition ? [partitionColumn(this.partition)] : [],
    };
  }

  /** The table after the winners, as the conflict checks see it. */
  #view(): TableView {
    const s = this.#log.snapshot;
    return { where: `${this.storage.url}/${this.name}`, files: s.files, fenced: s.fenced, ledger: this.ledger(), metaData: s.metaData };
  }

  #committer(id: string): Committer {
    return { run: this.run, commit: id, stream: this.stream, table: this.name, settings: this.settings, partitionColumns: this.partition ? [partitionColumn(this.partition)] : [], wanted: this.#wanted, now: Date.now() };
  }

  #request(change: TableChange, fences: readonly string[]): CommitRequest {
    return {
      operation: change.operation,
      adds: (change.adds ?? []).map((f) => ({ path: f.path, partitionValues: f.partitionValues, size: f.size, stats: f.stats(), columns: f.columns })),
      removes: change.removes ?? [],
      segments: change.segments ?? [],
      window: change.window,
      reset: change.reset === true,
      dataChange: change.dataChange ?? true,
      parameters: change.parameters ?? {},
      fences,
    };
  }

  /** Whether the commit `id` is in the log (among the versions read lately). */
  #landed(id: string): boolean {
    return this.#log.snapshot.history.some((h) => h.commitInfo?.zendeskEtl?.commit === id);
  }

  #requireLease(): Lease {
    if (!this.#lease) throw new Error(`LakeTable.begin() must be called before writing ${this.name}`);
    return this.#lease;
  }

  /**
   * Recover from runs that stopped writing the table. Runs whose lease is no longer live are fenced
   * first (a commit); only then is what they left deleted. A table with no log yet cannot take a
   * fence on its own: the fences ride on this run's first commit, and the cleanup follows it.
   */
  async #recover(leases: readonly StoredLease[]): Promise<void> {
    const plan = planRecovery(leases, this.snapshot);
    if (plan.cleanUp.length === 0) return;
    if (plan.fence.length > 0 && this.version < 0) {
      this.#pendingFences = { runs: plan.fence, leases: plan.cleanUp };
      return;
    }
    if (plan.fence.length > 0) {
      await this.#commitLoop({ operation: 'FENCE', parameters: { runs: plan.fence.join(',') }, dataChange: false }, undefined, () => undefined, plan.fence);
      this.#onStep?.('committed');
    }
    await cleanUpAfter(this.storage, this.name, this.snapshot, plan.cleanUp, this.#logger);
  }

  /** The lease folder, for tests and `state show`. */
  static readonly LEASE_DIR = LEASE_DIR;
}
