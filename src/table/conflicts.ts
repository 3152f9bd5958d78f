import { Ledger, describeSegment, type Segment } from '../core/delivery.js';
import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { Column } from '../schema/ticket-schema.js';
import { columnsOf, type CommitSummary, type MetaDataAction } from './delta-log.js';
import { settingThatDiffers } from './settings.js';

/**
 * Conflict checks of a commit, named as delta-rs names them (`conflict_checker.rs`). Pure: what the
 * writer read, what the winners wrote since, and this change go in; a named conflict comes out.
 *
 * A writer builds its change against the table as it read it (its read snapshot). When another
 * writer takes the next version first, the writer reads every commit since (the winners) and asks
 * here whether its change still holds. It does unless:
 *  - `fenced`: a commit fenced this run (another run took it for dead); it never commits again;
 *  - `concurrent-append`: what the table holds of the stream now overlaps what this change adds;
 *  - `file-already-removed`: a file this change removes is no longer in the table;
 *  - `reset-raced-write`: this change is a reset, and a winner added files or versions it did not
 *    see (a reset re-derives its change from the new snapshot rather than re-send a stale one);
 *  - `metadata-changed`: a winner pinned other settings, other partition columns, or gave a
 *    column this change's files use another type.
 */

export type ConflictName = 'fenced' | 'concurrent-append' | 'file-already-removed' | 'reset-raced-write' | 'metadata-changed';

export interface Conflict {
  name: ConflictName;
  /** What happened, for the error message. */
  detail: string;
}

/** The table as it stands after the winners: the parts the checks need. */
export interface TableView {
  /** Where the table is, for messages. */
  where: string;
  files: ReadonlySet<string> | ReadonlyMap<string, unknown>;
  fenced: ReadonlySet<string>;
  ledger: Ledger;
  metaData: MetaDataAction | undefined;
}

/** The change a writer wants to commit. */
export interface ProposedChange {
  run: string;
  segments: readonly Segment[];
  removes: readonly string[];
  /** The columns of each file it adds. */
  addColumns: readonly (readonly Column[])[];
  reset: boolean;
  /** The settings configuration this writer holds (pinned when it opened the table). */
  configuration: Readonly<Record<string, string>> | undefined;
  partitionColumns: readonly string[];
}

function fenced(view: TableView, winners: readonly CommitSummary[], c: ProposedChange): Conflict | undefined {
  const by = winners.find((w) => w.fences.includes(c.run));
  if (by) return { name: 'fenced', detail: `version ${by.version} (${by.run ?? 'another run'}) fenced this run ${c.run}: it took this run for dead` };
  if (view.fenced.has(c.run)) return { name: 'fenced', detail: `the log fences this run ${c.run}: another run took it for dead` };
  return undefined;
}

function concurrentAppend(view: TableView, _winners: readonly CommitSummary[], c: ProposedChange): Conflict | undefined {
  for (const seg of c.segments) {
    const other = view.ledger.overlap(seg);
    if (other) return { name: 'concurrent-append', detail: `another run committed ${describeSegment(other)} first, which overlaps this run's ${describeSegment(seg)}` };
  }
  return undefined;
}

function fileAlreadyRemoved(view: TableView, winners: readonly CommitSummary[], c: ProposedChange): Conflict | undefined {
  for (const p of c.removes) {
    if (view.files.has(p)) continue;
    const by = winners.find((w) => w.removes.includes(p));
    return { name: 'file-already-removed', detail: `${p} is no longer in the table (${by ? `version ${by.version}, a ${by.operation ?? 'commit'} of ${by.run ?? 'another run'}, removed it` : 'another run removed it'})` };
  }
  return undefined;
}

function resetRacedWrite(_view: TableView, winners: readonly CommitSummary[], c: ProposedChange): Conflict | undefined {
  if (!c.reset) return undefined;
  const w = winners.find((x) => x.adds.length > 0 || x.segments.length > 0);
  if (!w) return undefined;
  return { name: 'reset-raced-write', detail: `version ${w.version} (${w.operation ?? 'a commit'} of ${w.run ?? 'another run'}) added ${w.adds.length} files since this reset read the table` };
}

function metadataChanged(view: TableView, winners: readonly CommitSummary[], c: ProposedChange): Conflict | undefined {
  const meta = view.metaData;
  if (!meta) return undefined;
  const by = winners.find((w) => w.metaData !== undefined);
  const who = by ? `version ${by.version} (${by.run ?? 'another run'})` : 'the table';
  if (c.configuration) {
    const k = settingThatDiffers(c.configuration, meta.configuration);
    if (k !== undefined) return { name: 'metadata-changed', detail: `${who} pinned another ${k} than this run holds` };
  }
  if (meta.partitionColumns.join(',') !== c.partitionColumns.join(',')) {
    return { name: 'metadata-changed', detail: `${who} partitions by ${JSON.stringify(meta.partitionColumns)}, this run by ${JSON.stringify(c.partitionColumns)}` };
  }
  const pinned = new Map(columnsOf(meta).map((col) => [col.name, col.type]));
  for (const columns of c.addColumns) {
    for (const col of columns) {
      const t = pinned.get(col.name);
      if (t !== undefined && t !== col.type) return { name: 'metadata-changed', detail: `column ${col.name} is ${t} in the table, but a file of this run has it as ${col.type}; a column's type never changes` };
    }
  }
  return undefined;
}

/** The named checks, in the order they are asked. */
const CHECKS: readonly ((view: TableView, winners: readonly CommitSummary[], c: ProposedChange) => Conflict | undefined)[] = [fenced, metadataChanged, fileAlreadyRemoved, resetRacedWrite, concurrentAppend];

/** The first conflict between this change and the table after the winners, if any. */
export function findConflict(view: TableView, winners: readonly CommitSummary[], change: ProposedChange): Conflict | undefined {
  for (const check of CHECKS) {
    const found = check(view, winners, change);
    if (found) return found;
  }
  return undefined;
}

/** The error a conflict ends a commit with (code ZDE_COMMIT_CONFLICT, the conflict's name in `conflict`). */
export function conflictError(view: Pick<TableView, 'where'>, conflict: Conflict): ZendeskEtlError {
  const after =
    conflict.name === 'fenced'
      ? 'this run commits nothing more. Run the same command again: it does only what the table still needs'
      : conflict.name === 'metadata-changed'
        ? 'nothing of this run was committed'
        : "this run's part was not committed. Run the same command again: it does only what the table still needs";
  return new ZendeskEtlError(ErrorCodes.COMMIT_CONFLICT, `commit conflict (${conflict.name}) on ${view.where}: ${conflict.detail}; ${after}`, { path: view.where, conflict: conflict.name });
}
