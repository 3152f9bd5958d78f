/**
 * No S3 credential is ever logged, stored or put on argv: runs with known secrets in the environment,
 * then every output and every object in the bucket is searched for them.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { maskSecrets, s3Error } from '../../src/storage/s3/errors.js';
import { startMock } from '../helpers.js';
import { dropBucket, awsEnv, freshBucket, getObject, listObjects, spawnSourceCli, useAwsEnv } from '../support/s3-lake.js';

let bucket: string;

beforeEach(async () => {
  useAwsEnv();
  bucket = await freshBucket('zde-secret');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await dropBucket(bucket);
});

/** Every place a secret could have gone: the outputs, and each object's key and bytes. */
async function everything(outputs: string[]): Promise<string[]> {
  const texts = [...outputs];
  for (const o of await listObjects(bucket)) {
    texts.push(o.key);
    texts.push((await getObject(bucket, o.key)).toString('latin1'));
  }
  return texts;
}

function leaks(texts: string[], secrets: string[]): string[] {
  return secrets.filter((s) => texts.some((t) => t.includes(s)));
}

describe('S3 credentials stay secret', () => {
  it('an export with known keys and a session token: not in stdout, stderr (text or JSON logs), argv, or any object written', async () => {
    const mock = await startMock({ tickets: 1500 });
    const aws = awsEnv();
    const env = { ...aws, AWS_SESSION_TOKEN: 'zde-session-token-f00dfeed-not-real', ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
    const secrets = [aws.AWS_SECRET_ACCESS_KEY!, env.AWS_SESSION_TOKEN, aws.AWS_ACCESS_KEY_ID!];
    const outputs: string[] = [];
    for (const [lake, extra] of [['text', []], ['json', ['--log-format', 'json']]] as const) {
      const run = spawnSourceCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', `s3://${bucket}/${lake}`, '--per-page', '300', '--max-rows-per-file', '600', ...extra], env);
      outputs.push(run.child.spawnargs.join(' '));
      const done = await run.done;
      expect(done.code, done.stderr).toBe(0);
      outputs.push(done.stdout, done.stderr);
    }
    const texts = await everything(outputs);
    expect(texts.length).toBeGreaterThan(10); // log versions, data files, outputs were searched
    expect(leaks(texts, secrets)).toEqual([]);
  });

  it('refused credentials: exit 4, said plainly, and the wrong secret appears nowhere', async () => {
    const mock = await startMock({ tickets: 100 });
    const env = { ...awsEnv(), AWS_ACCESS_KEY_ID: 'ZDEFAKEKEYID7Q2W', AWS_SECRET_ACCESS_KEY: 'zde-fake-secret-9a8b7c6d5e4f', ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
    const outputs: string[] = [];
    for (const extra of [[], ['--log-format', 'json']]) {
      const run = spawnSourceCli(['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', `s3://${bucket}/lake`, ...extra], env);
      const done = await run.done;
      expect(done.code, done.stderr).toBe(4);
      expect(done.stderr).toMatch(/ZDE_UNAUTHORIZED/);
      expect(done.stderr).toMatch(/the S3 credentials were refused \(InvalidAccessKeyId, HTTP 403\)/);
      outputs.push(done.stdout, done.stderr, run.child.spawnargs.join(' '));
    }
    expect(leaks(await everything(outputs), [env.AWS_SECRET_ACCESS_KEY, env.AWS_ACCESS_KEY_ID])).toEqual([]);
    expect(mock.exportRequests).toBe(0);
  });

  it('an endpoint URL or an --out with a password in it is refused without showing it', async () => {
    const mock = await startMock({ tickets: 10 });
    const base = { ...awsEnv(), ZENDESK_EMAIL: mock.credentials.email, ZENDESK_API_TOKEN: mock.credentials.apiToken };
    const args = (out: string): string[] => ['export', 'tickets', '--base-url', mock.url, '--rate-limit', '0', '--out', out];
    const viaEndpoint = await spawnSourceCli(args(`s3://${bucket}/lake`), { ...base, AWS_ENDPOINT_URL: 'http://admin:pa55-in-endpoint@127.0.0.1:7480' }).done;
    expect(viaEndpoint.code).toBe(2);
    expect(viaEndpoint.stderr).toMatch(/AWS_ENDPOINT_URL must be an http:\/\/ or https:\/\/ URL with no user or password in it/);
    expect(viaEndpoint.stderr).not.toContain('pa55-in-endpoint');
    const viaOut = await spawnSourceCli(args(`s3://AKIAOUT:pa55-in-out@${bucket}/lake`), base).done;
    expect(viaOut.code).toBe(2);
    expect(viaOut.stderr).toMatch(/--out with a password in its URL is refused: it would show in ps and shell history/);
    expect(viaOut.stderr).not.toContain('pa55-in-out');
  });

  it('a message that quotes an SDK error never carries a secret of the environment, nor does its cause', () => {
    const secret = 'zde-secret-in-an-sdk-message-31337';
    const err = s3Error('writing', 's3://b/lake/k', Object.assign(new Error(`request failed: signing with ${secret} went wrong`), { name: 'Weird' }), { bucket: 'b', endpoint: 'http://127.0.0.1:7480', secrets: [secret] });
    expect(err.code).toBe(ErrorCodes.SINK_WRITE);
    expect(err.message).toMatch(/S3 failed while writing s3:\/\/b\/lake\/k at http:\/\/127\.0\.0\.1:7480: Weird \(request failed: signing with \*\*\* went wrong\)/);
    expect(JSON.stringify(err.toJSON())).not.toContain(secret);
    expect(maskSecrets(`a ${secret} b ${secret}`, [secret])).toBe('a *** b ***');
  });
});
