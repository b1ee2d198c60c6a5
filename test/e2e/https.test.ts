/**
 * The built server over real HTTPS, for every key format it must load: the API server's view
 * (CA-verified TLS, AdmissionReview v1 and v1beta1, the patch it applies), health endpoints,
 * metrics, and the TLS protocol floor.
 */
import { readFileSync } from 'node:fs';
import { connect, createServer as createTlsServer } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test as Tap } from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import type { TestKeyFormat } from '../helpers/certs.js';
import { startWebhook } from '../helpers/webhook-process.js';
import { containerNamed, exampleReview, metricValue, parseAnswer, patchedPod, postReview, send } from './fixtures/support.js';
import type { Pod, Review } from './fixtures/support.js';

const FORMATS: readonly TestKeyFormat[] = ['rsa-pkcs1', 'rsa-pkcs8', 'ec-pkcs8'];

/** Outcome of a bare TLS handshake: the negotiated protocol, or the error code. */
function handshake(options: ConnectionOptions): Promise<{ protocol: string | null } | { error: string }> {
  return new Promise((resolve) => {
    const socket = connect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ error: 'handshake timed out' });
    }, 5_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const protocol = socket.getProtocol();
      socket.destroy();
      resolve({ protocol });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ error: error.code ?? error.message });
    });
  });
}

/** Checks the answer to examples/admission-review.json (as `review`) and the pod its patch produces. */
function checkExampleAnswer(t: Tap, review: Review, status: number, text: string): void {
  t.equal(status, 200, 'HTTP 200');
  const answer = parseAnswer({ status, headers: {}, text });
  t.equal(answer.apiVersion, review.apiVersion, 'apiVersion of the request');
  t.equal(answer.kind, 'AdmissionReview');
  t.equal(answer.response.uid, review.request.uid, 'uid of the request');
  t.equal(answer.response.allowed, true);
  t.equal(answer.response.patchType, 'JSONPatch');
  const pod = review.request.object as Pod;
  const result = patchedPod(pod, answer);

  const api = containerNamed(result, 'api');
  t.same(api?.command, ['/helper/bin/secrets-init'], 'api runs secrets-init');
  t.same(api?.args, ['--provider=aws', '/app/server', '--port=8080'], 'api: aws provider, then its own command and args');
  t.ok(api?.volumeMounts?.some((m) => m.name === 'secrets-init-bin' && m.mountPath === '/helper/bin'), 'api mounts the binary volume');

  const reporter = containerNamed(result, 'reporter');
  t.same(reporter?.command, ['/helper/bin/secrets-init']);
  t.same(reporter?.args, ['--provider=google', '/reporter'], 'reporter: google provider (its reference is gcp:secretmanager)');

  const original = pod.spec.containers.find((c) => c.name === 'metrics');
  t.ok(original, 'the example has a metrics container');
  t.strictSame(result.spec.containers.find((c) => c.name === 'metrics'), original, 'metrics (no references) is untouched');
  t.same(
    result.spec.containers.map((c) => c.name),
    ['api', 'reporter', 'metrics'],
    'containers keep their order',
  );

  const init = result.spec.initContainers ?? [];
  t.equal(init[0]?.name, 'copy-secrets-init', 'init container copy-secrets-init comes first');
  t.equal(init[0]?.image, 'ghcr.io/doitintl/secrets-init:0.5.3', 'default image');
  t.same(init[0]?.args, ['copy', '/helper/bin']);
  const volume = (result.spec.volumes ?? []).find((v) => v['name'] === 'secrets-init-bin');
  t.same(volume?.['emptyDir'], { medium: 'Memory' }, 'in-memory emptyDir volume');
}

