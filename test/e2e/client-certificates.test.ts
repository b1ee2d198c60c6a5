/**
 * --client-ca-file through the built server: POST /pods needs a client certificate signed
 * by one of its CAs (as the API server presents with a kubeConfigFile in its
 * AdmissionConfiguration); probes do not; the CA file is reloaded without a restart.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { makeClientCertificate, makeLoopbackCertificates, makeTestCertificates } from '../helpers/certs.js';
import { runCli, startWebhook } from '../helpers/webhook-process.js';
import { exampleReview, parseAnswer, postReview, send } from './fixtures/support.js';

const serving = await makeTestCertificates('ec-pkcs8');
t.teardown(serving.cleanup);
const [caA, caB] = await Promise.all([makeLoopbackCertificates(), makeLoopbackCertificates()]);
const [apiServerA, apiServerB] = await Promise.all([makeClientCertificate(caA, 'kube-apiserver'), makeClientCertificate(caB, 'kube-apiserver')]);
const dir = await mkdtemp(join(tmpdir(), 'client-ca-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const caFile = join(dir, 'client-ca.pem');
await writeFile(caFile, caA.caCert);

const hook = await startWebhook(
  ['server', `--tls-cert-file=${serving.certFile}`, `--tls-private-key-file=${serving.keyFile}`, `--client-ca-file=${caFile}`],
  {},
  { t },
);

const tls = { ca: serving.caPem };

t.test('POST /pods needs a client certificate from a listed CA; probes do not', async (t) => {
  const review = exampleReview();
  const none = await postReview(hook.url, review, tls);
  t.equal(none.status, 401);
  t.match(JSON.parse(none.text).message, /a client certificate signed by a CA of --client-ca-file is required/);
  const other = await postReview(hook.url, review, { ...tls, ...apiServerB });
  t.equal(other.status, 401, 'a certificate of another CA');
  const good = await postReview(hook.url, review, { ...tls, ...apiServerA });
  t.equal(good.status, 200);
  t.equal(parseAnswer(good).response.uid, review.request.uid);
  for (const path of ['/healthz', '/readyz']) t.equal((await send(`${hook.url}${path}`, tls)).status, 200, `${path} without a certificate`);
});

/** One request on a new connection offering TLS session `session` (TLS 1.3); resolves the status, whether the session was resumed, and the session ticket it got. */
function requestWithSession(url: string, options: { method?: string; body?: string; session?: Buffer; cert?: string; key?: string }): Promise<{ status: number; resumed: boolean; session?: Buffer }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    const headers = options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) };
    const req = request(url, { method: options.method ?? 'GET', headers, agent: false, ca: serving.caPem, minVersion: 'TLSv1.3', timeout: 10_000, ...(options.session !== undefined ? { session: options.session } : {}), ...(options.cert !== undefined ? { cert: options.cert, key: options.key } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, resumed: (res.socket as import('node:tls').TLSSocket).isSessionReused(), ...(ticket !== undefined ? { session: ticket } : {}) }));
    });
    req.on('socket', (socket) => socket.on('session', (session: Buffer) => (ticket = session)));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

t.test('a TLS session resumed without a client certificate is not taken for an authorized one', async (t) => {
  // A probe needs no certificate: it ends with a session ticket of a handshake that had none.
  const probe = await requestWithSession(`${hook.url}/healthz`, {});
  t.equal(probe.status, 200);
  t.ok(probe.session, 'the server issued a session ticket');
  const resumed = await requestWithSession(`${hook.url}/pods`, { method: 'POST', body: JSON.stringify(exampleReview()), ...(probe.session !== undefined ? { session: probe.session } : {}) });
  t.ok(resumed.resumed, 'the session was resumed');
  t.equal(resumed.status, 401, 'still no client certificate: refused');

  // A session that began with the API server's certificate still counts when resumed.
  const first = await requestWithSession(`${hook.url}/pods`, { method: 'POST', body: JSON.stringify(exampleReview()), ...apiServerA });
  t.equal(first.status, 200);
  const again = await requestWithSession(`${hook.url}/pods`, { method: 'POST', body: JSON.stringify(exampleReview()), ...(first.session !== undefined ? { session: first.session } : {}) });
  t.ok(again.resumed, 'resumed without sending the certificate again');
  t.equal(again.status, 200, 'the certificate verified in the first handshake still counts');
});

t.test('the CA file is reloaded: a new CA is trusted on new connections, the old one no longer', async (t) => {
  const next = join(dir, 'client-ca.pem.new');
  await writeFile(next, caB.caCert);
  await rename(next, caFile);
  let status = 0;
  // The files are watched, and polled every 10 s as a fallback: bounded wait.
  for (let i = 0; i < 60 && status !== 200; i++) {
    status = (await postReview(hook.url, exampleReview(), { ...tls, ...apiServerB })).status;
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  t.equal(status, 200, 'the new CA is trusted');
  t.equal((await postReview(hook.url, exampleReview(), { ...tls, ...apiServerA })).status, 401, 'the old one is not');
});

t.test('--client-ca-file needs HTTPS, and a readable CA bundle', async (t) => {
  const plain = await runCli(['server', `--client-ca-file=${caFile}`, '--listen-address=127.0.0.1:0']);
  t.equal(plain.code, 2);
  t.match(plain.stderr, /--client-ca-file needs --tls-cert-file and --tls-private-key-file/);
  const junk = join(dir, 'junk.pem');
  await writeFile(junk, 'not a certificate');
  const bad = await runCli(['server', `--tls-cert-file=${serving.certFile}`, `--tls-private-key-file=${serving.keyFile}`, `--client-ca-file=${junk}`, '--listen-address=127.0.0.1:0']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /client CA file .*junk\.pem contains no complete PEM certificate/);
});
