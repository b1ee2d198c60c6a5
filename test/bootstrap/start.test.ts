// bootstrapCertificates at start, through the real @kubernetes/client-node against the stub API server:
// a fresh cluster, a second replica, two replicas racing, and a real TLS handshake with the result.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { bootstrapCertificates } from '../../src/bootstrap/index.js';
import {
  MWC,
  MWC_PATH,
  NS,
  SECRETS_PATH,
  SECRET_PATH,
  SERVICE,
  SERVICE_SANS,
  bundleCerts,
  calls,
  cluster,
  recordingLogger,
  replica,
  replicaOptions,
  storedSecret,
  storedWebhooks,
  webhook,
} from './fixtures/helpers.js';

t.test('fresh start: creates the Secret, patches the caBundle of our webhooks, serves a cert that chains to it', async (t) => {
  const c = await cluster(t);
  const log = recordingLogger();
  const source = await replica(t, c, { logger: log.logger });

  t.same(calls(c.stub), [`GET ${SECRET_PATH}`, `POST ${SECRETS_PATH}`, `GET ${MWC_PATH}`, `PATCH ${MWC_PATH}`]);

  const secret = storedSecret(c.stub);
  t.equal(secret?.type, 'kubernetes.io/tls');
  t.same(secret?.labels, { 'app.kubernetes.io/managed-by': 'secrets-init-webhook' });
  t.same(Object.keys(secret?.data ?? {}).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);

  const material = source.current();
  t.equal(secret?.data['tls.crt'], material.cert, 'serves what the Secret holds');
  t.equal(secret?.data['tls.key'], material.key);
  t.same(material.subjectAltNames, SERVICE_SANS, 'SANs: exactly the Service names');

  const [ours, other] = storedWebhooks(c.stub);
  t.equal(ours?.clientConfig.caBundle, source.caBundle(), 'our webhook has the caBundle');
  t.equal(other?.clientConfig.caBundle, undefined, "a webhook of another Service is left alone");

  const cas = bundleCerts(ours?.clientConfig.caBundle);
  t.equal(cas.length, 1);
  const ca = cas[0];
  if (ca === undefined) return;
  t.ok(ca.ca, 'the caBundle holds a CA certificate');
  t.equal(Buffer.from(source.caBundle(), 'base64').toString('utf8'), secret?.data['ca.crt']);
  t.ok(ca.checkPrivateKey(createPrivateKey(secret?.data['ca.key'] ?? '')), 'ca.key is the CA key');

  const leaf = new X509Certificate(material.cert);
  t.ok(leaf.verify(ca.publicKey), 'the serving certificate is signed by the caBundle CA');
  t.ok(leaf.checkIssued(ca));
  t.notOk(leaf.ca);
  t.ok(leaf.checkPrivateKey(createPrivateKey(material.key)), 'the key matches');
  t.equal(leaf.subjectAltName, SERVICE_SANS.join(', '), 'SANs in the certificate, exactly');
  t.equal(leaf.checkHost(`${SERVICE}.${NS}.svc`), `${SERVICE}.${NS}.svc`);
  const days = (material.notAfter.getTime() - Date.now()) / 86_400_000;
  t.ok(days > 364 && days <= 365, `valid for 365 days by default (${days.toFixed(2)})`);
  const caDays = (new Date(ca.validTo).getTime() - Date.now()) / 86_400_000;
  t.ok(caDays > 3649 && caDays <= 3650, 'the CA for 10 years');

  t.match(log.text(), /created Secret secrets-init\/secrets-init-webhook-tls/);
  t.match(log.text(), /updated the caBundle of webhook\(s\) pods\.secrets-init\.doit-intl\.com/);
  t.notMatch(log.text(), /PRIVATE KEY/);
});

t.test('every webhook of the configuration that points at our Service gets the CA', async (t) => {
  const c = await cluster(t, { webhooks: null });
  // One points at a URL instead of a Service; one has a caBundle that is not ours.
  c.stub.addMutatingWebhookConfiguration(MWC, [
    webhook('a.example.com'),
    { ...webhook('url.example.com'), clientConfig: { url: 'https://example.com/pods' } },
    webhook('b.example.com', SERVICE, NS, Buffer.from('not a certificate').toString('base64')),
  ]);
  const source = await replica(t, c);
  const [a, url, b] = storedWebhooks(c.stub);
  t.equal(a?.clientConfig.caBundle, source.caBundle());
  t.equal(url?.clientConfig.caBundle, undefined);
  t.equal(b?.clientConfig.caBundle, source.caBundle(), 'a caBundle without our CA is replaced');
  t.equal(calls(c.stub).filter((call) => call.startsWith('PATCH')).length, 1, 'one patch for both');
});

