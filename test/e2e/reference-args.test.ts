/**
 * kube-secrets-init's own Deployment arguments must start our server unchanged:
 * `--log-level=debug server --tls-cert-file=… --tls-private-key-file=…`
 * (plus `--listen-address=127.0.0.1:0`, appended by the helper to avoid port clashes).
 */
import t from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { SERVING_MESSAGE, startWebhook } from '../helpers/webhook-process.js';
import { exampleReview, parseAnswer, patchedPod, postReview, send, containerNamed } from './fixtures/support.js';
import type { Review } from './fixtures/support.js';

/** A review the webhook does not act on (not a pod CREATE): decided as "skipped", logged at info like every admission. */
function updateReview(): Review {
  const review = exampleReview();
  review.request.uid = 'c0ffee00-0000-4000-8000-00000000d00d';
  review.request['operation'] = 'UPDATE';
  return review;
}

t.test('the reference Deployment args serve HTTPS, with text logs at debug level', async (t) => {
  const certs = await makeTestCertificates('rsa-pkcs1');
  t.teardown(certs.cleanup);
  const hook = await startWebhook(
    ['--log-level=debug', 'server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`],
    {},
    { t, json: false },
  );
  t.match(hook.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const review = exampleReview();
  const result = await postReview(hook.url, review, { ca: certs.caPem, servername: 'localhost' });
  t.equal(result.status, 200);
  const answer = parseAnswer(result);
  t.equal(answer.response.uid, review.request.uid);
  t.equal(answer.response.allowed, true);
  const pod = patchedPod(review.request.object!, answer);
  t.same(containerNamed(pod, 'api')?.args, ['--provider=aws', '/app/server', '--port=8080']);

  const skipped = parseAnswer(await postReview(hook.url, updateReview(), { ca: certs.caPem }));
  t.same(skipped.response, { uid: 'c0ffee00-0000-4000-8000-00000000d00d', allowed: true }, 'an UPDATE is allowed as is');

  // Give the child a moment to flush its last log lines (bounded).
  for (let i = 0; i < 50 && !hook.logs().includes('admission skipped'); i++) await new Promise((r) => setTimeout(r, 50));
  const lines = hook.stdout().split('\n').filter((line) => line !== '');
  t.notOk(lines.some((line) => line.startsWith('{')), 'logs are text, not JSON, without --json/LOG_JSON');
  t.ok(lines.some((line) => /^\d{4}-\d\d-\d\dT\S+Z INFO secrets-init-webhook is serving url=https:\/\/127\.0\.0\.1:\d+$/.test(line)), 'one text line: time, level, message, key=value');
  t.ok(lines.some((line) => / INFO admission skipped .*\buid=/.test(line)), 'a skipped admission is an info line too');
  t.ok(lines.some((line) => / DEBUG watching TLS files for rotation /.test(line)), '--log-level=debug before the command is honoured');
  t.same(await hook.stop(), { code: 0, signal: null });
});

t.test('the same args with LOG_JSON=true give JSON logs (and --log-level wins over LOG_LEVEL)', async (t) => {
  const certs = await makeTestCertificates('rsa-pkcs8');
  t.teardown(certs.cleanup);
  const hook = await startWebhook(
    ['--log-level=debug', 'server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`],
    { LOG_JSON: 'true', LOG_LEVEL: 'error' },
    { t, json: false },
  );
  const skipped = parseAnswer(await postReview(hook.url, updateReview(), { ca: certs.caPem }));
  t.equal(skipped.response.allowed, true);
  for (let i = 0; i < 50 && !hook.logs().includes('admission skipped'); i++) await new Promise((r) => setTimeout(r, 50));

  const lines = hook.stdout().split('\n').filter((line) => line !== '');
  t.ok(lines.length >= 3, 'some log lines');
  const parsed = lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  });
  t.same(
    lines.filter((_, i) => parsed[i] === undefined),
    [],
    'every stdout line is a JSON object',
  );
  t.same(
    parsed.filter((r) => r !== undefined && (typeof r['level'] !== 'number' || typeof r['msg'] !== 'string' || typeof r['time'] !== 'string')),
    [],
    'every record has a numeric level, a time and a msg',
  );
  t.ok(parsed.some((r) => r?.['msg'] === SERVING_MESSAGE && r['url'] === hook.url), 'the serving line carries the url');
  t.ok(parsed.some((r) => r?.['msg'] === 'watching TLS files for rotation' && r['level'] === 20), 'debug line (level 20): the flag, not LOG_LEVEL=error, sets the level');
  t.same(await hook.stop(), { code: 0, signal: null });
});

t.test('without TLS flags the server speaks plain HTTP', async (t) => {
  const hook = await startWebhook(['server'], {}, { t });
  t.match(hook.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'an http:// URL');
  t.equal((await send(`${hook.url}/healthz`)).status, 200);
  const review = exampleReview();
  const answer = parseAnswer(await postReview(hook.url, review));
  t.equal(answer.response.uid, review.request.uid);
  t.equal(answer.response.allowed, true);
  t.equal(answer.response.patchType, 'JSONPatch');
  const tlsAttempt = await send(`${hook.url.replace('http:', 'https:')}/healthz`, { timeoutMs: 5_000 }).then(
    () => 'answered over TLS',
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  t.not(tlsAttempt, 'answered over TLS', `no TLS on a plain HTTP listener (${tlsAttempt})`);
  t.ok(
    hook.jsonLogs().some((r) => r['level'] === 40 && /plain HTTP/.test(String(r['msg']))),
    'warns that it serves plain HTTP',
  );
  t.same(await hook.stop(), { code: 0, signal: null });
});
