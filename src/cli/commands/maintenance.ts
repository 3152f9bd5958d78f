import { missingOption } from '../../options/normalize.js';
import { ErrorCodes, ZendeskEtlError, invalidOption } from '../../core/errors.js';
import { compactTable } from '../../table/compact.js';
import { describeTables, findLake, pickTable, type FoundLake } from '../../table/lake-folders.js';
import { readTableState, resetTable, type TableState } from '../../table/table-state.js';
import { vacuumTable } from '../../table/vacuum.js';
import { formatTime } from '../../core/time.js';
import { EXIT, prepare, type CliIo, type CommandContext } from '../context.js';
import { stepHooks } from '../step-hooks.js';

/** The table a maintenance command names: `--table`, or `--stream`; undefined when neither is given. */
function namedTable(ctx: CommandContext): string | undefined {
  const table = typeof ctx.options.table === 'string' ? ctx.options.table : typeof ctx.options.stream === 'string' ? ctx.options.stream : undefined;
  if (table !== undefined && !/^[a-z][a-z_]*$/.test(table)) throw invalidOption('--table', 'a table folder such as tickets or tickets__users', table);
  return table;
}

/**
 * The lake a maintenance command reads, found before any table is opened: none there is a usage
 * error (exit 2) and nothing is created; a table's folder is taken for its lake, and said so.
 */
async function lakeOf(ctx: CommandContext, command: string): Promise<FoundLake> {
  const location = ctx.positionals[0];
  if (location === undefined) throw missingOption('LAKE', `the lake: a folder or s3://BUCKET/PREFIX (zendesk-etl ${command} LAKE)`);
  if (ctx.positionals.length > 1) throw invalidOption('arguments', `one lake (zendesk-etl ${command} LAKE)`, ctx.positionals.slice(1).join(' '));
  const lake = await findLake(location, { s3ForcePathStyle: ctx.options.s3ForcePathStyle === true });
  if (lake.note !== undefined) ctx.log.info(`note: ${lake.note}`);
  return lake;
}

/** The lake and the one table a command works on: the one named, the folder given, or tickets. */
async function target(ctx: CommandContext, command: string, opts: { allowUnlogged?: boolean } = {}) {
  const lake = await lakeOf(ctx, command);
  const table = pickTable(lake, namedTable(ctx) ?? lake.named ?? 'tickets', opts);
  return { storage: lake.storage, table };
}

/** `zendesk-etl compact LAKE`: merge the small files incremental runs leave behind. */
export async function compactCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('compact', args, io, {
    name: 'zendesk-etl compact',
    usage: 'zendesk-etl compact LAKE [--stream S | --table NAME] [options]',
    about: 'Merge the small files of each partition into larger ones: each merge is one table commit, so readers\nthrough the log never see a row twice or miss one. Parquet is merged by DuckDB (npm install @duckdb/node-api).',
  });
  if (typeof ctx === 'number') return ctx;
  const { storage, table } = await target(ctx, 'compact');
  const r = await compactTable({ out: storage, table, minFiles: ctx.options.minFiles, targetBytes: ctx.options.targetBytes, onCommitStep: stepHooks(io.env) });
  ctx.log.info(`compacted ${r.partitions} partitions: ${r.filesBefore} files -> ${r.filesAfter} (${r.rows} rows rewritten in ${r.commits} commits)`, ctx.options.logFormat === 'json' ? { ...r } : undefined);
  return EXIT.OK;
}

/** `zendesk-etl vacuum LAKE`: delete files the table no longer holds, past the retention period. */
export async function vacuumCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('vacuum', args, io, {
    name: 'zendesk-etl vacuum',
    usage: 'zendesk-etl vacuum LAKE [--stream S | --table NAME] [--retention-hours N] [--dry-run]',
    about: 'Delete files the table no longer holds (removed by compaction or reset, or left by a crashed run and never\ncommitted) once older than the retention, and unfinished multipart uploads. Never a live run\'s files.',
  });
  if (typeof ctx === 'number') return ctx;
  const { storage, table } = await target(ctx, 'vacuum', { allowUnlogged: true });
  const dryRun = ctx.options.dryRun === true;
  const r = await vacuumTable({ out: storage, table, retentionHours: ctx.options.retentionHours, dryRun, onCommitStep: stepHooks(io.env) });
  ctx.log.info(`vacuum: ${dryRun ? 'would delete' : 'deleted'} ${r.deleted.length} files (${r.bytes} bytes)${r.abortedUploads ? `, aborted ${r.abortedUploads} unfinished uploads` : ''}`, ctx.options.logFormat === 'json' ? { files: r.deleted.length, bytes: r.bytes, aborted_uploads: r.abortedUploads } : undefined);
  if (dryRun) for (const f of r.deleted) io.stdout.write(`${f}\n`);
  return EXIT.OK;
}

