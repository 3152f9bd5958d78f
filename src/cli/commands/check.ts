import { ErrorCodes, ZendeskEtlError } from '../../core/errors.js';
import { ZendeskHttp, getJson } from '../../source/http-client.js';
import { resolveOrigin } from '../../core/url.js';
import { EXIT, prepare, type CliIo } from '../context.js';

interface CheckStep {
  name: string;
  ok: boolean;
  detail: string;
  code?: string | undefined;
}

/**
 * `zendesk-etl check`: a connection test (Airbyte's `check`, Meltano's `test`). One request per
 * endpoint at most: who am I (the origin answers, the credentials are accepted, the role), and one
 * record of the incremental ticket export (the role may export), with the rate limit it reports.
 */
export async function checkCommand(args: string[], io: CliIo): Promise<number> {
  const ctx = prepare('check', args, io, {
    name: 'zendesk-etl check',
    usage: 'zendesk-etl check --subdomain NAME | --base-url URL [--json]',
    about: 'Check the connection: the origin answers, the credentials (from the environment) are accepted, and the role\ncan use the incremental exports. Exit 0 when all is well, 4 when the credentials are refused, 1 otherwise.',
  });
  if (typeof ctx === 'number') return ctx;
  const o = ctx.options;
  const origin = resolveOrigin({ subdomain: o.subdomain, baseUrl: o.baseUrl }, { subdomain: '--subdomain', baseUrl: '--base-url' });
  const credentials = ctx.credentials();
  const http = new ZendeskHttp(origin, credentials, { connect: 10_000, headers: 30_000, bodyIdle: 30_000 });
  const steps: CheckStep[] = [];
  let rateLimit: Record<string, string> = {};
  let exit: number = EXIT.OK;
  const fail = (name: string, err: unknown): void => {
    const e = err instanceof ZendeskEtlError ? err : new ZendeskEtlError(ErrorCodes.NETWORK, String(err));
    steps.push({ name, ok: false, detail: e.message, code: e.code });
    if (exit === EXIT.OK) exit = e.code === ErrorCodes.UNAUTHORIZED || e.code === ErrorCodes.FORBIDDEN ? EXIT.AUTH : EXIT.FAILED;
  };
  /** Whether the failure says the credentials were refused: then the origin answered, as Zendesk. */
  const refused = (err: unknown): boolean => err instanceof ZendeskEtlError && (err.code === ErrorCodes.UNAUTHORIZED || err.code === ErrorCodes.FORBIDDEN);
  try {
    try {
      const me = (await getJson(http, '/api/v2/users/me.json')) as { user?: { role?: unknown; id?: unknown } };
      steps.push({ name: 'origin answers', ok: true, detail: 'as Zendesk (a JSON answer from /api/v2/users/me)' });
      const role = typeof me.user?.role === 'string' ? me.user.role : 'unknown';
      if (me.user?.id === null || me.user?.id === undefined) {
        steps.push({ name: 'credentials', ok: false, detail: 'Zendesk answered as an anonymous user: the credentials were not accepted', code: ErrorCodes.UNAUTHORIZED });
        exit = EXIT.AUTH;
      } else steps.push({ name: 'credentials', ok: true, detail: `accepted (${credentials.kind}${credentials.email ? ` for ${credentials.email}` : ''}); role ${role}` });
    } catch (err) {
      // One request tells both: a refusal (401, 403) comes from Zendesk; anything else (no answer, a
      // 404, a page of HTML, a 5xx) means the origin is not a Zendesk account that answers.
      if (refused(err)) {
        steps.push({ name: 'origin answers', ok: true, detail: 'as Zendesk (it refused the credentials)' });
        fail('credentials', err);
      } else fail('origin answers', err);
    }
    if (exit === EXIT.OK) {
      try {
        const since = Math.floor(Date.now() / 1000) - 3600;
        const res = await http.get(`/api/v2/incremental/tickets/cursor.json?start_time=${since}&per_page=1&support_type_scope=all`);
        res.body.resume();
        for (const h of ['x-rate-limit', 'x-rate-limit-remaining', 'zendesk-ratelimit-incremental-exports', 'retry-after']) {
          const v = res.headers[h];
          if (v !== undefined) rateLimit[h] = String(v);
        }
        steps.push({ name: 'incremental exports', ok: true, detail: 'allowed (one record of the ticket export read)' });
      } catch (err) {
        if (err instanceof ZendeskEtlError && err.code === ErrorCodes.FORBIDDEN) {
          fail('incremental exports', new ZendeskEtlError(ErrorCodes.FORBIDDEN, `the credentials are accepted, but this role may not use the incremental exports (403): they need an admin`, { status: 403 }));
        } else fail('incremental exports', err);
        if (err instanceof ZendeskEtlError && err.retryAfterMs !== undefined) rateLimit = { 'retry-after': String(err.retryAfterMs / 1000) };
      }
    }
  } finally {
    await http.close();
  }
  const report = { origin, ok: exit === EXIT.OK, steps, rateLimit };
  if (o.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const lines = [`checking ${origin}`];
    for (const s of steps) lines.push(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name}: ${s.detail}`);
    if (Object.keys(rateLimit).length > 0) lines.push(`  rate limit: ${Object.entries(rateLimit).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
    lines.push(exit === EXIT.OK ? 'all is well' : exit === EXIT.AUTH ? 'the credentials were refused' : 'the check failed');
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return exit;
}
