import type { TableStep } from '../table/lake-table.js';

/**
 * Test hooks at the steps of a table commit, for every command that commits:
 * - `ZENDESK_ETL_CRASH_AT=<step>` dies there, as a kill -9 would;
 * - `ZENDESK_ETL_PAUSE_AT=<step>` stops the whole process there (SIGSTOP to itself), as a GC or VM
 *   pause would, until a SIGCONT;
 * each after `ZENDESK_ETL_CRASH_AFTER` / `ZENDESK_ETL_PAUSE_AFTER` earlier passes of that step.
 */
export function stepHooks(env: NodeJS.ProcessEnv): ((step: TableStep) => void) | undefined {
  const hooks: ((step: TableStep) => void)[] = [];
  for (const [at, after, signal] of [
    [env.ZENDESK_ETL_CRASH_AT, env.ZENDESK_ETL_CRASH_AFTER, 'SIGKILL'],
    [env.ZENDESK_ETL_PAUSE_AT, env.ZENDESK_ETL_PAUSE_AFTER, 'SIGSTOP'],
  ] as const) {
    if (!at) continue;
    let n = Number(after ?? '0');
    hooks.push((step) => {
      if (step === at && n-- === 0) process.kill(process.pid, signal);
    });
  }
  if (hooks.length === 0) return undefined;
  return (step) => {
    for (const h of hooks) h(step);
  };
}
