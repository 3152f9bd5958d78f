import { ErrorCodes, ZendeskEtlError } from '../core/errors.js';
import type { ExportResult, LakeRunOptions, RunStart } from '../export.js';
import { ExportStats } from '../core/stats.js';
import { formatTime } from '../core/time.js';
import { EXIT, type CommandContext } from './context.js';
import { Progress } from './progress.js';

/**
 * Run an export or a replay with progress on stderr, a summary, and the exit code the contract
 * gives: 0 complete, 1 not complete, 130/143 interrupted after committing.
 */
export async function runReported<O extends LakeRunOptions>(ctx: CommandContext, opts: O, records: string, out: string, run: (o: O) => Promise<ExportResult>): Promise<number> {
  const { io, log } = ctx;
  const stats = new ExportStats();
  opts.stats = stats;
  opts.log = log;
  let progress: Progress | undefined;
  let shown = 0;
  opts.onReject = ({ id, rejects }) => {
    if (shown++ < 5) log.warn(`a value did not fit its column; kept raw in _rejects, and the run goes on${shown === 5 ? ' (further ones are counted in the summary)' : ''}`, { record: id, rejects });
  };
  opts.onStart = (start: RunStart) => {
    const { resumed, position, where, notes, ranges } = start;
    const at = position.reached.at;
    const from = position.mode === 'cursor' && position.cursor ? `the saved cursor (generated_timestamp ${formatTime(at)})` : `generated_timestamp ${at} (${formatTime(at)})`;
    if (ranges.length === 0) log.info(`${where ?? 'the output'} already holds all of this window: nothing to export`);
    else log.info(resumed ? `resuming from ${from}, as the table ${where} records` : `starting a new export from ${from}${where ? ` into ${where}` : ''}`);
    for (const n of notes) log.info(`note: ${n}`);
    const end = ranges.at(-1)?.to?.at;
    if (!ctx.quiet) {
      progress = new Progress(stats, io.stderr, { startWatermark: resumed ? at : -1, endTime: end, records, json: ctx.options.logFormat === 'json', log });
      if (progress.live) ctx.setWriter((line) => progress!.print(line));
    }
  };
  try {
    let result: ExportResult;
    try {
      result = await run(opts);
    } catch (err) {
      // A reader that goes away (`| head`) is the reader's choice: stop there, quietly.
      if (err instanceof ZendeskEtlError && err.code === ErrorCodes.OUTPUT_CLOSED) {
        progress?.stop();
        log.debug('the reader closed the output; stopped there');
        return EXIT.OK;
      }
      throw err;
    }
    progress?.stop();
    progress = undefined;
    ctx.setWriter((line) => io.stderr.write(`${line}\n`));
    for (const n of stats.notes) log.info(`note: ${n}`);
    const summary = stats.summary(records);
    if (ctx.options.logFormat === 'json') log.info('summary', summary);
    else log.info(`summary: ${JSON.stringify(summary)}`);
    const by = io.interruptedBy?.();
    if (io.signal?.aborted) {
      log.warn('interrupted: everything complete was committed; run the same command to resume', { signal: by ?? 'SIGINT' });
      return by === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED;
    }
    if (!result.complete) {
      log.error('the export did not reach the end of the stream');
      return EXIT.FAILED;
    }
    if (out !== '-') {
      const c = result.committed;
      log.info(`done: this run committed ${c.rows.toLocaleString('en-US')} rows in ${c.files} files (${c.commits} commits) to ${result.where}`, ctx.options.logFormat === 'json' ? { rows: c.rows, files: c.files, commits: c.commits, version: c.version } : undefined);
    }
    return EXIT.OK;
  } finally {
    progress?.stop();
  }
}