function showText(s: TableState): string {
  const lines = [`table ${s.table}`];
  if (s.version < 0) return `${lines[0]}: no table yet (nothing committed)\n`;
  lines.push(`  version ${s.version}; ${s.files} files, ${s.rows.toLocaleString('en-US')} rows, ${(s.bytes / 1e6).toFixed(1)} MB`);
  lines.push(`  settings: ${Object.entries(s.settings).map(([k, v]) => `${k}=${v === '' ? 'none' : v}`).join(', ')}`);
  if (s.stream) {
    lines.push(s.committed.length === 0 ? `  ${s.stream}: nothing committed` : `  ${s.stream} committed (generated_timestamp):`);
    for (const c of s.committed) lines.push(`    [${formatTime(c.from)}, ${formatTime(c.to)}${c.idsAtEnd > 0 ? ` + ${c.idsAtEnd} ids at it` : ''})${c.cursor ? ', cursor saved' : ''}`);
  }
  if (s.lastCommit) lines.push(`  last commit: version ${s.lastCommit.version}, ${s.lastCommit.operation} at ${s.lastCommit.at}${s.lastCommit.run ? ` by run ${s.lastCommit.run}` : ''}`);
  for (const r of s.running) lines.push(`  running now: ${r.purpose}${r.window ? ` of [${formatTime(r.window.start)}, ${r.window.end === undefined ? 'open' : formatTime(r.window.end)})` : ''}, ${r.holder}, renewed ${r.renewedAt}`);
  return `${lines.join('\n')}\n`;
}

/** `zendesk-etl state show|reset LAKE`: what a table's log has committed, or start it over. */
export async function stateCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('state', args, io, {
    name: 'zendesk-etl state',
    usage: 'zendesk-etl state show|reset LAKE [--stream S | --table NAME] [--json] [--yes]',
    about: 'show: what the table\'s log has committed: per stream, the ranges of generated_timestamp, files, rows, the\nsettings it pinned, and the runs at work. reset --yes: one commit removes every file and forgets what was\ncommitted, so the next export starts over; it is recorded in the log.',
  });
  if (typeof ctx === 'number') return ctx;
  const action = ctx.positionals.shift();
  if (action === undefined) throw missingOption('ACTION', '"show" or "reset" (zendesk-etl state show LAKE)');
  if (action !== 'show' && action !== 'reset') throw invalidOption('ACTION', '"show" or "reset" (zendesk-etl state show LAKE)', action);
  if (action === 'show') {
    const lake = await lakeOf(ctx, 'state show');
    const named = namedTable(ctx) ?? lake.named;
    // Every table of the lake, unless one is named (by --table, --stream or its folder).
    const tables = named !== undefined ? [pickTable(lake, named)] : lake.tables;
    const states = [];
    for (const t of tables) states.push(await readTableState(lake.storage, t));
    if (ctx.options.json === true) for (const s of states) io.stdout.write(`${JSON.stringify(s)}\n`);
    else {
      if (named === undefined) io.stdout.write(`lake ${lake.storage.url}: ${describeTables(lake)}\n`);
      for (const s of states) io.stdout.write(showText(s));
    }
    return EXIT.OK;
  }
  const { storage, table } = await target(ctx, `state ${action}`);
  if (ctx.options.yes !== true) throw new ZendeskEtlError(ErrorCodes.INVALID_OPTION, `--yes must be given to reset ${storage.url}/${table}: it removes every file from the table (they stay readable at older versions until vacuum) and the next export starts over`, { option: '--yes' });
  const r = await resetTable(storage, table, { onCommitStep: stepHooks(io.env) });
  ctx.log.warn(`reset ${storage.url}/${table} at version ${r.version}: removed ${r.files} files (${r.rows} rows) from the table; the next export starts over`, ctx.options.logFormat === 'json' ? { ...r } : undefined);
  return EXIT.OK;
}
