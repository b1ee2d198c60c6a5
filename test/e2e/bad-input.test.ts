/**
 * Malformed requests over real HTTPS against one server: each gets a 4xx with a JSON body
 * saying what is wrong, and the server keeps serving without logging crashes.
 */
import t from 'tap';
import type { Test as Tap } from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { startWebhook } from '../helpers/webhook-process.js';
import { exampleReview, metricValue, parseAnswer, postReview, send, stackTraceLines } from './fixtures/support.js';
import type { HttpResult, Review } from './fixtures/support.js';

const certs = await makeTestCertificates('rsa-pkcs8');
t.teardown(certs.cleanup);
const hook = await startWebhook(
  ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, '--max-request-bytes=64Ki'],
  {},
  { t },
);
const tls = { ca: certs.caPem, servername: 'localhost' };
const LIMIT = 64 * 1024;
let rejected = 0;

function post(body: string | Buffer, contentType = 'application/json'): Promise<HttpResult> {
  rejected += 1;
  return send(`${hook.url}/pods`, { ...tls, method: 'POST', headers: { 'content-type': contentType }, body });
}

/** The JSON error body's message (fails the test when the body is not a JSON object with one). */
function errorMessage(t: Tap, result: HttpResult): string {
  let body: unknown;
  try {
    body = JSON.parse(result.text);
  } catch {
    t.fail(`the body is not JSON: ${result.text.slice(0, 200)}`);
    return '';
  }
  t.match(result.headers['content-type'], /^application\/json/, 'a JSON error body');
  const message = (body as { message?: unknown }).message;
  t.type(message, 'string', 'with a message');
  return typeof message === 'string' ? message : '';
}

/** A syntactically valid review padded with an annotation to exactly `size` bytes of JSON. */
function reviewOfSize(size: number): string {
  const review = exampleReview();
  const pod = review.request.object;
  if (pod?.metadata === undefined) throw new Error('the example has no pod metadata');
  pod.metadata.annotations = { padding: '' };
  const bare = JSON.stringify(review).length;
  pod.metadata.annotations['padding'] = 'x'.repeat(size - bare);
  const text = JSON.stringify(review);
  if (Buffer.byteLength(text) !== size) throw new Error(`padding went wrong: ${Buffer.byteLength(text)} != ${size}`);
  return text;
}

t.test('a body that is not JSON: 400 saying so', async (t) => {
  const result = await post('{"apiVersion": "admission.k8s.io/v1", "kind": AdmissionReview');
  t.equal(result.status, 400);
  t.match(errorMessage(t, result), /JSON/i);
});

t.test('a content-type other than JSON: 415', async (t) => {
  const result = await post(JSON.stringify(exampleReview()), 'text/plain');
  t.equal(result.status, 415);
  t.match(errorMessage(t, result), /unsupported content-type "text\/plain": send the AdmissionReview as application\/json/);
});

t.test('a review without request: 400 naming request', async (t) => {
  const result = await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }));
  t.equal(result.status, 400);
  t.match(errorMessage(t, result), /request/);
});

t.test('a request without uid: 400 naming uid', async (t) => {
  const review = exampleReview();
  delete (review.request as Partial<Review['request']>).uid;
  const result = await post(JSON.stringify(review));
  t.equal(result.status, 400);
  t.match(errorMessage(t, result), /uid/);
});

t.test('an unknown apiVersion: 400 naming apiVersion', async (t) => {
  const result = await post(JSON.stringify({ ...exampleReview(), apiVersion: 'admission.k8s.io/v2' }));
  t.equal(result.status, 400);
  t.match(errorMessage(t, result), /apiVersion/);
});

t.test('a body above --max-request-bytes=64Ki: 413', async (t) => {
  const result = await post(reviewOfSize(LIMIT + 1));
  t.equal(result.status, 413);
  errorMessage(t, result);
});

t.test('a body of exactly 64Ki is accepted (the limit is the flag, not something smaller)', async (t) => {
  const review = reviewOfSize(LIMIT);
  const result = await send(`${hook.url}/pods`, { ...tls, method: 'POST', headers: { 'content-type': 'application/json' }, body: review });
  t.equal(result.status, 200);
  const answer = parseAnswer(result);
  t.equal(answer.response.allowed, true);
  t.equal(answer.response.uid, exampleReview().request.uid);
});

t.test('an empty body: 400', async (t) => {
  const result = await post('');
  t.equal(result.status, 400);
  errorMessage(t, result);
});

t.test('afterwards the server still serves, and logged no crash', async (t) => {
  t.equal((await send(`${hook.url}/healthz`, tls)).status, 200, '/healthz');
  t.equal((await send(`${hook.url}/readyz`, tls)).status, 200, '/readyz');
  const good = parseAnswer(await postReview(hook.url, exampleReview(), tls));
  t.equal(good.response.allowed, true, 'a good review is still decided');
  t.ok(hook.running(), 'the process is alive');

  const metrics = await send(`${hook.url}/metrics`, tls);
  t.equal(metricValue(metrics.text, 'secrets_init_webhook_admissions_total', { result: 'rejected', dry_run: 'false' }), rejected, `the ${rejected} bad requests are counted as rejected`);

  const logs = hook.logs();
  t.same(stackTraceLines(logs), [], 'no stack trace in the logs');
  t.notMatch(logs, /"level":(50|60)/, 'nothing logged at error or fatal level');
  t.notMatch(logs, /unhandled|uncaught/i);
  t.equal(hook.stderr(), '', 'nothing on stderr');
  t.same(await hook.stop(), { code: 0, signal: null }, 'a clean exit on SIGTERM');
});