t.test('a second replica starting later reuses the Secret: same certificate, no writes', async (t) => {
  const c = await cluster(t);
  const first = await replica(t, c);
  const before = c.stub.requests.length;
  const version = storedSecret(c.stub)?.resourceVersion;
  const second = await replica(t, c);
  t.same(calls(c.stub, before), [`GET ${SECRET_PATH}`, `GET ${MWC_PATH}`], 'reads only');
  t.equal(second.current().cert, first.current().cert);
  t.equal(second.current().key, first.current().key);
  t.equal(second.caBundle(), first.caBundle());
  t.equal(storedSecret(c.stub)?.resourceVersion, version, 'the Secret is untouched');
});

t.test('two replicas starting at once end with one Secret and serve the same certificate', async (t) => {
  const c = await cluster(t);
  const logs = [recordingLogger(), recordingLogger()];
  const [a, b] = await Promise.all(
    logs.map((log) => bootstrapCertificates(replicaOptions(c.kubeConfig, { logger: log.logger }))),
  );
  if (a === undefined || b === undefined) return;
  t.teardown(() => a.close());
  t.teardown(() => b.close());

  const posts = calls(c.stub).filter((call) => call === `POST ${SECRETS_PATH}`);
  t.equal(posts.length, 2, 'both tried to create it (both read 404)');
  t.equal(
    logs.filter((log) => /created by another replica meanwhile/.test(log.text())).length,
    1,
    'exactly one lost the race with 409 AlreadyExists and read the winner',
  );
  const secret = storedSecret(c.stub);
  t.equal(a.current().cert, secret?.data['tls.crt'], 'replica A serves the stored certificate');
  t.equal(b.current().cert, secret?.data['tls.crt'], 'replica B too');
  t.equal(a.caBundle(), b.caBundle());
  const ca = bundleCerts(storedWebhooks(c.stub)[0]?.clientConfig.caBundle);
  t.equal(ca.length, 1);
  t.ok(ca[0] !== undefined && new X509Certificate(a.current().cert).verify(ca[0].publicKey), 'the caBundle has that CA');
});

t.test('three replicas racing on a fresh cluster, with a slow API server, converge too', async (t) => {
  const c = await cluster(t);
  c.stub.delayMs = 20;
  const sources = await Promise.all([0, 1, 2].map(() => bootstrapCertificates(replicaOptions(c.kubeConfig))));
  for (const s of sources) t.teardown(() => s.close());
  const certs = new Set(sources.map((s) => s.current().cert));
  t.equal(certs.size, 1, 'one certificate');
  t.equal([...certs][0], storedSecret(c.stub)?.data['tls.crt']);
  t.equal(storedWebhooks(c.stub)[0]?.clientConfig.caBundle, sources[0]?.caBundle(), 'the caBundle has its CA');
});

t.test('a real HTTPS handshake with the bootstrapped certificate, verified with the caBundle CA', async (t) => {
  const c = await cluster(t);
  const source = await replica(t, c);
  const material = source.current();
  const server = createServer({ cert: material.cert, key: material.key }, (_req, res) => {
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const ca = Buffer.from(storedWebhooks(c.stub)[0]?.clientConfig.caBundle ?? '', 'base64').toString('utf8');

  const get = (servername: string, trusted: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', servername, ca: trusted, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      });
      req.on('error', reject);
      req.end();
    });

  // As the API server calls a webhook Service: https://<service>.<namespace>.svc:443/...
  t.equal(await get(`${SERVICE}.${NS}.svc`, ca), 'ok', 'service.ns.svc verifies against the caBundle');
  t.equal(await get(`${SERVICE}.${NS}.svc.cluster.local`, ca), 'ok');
  await t.rejects(get('other.example.com', ca), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'a name not in the SANs fails');
  const stranger = await replicaElsewhere(t);
  await t.rejects(get(`${SERVICE}.${NS}.svc`, stranger), /self[- ]signed|unable to verify|unable to get/i, 'another CA does not verify it');
});

/** The CA of an unrelated bootstrap (another cluster). */
async function replicaElsewhere(t: Test): Promise<string> {
  const other = await cluster(t);
  const source = await replica(t, other);
  return Buffer.from(source.caBundle(), 'base64').toString('utf8');
}

t.test('the API server shedding load (429 or 503 with Retry-After) as a replica starts: its reads are sent again, and it starts', async (t) => {
  for (const status of [429, 503]) {
    const c = await cluster(t);
    // The Secret's read, then (after the create) the configuration's read.
    c.stub.failWith(status, 1, 1);
    c.stub.beforeNextWrite({ resource: 'Secret', run: () => c.stub.failWith(status, 1, 1) });
    const started = Date.now();
    const source = await replica(t, c);
    t.ok(Date.now() - started >= 1_800, `waited as asked before each read was sent again (HTTP ${status})`);
    t.same(calls(c.stub), [`GET ${SECRET_PATH}`, `GET ${SECRET_PATH}`, `POST ${SECRETS_PATH}`, `GET ${MWC_PATH}`, `GET ${MWC_PATH}`, `PATCH ${MWC_PATH}`]);
    t.equal(storedWebhooks(c.stub)[0]?.clientConfig.caBundle, source.caBundle(), `started and published its CA (HTTP ${status})`);
  }
});