for (const format of FORMATS) {
  t.test(`HTTPS with a ${format} private key`, async (t) => {
    const certs = await makeTestCertificates(format);
    t.teardown(certs.cleanup);
    const hook = await startWebhook(['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`], {}, { t });
    t.match(hook.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'serves https on the loopback address');
    const tls = { ca: certs.caPem };

    // Readiness right after the serving line, before anything else.
    const ready = await send(`${hook.url}/readyz`, tls);
    t.equal(ready.status, 200, 'GET /readyz is 200 once serving');
    const healthy = await send(`${hook.url}/healthz`, tls);
    t.equal(healthy.status, 200, 'GET /healthz is 200');

    const v1 = exampleReview();
    t.equal(v1.apiVersion, 'admission.k8s.io/v1');
    const byIp = await postReview(hook.url, v1, tls);
    await t.test('v1 review, server verified by IP address', async (t) => checkExampleAnswer(t, v1, byIp.status, byIp.text));

    const byName = await postReview(hook.url, v1, { ...tls, servername: 'localhost' });
    await t.test('v1 review, server verified as "localhost" (SNI)', async (t) => checkExampleAnswer(t, v1, byName.status, byName.text));

    const v1beta1: Review = { ...exampleReview(), apiVersion: 'admission.k8s.io/v1beta1' };
    v1beta1.request.uid = 'b7e0c1d2-0000-4000-8000-0000000000b1';
    const beta = await postReview(hook.url, v1beta1, tls);
    await t.test('v1beta1 review gets a v1beta1 answer', async (t) => checkExampleAnswer(t, v1beta1, beta.status, beta.text));

    // The API server may call the webhook again on the mutated pod (reinvocationPolicy: IfNeeded).
    const again: Review = exampleReview();
    again.request.uid = 'a9a1n000-0000-4000-8000-000000000002';
    again.request.object = patchedPod(v1.request.object as Pod, parseAnswer(byIp));
    const second = parseAnswer(await postReview(hook.url, again, tls));
    t.same(second.response, { uid: again.request.uid, allowed: true }, 'an already injected pod is admitted without a patch');

    // A client that does not trust the test CA must not get through.
    const untrusted = await postReview(hook.url, v1).then(
      () => 'connected',
      (error: NodeJS.ErrnoException) => error.code ?? error.message,
    );
    t.match(untrusted, /SELF_SIGNED|UNABLE_TO_VERIFY|CERT_/, `a client without the CA fails verification (${untrusted})`);
    const wrongName = await postReview(hook.url, v1, { ...tls, servername: 'not-the-webhook.example.com' }).then(
      () => 'connected',
      (error: NodeJS.ErrnoException) => error.code ?? error.message,
    );
    t.equal(wrongName, 'ERR_TLS_CERT_ALTNAME_INVALID', 'the certificate does not verify for a name it was not issued for');

    const metrics = await send(`${hook.url}/metrics`, tls);
    t.equal(metrics.status, 200, 'GET /metrics is 200');
    t.match(metrics.headers['content-type'], /^text\/plain/);
    t.match(metrics.text, /# TYPE secrets_init_webhook_admissions_total counter/);
    t.equal(
      metricValue(metrics.text, 'secrets_init_webhook_admissions_total', { result: 'injected', dry_run: 'false' }),
      3,
      'secrets_init_webhook_admissions_total counts the three injections (two v1, one v1beta1)',
    );
    t.equal(metricValue(metrics.text, 'secrets_init_webhook_admissions_total', { result: 'unchanged', dry_run: 'false' }), 1, 'and the unchanged re-invocation');

    // TLS 1.1: first prove this client can speak it (to a server that allows it), so the refusal is the webhook's.
    const tls11: ConnectionOptions = {
      host: '127.0.0.1',
      ca: certs.caPem,
      servername: 'localhost',
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    };
    const permissive = createTlsServer({ cert: certs.certPem, key: certs.keyPem, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
    await new Promise<void>((resolve) => permissive.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => permissive.close(() => resolve())));
    const control = await handshake({ ...tls11, port: (permissive.address() as AddressInfo).port });
    t.same(control, { protocol: 'TLSv1.1' }, 'control: the TLS 1.1 client works against a server allowing TLS 1.1');
    const refused = await handshake({ ...tls11, port: hook.port });
    t.same(refused, { error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, 'the webhook refuses TLS 1.1 (minVersion TLSv1.2)');
    const tls12 = await handshake({ ...tls11, port: hook.port, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    t.same(tls12, { protocol: 'TLSv1.2' }, 'TLS 1.2 is accepted');

    t.ok(hook.running(), 'still running after all of that');
    const stopped = await hook.stop('SIGTERM');
    t.same(stopped, { code: 0, signal: null }, 'exits 0 on SIGTERM');
  });
}

t.test('the example review file is what the tests above assume', async (t) => {
  const raw = JSON.parse(readFileSync(new URL('../../examples/admission-review.json', import.meta.url), 'utf8')) as Review;
  t.equal(raw.request.object?.spec.containers.length, 3);
  t.equal(raw.request.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
});
